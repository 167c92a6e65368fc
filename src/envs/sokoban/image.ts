import type { EnvImage } from '../types';
import { TARGET, WALL, type Room } from './room';

/** Pixels per tile, as in gym-sokoban's 16x16 sprites. */
export const TILE = 16;

type Rgb = readonly [number, number, number];

/** One distinct colour per cell type (RGB in 0..1). */
export const PALETTE = {
  wall: [0.35, 0.2, 0.1],
  floor: [0.75, 0.75, 0.7],
  target: [0.95, 0.35, 0.35],
  box: [0.95, 0.75, 0.2],
  boxOnTarget: [0.3, 0.85, 0.3],
  player: [0.2, 0.4, 0.95],
  playerOnTarget: [0.6, 0.3, 0.9],
} as const satisfies Record<string, Rgb>;

/**
 * Renders the room as an RGB image of (height x 16) x (width x 16) x 3, row-major, values in 0..1.
 * Each tile is filled with its cell type's colour, with a 1-px darker outline so neighbouring tiles
 * of one type stay distinguishable.
 */
export function renderImage(room: Room): EnvImage {
  const height = room.height * TILE;
  const width = room.width * TILE;
  const data = new Float32Array(height * width * 3);
  for (let cell = 0; cell < room.structure.length; cell++) {
    const tile = tileRows(tileColour(room, cell));
    const r0 = Math.floor(cell / room.width) * TILE;
    const c0 = (cell % room.width) * TILE;
    for (let y = 0; y < TILE; y++) data.set(tile[y], ((r0 + y) * width + c0) * 3);
  }
  return { height, width, channels: 3, data };
}

const tileCache = new Map<Rgb, Float32Array[]>();

/** The 16 pixel rows (16 x 3 floats each) of a tile of one colour, with its darker outline. */
function tileRows(colour: Rgb): Float32Array[] {
  let rows = tileCache.get(colour);
  if (!rows) {
    rows = [];
    for (let y = 0; y < TILE; y++) {
      const row = new Float32Array(TILE * 3);
      for (let x = 0; x < TILE; x++) {
        const shade = y === 0 || x === 0 || y === TILE - 1 || x === TILE - 1 ? 0.8 : 1;
        for (let ch = 0; ch < 3; ch++) row[x * 3 + ch] = colour[ch] * shade;
      }
      rows.push(row);
    }
    tileCache.set(colour, rows);
  }
  return rows;
}

function tileColour(room: Room, cell: number): Rgb {
  const kind = room.structure[cell];
  if (kind === WALL) return PALETTE.wall;
  const onTarget = kind === TARGET;
  if (cell === room.player) return onTarget ? PALETTE.playerOnTarget : PALETTE.player;
  if (room.boxes.includes(cell)) return onTarget ? PALETTE.boxOnTarget : PALETTE.box;
  return onTarget ? PALETTE.target : PALETTE.floor;
}
