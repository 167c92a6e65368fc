/**
 * Sokoban rooms and the push/move rules of gym-sokoban (Schrader 2018), as used by the paper's
 * (Visual)Sokoban. A room is a fixed structure (walls, floors, targets) plus the movable player and
 * boxes; cells are indexed row-major, index = row * width + col.
 */

/** Fixed cell kinds of the structure. */
export const WALL = 0;
export const FLOOR = 1;
export const TARGET = 2;

export interface Room {
  width: number;
  height: number;
  /** WALL / FLOOR / TARGET per cell, row-major. */
  structure: Uint8Array;
  /** Player cell index. */
  player: number;
  /** Box cell indices, sorted ascending. */
  boxes: number[];
}

export const ACTIONS = ['up', 'down', 'left', 'right'] as const;
export type Action = (typeof ACTIONS)[number];

/** gym-sokoban CHANGE_COORDINATES order: up, down, left, right as (dRow, dCol). */
export const DELTAS: Record<Action, readonly [number, number]> = {
  up: [-1, 0],
  down: [1, 0],
  left: [0, -1],
  right: [0, 1],
};

/** Text symbols of DESIGN.md section 4. */
export const SYMBOLS = {
  wall: '#',
  floor: '_',
  target: 'O',
  box: 'X',
  boxOnTarget: '√',
  player: 'P',
  playerOnTarget: 'S',
} as const;

/** Neighbour of `cell` in direction `action`, or -1 off the grid. */
export function neighbour(room: Pick<Room, 'width' | 'height'>, cell: number, action: Action): number {
  const [dr, dc] = DELTAS[action];
  const r = Math.floor(cell / room.width) + dr;
  const c = (cell % room.width) + dc;
  if (r < 0 || c < 0 || r >= room.height || c >= room.width) return -1;
  return r * room.width + c;
}

export function boxesOnTarget(room: Room): number {
  let n = 0;
  for (const b of room.boxes) if (room.structure[b] === TARGET) n++;
  return n;
}

export function isSolved(room: Room): boolean {
  return room.boxes.length > 0 && boxesOnTarget(room) === room.boxes.length;
}

export interface MoveOutcome {
  room: Room;
  /** The player moved (possibly pushing a box). */
  moved: boolean;
  pushed: boolean;
}

/**
 * One push-or-move (gym-sokoban `_push` then `_move`): a box ahead is pushed when the cell beyond
 * it is free floor/target; otherwise the player walks onto free floor; into a wall nothing happens.
 */
export function applyAction(room: Room, action: Action): MoveOutcome {
  const next = neighbour(room, room.player, action);
  if (next < 0 || room.structure[next] === WALL) return { room, moved: false, pushed: false };
  const boxIndex = room.boxes.indexOf(next);
  if (boxIndex < 0) return { room: { ...room, player: next }, moved: true, pushed: false };
  const beyond = neighbour(room, next, action);
  if (beyond < 0 || room.structure[beyond] === WALL || room.boxes.includes(beyond)) {
    return { room, moved: false, pushed: false };
  }
  const boxes = room.boxes.slice();
  boxes[boxIndex] = beyond;
  boxes.sort((a, b) => a - b);
  return { room: { ...room, player: next, boxes }, moved: true, pushed: true };
}

/** One row per line with the symbols of DESIGN.md. */
export function renderText(room: Room): string {
  const lines: string[] = [];
  for (let r = 0; r < room.height; r++) {
    let line = '';
    for (let c = 0; c < room.width; c++) line += cellSymbol(room, r * room.width + c);
    lines.push(line);
  }
  return lines.join('\n');
}

function cellSymbol(room: Room, cell: number): string {
  const kind = room.structure[cell];
  if (kind === WALL) return SYMBOLS.wall;
  const onTarget = kind === TARGET;
  if (cell === room.player) return onTarget ? SYMBOLS.playerOnTarget : SYMBOLS.player;
  if (room.boxes.includes(cell)) return onTarget ? SYMBOLS.boxOnTarget : SYMBOLS.box;
  return onTarget ? SYMBOLS.target : SYMBOLS.floor;
}

/** Parses the text rendering back into a room (hand-built rooms in tests and docs). */
export function parseRoom(text: string): Room {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const height = lines.length;
  const width = height > 0 ? [...lines[0]].length : 0;
  const structure = new Uint8Array(width * height);
  const boxes: number[] = [];
  let player = -1;
  lines.forEach((line, r) => {
    const chars = [...line];
    if (chars.length !== width)
      throw new Error(`parseRoom: row ${r} has ${chars.length} cells, expected ${width}`);
    chars.forEach((ch, c) => {
      const i = r * width + c;
      switch (ch) {
        case SYMBOLS.wall:
          structure[i] = WALL;
          break;
        case SYMBOLS.floor:
          structure[i] = FLOOR;
          break;
        case SYMBOLS.target:
          structure[i] = TARGET;
          break;
        case SYMBOLS.box:
          structure[i] = FLOOR;
          boxes.push(i);
          break;
        case SYMBOLS.boxOnTarget:
          structure[i] = TARGET;
          boxes.push(i);
          break;
        case SYMBOLS.player:
          structure[i] = FLOOR;
          player = i;
          break;
        case SYMBOLS.playerOnTarget:
          structure[i] = TARGET;
          player = i;
          break;
        default:
          throw new Error(`parseRoom: unknown symbol "${ch}" at row ${r}, col ${c}`);
      }
    });
  });
  if (player < 0) throw new Error('parseRoom: no player (P or S) in the room');
  return { width, height, structure, player, boxes: boxes.sort((a, b) => a - b) };
}
