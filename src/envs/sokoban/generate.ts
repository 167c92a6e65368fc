/**
 * Level generation as in gym-sokoban's room_utils.py (random-walk topology, reverse playing of
 * pulls from the solved state) plus the random player drift of RAGEN/verl-agent, which generate the
 * paper's Sokoban levels. Porting note: numpy's global RNG is replaced by our seeded Rng, so levels
 * differ from the Python ones for the same seed but follow the same distribution.
 */
import { createRng, type Rng } from '../prng';
import { ACTIONS, DELTAS, FLOOR, TARGET, WALL, neighbour, type Action, type Room } from './room';

export interface GenerateOptions {
  /** Room side (square); paper 6. */
  dim: number;
  /** Boxes; paper 1. */
  numBoxes: number;
  /** Random-walk steps of the topology; gym-sokoban default int(1.7 * (w + h)). */
  numSteps: number;
  /** Probability of changing direction at each walk step (gym-sokoban 0.35). */
  pChangeDirections: number;
  /** Depth (ttl) of the reverse-play DFS; paper/verl-agent search_depth 30. */
  searchDepth: number;
  /** Cap on explored reverse-play states (gym-sokoban 300000). */
  maxExplored: number;
}

export const DEFAULT_GENERATE: GenerateOptions = {
  dim: 6,
  numBoxes: 1,
  numSteps: Math.floor(1.7 * 12),
  pChangeDirections: 0.35,
  searchDepth: 30,
  maxExplored: 300_000,
};

const MASKS: number[][][] = [
  [
    [0, 0, 0],
    [1, 1, 1],
    [0, 0, 0],
  ],
  [
    [0, 1, 0],
    [0, 1, 0],
    [0, 1, 0],
  ],
  [
    [0, 0, 0],
    [1, 1, 0],
    [0, 1, 0],
  ],
  [
    [0, 0, 0],
    [1, 1, 0],
    [1, 1, 0],
  ],
  [
    [0, 0, 0],
    [0, 1, 1],
    [0, 1, 0],
  ],
];

/** gym-sokoban room_topology_generation: floors carved by a random walk stamping 3x3 masks. */
export function roomTopology(rng: Rng, dim: number, numSteps: number, pChange: number): Uint8Array {
  const level = new Uint8Array(dim * dim);
  const directions: Array<[number, number]> = [
    [1, 0],
    [0, 1],
    [-1, 0],
    [0, -1],
  ];
  let direction = rng.pick(directions);
  // random.randint(1, dim - 1) is inclusive on both ends.
  let r = 1 + rng.int(dim - 1);
  let c = 1 + rng.int(dim - 1);
  for (let s = 0; s < numSteps; s++) {
    if (rng.next() < pChange) direction = rng.pick(directions);
    r = Math.max(Math.min(r + direction[0], dim - 2), 1);
    c = Math.max(Math.min(c + direction[1], dim - 2), 1);
    const mask = rng.pick(MASKS);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) if (mask[i][j]) level[(r - 1 + i) * dim + (c - 1 + j)] = FLOOR;
    }
  }
  for (let i = 0; i < dim; i++) {
    level[i] = WALL;
    level[(dim - 1) * dim + i] = WALL;
    level[i * dim] = WALL;
    level[i * dim + dim - 1] = WALL;
  }
  return level;
}

interface ReverseState {
  player: number;
  /** Current box cells, aligned with `origins` (the target each box started on). */
  boxes: number[];
}

/**
 * gym-sokoban reverse_playing / depth_first_search: from the solved state, explore pulls and moves
 * depth-first (ttl = searchDepth, each state expanded once) and keep the state maximising
 * box_swaps x total box displacement. As in the original, box_swaps counts every pull on the path
 * (the recursion passes the unchanged last_pull), and a state with a box still on a target scores 0.
 */
function reversePlay(room: Room, opts: GenerateOptions): { state: ReverseState; score: number } {
  const origins = room.boxes.slice();
  const explored = new Set<string>();
  let best: { state: ReverseState; score: number } = {
    state: { player: room.player, boxes: origins.slice() },
    score: -1,
  };
  const isTarget = (cell: number): boolean => room.structure[cell] === TARGET;

  const dfs = (state: ReverseState, pulls: number, ttlIn: number): void => {
    const ttl = ttlIn - 1;
    if (ttl <= 0 || explored.size >= opts.maxExplored) return;
    const key = `${state.player}|${[...state.boxes].sort((a, b) => a - b).join(',')}`;
    if (explored.has(key)) return;
    let displacement = 0;
    for (let k = 0; k < origins.length; k++)
      displacement += manhattan(room.width, origins[k], state.boxes[k]);
    let score = pulls * displacement;
    // Original: score 0 unless every target cell is empty (a box or the player on one hides it).
    if (state.boxes.some(isTarget) || isTarget(state.player)) score = 0;
    if (score > best.score) best = { state, score };
    explored.add(key);
    // gym-sokoban iterates pull actions (0-3) then move-only actions.
    for (const pull of [true, false]) {
      for (const action of ACTIONS) {
        const next = reverseMove(room, state, action, pull);
        if (!next) continue;
        dfs(next.state, pulls + (next.pulled ? 1 : 0), ttl);
      }
    }
  };
  dfs({ player: room.player, boxes: origins.slice() }, 0, opts.searchDepth);
  return best;
}

/** gym-sokoban reverse_move: step onto a free cell, dragging the box behind when pulling. */
function reverseMove(
  room: Room,
  state: ReverseState,
  action: Action,
  pull: boolean,
): { state: ReverseState; pulled: boolean } | null {
  const next = neighbour(room, state.player, action);
  if (next < 0 || room.structure[next] === WALL || state.boxes.includes(next)) return null;
  if (!pull) return { state: { player: next, boxes: state.boxes }, pulled: false };
  const [dr, dc] = DELTAS[action];
  const behindR = Math.floor(state.player / room.width) - dr;
  const behindC = (state.player % room.width) - dc;
  const behind = behindR * room.width + behindC;
  const k =
    behindR >= 0 && behindC >= 0 && behindR < room.height && behindC < room.width
      ? state.boxes.indexOf(behind)
      : -1;
  if (k < 0) return { state: { player: next, boxes: state.boxes }, pulled: false };
  const boxes = state.boxes.slice();
  boxes[k] = state.player;
  return { state: { player: next, boxes }, pulled: true };
}

function manhattan(width: number, a: number, b: number): number {
  return Math.abs(Math.floor(a / width) - Math.floor(b / width)) + Math.abs((a % width) - (b % width));
}

/** RAGEN add_random_player_movement: with p 0.5, walk up to 3 random free steps (continue p 0.5). */
function randomPlayerDrift(rng: Rng, room: Room): Room {
  if (rng.next() > 0.5) return room;
  let player = room.player;
  for (let steps = 0; steps < 3; steps++) {
    const free = ACTIONS.map((a) => neighbour(room, player, a)).filter(
      (cell) => cell >= 0 && room.structure[cell] !== WALL && !room.boxes.includes(cell),
    );
    if (free.length === 0) break;
    player = rng.pick(free);
    if (rng.next() > 0.5) break;
  }
  return { ...room, player };
}

/**
 * Generates the level of `seed`. gym-sokoban raises after 4 tries with score 0 and RAGEN then
 * re-seeds; here the same rng simply keeps trying, so every seed yields a level.
 */
export function generateRoom(seed: number, options: Partial<GenerateOptions> = {}): Room {
  const opts = { ...DEFAULT_GENERATE, ...options };
  const rng = createRng(seed);
  for (let attempt = 0; attempt < 1000; attempt++) {
    const structure = roomTopology(rng, opts.dim, opts.numSteps, opts.pChangeDirections);
    const floors: number[] = [];
    structure.forEach((kind, i) => {
      if (kind !== WALL) floors.push(i);
    });
    if (floors.length <= opts.numBoxes + 1) continue;
    const player = rng.pick(floors);
    const free = floors.filter((f) => f !== player);
    const boxes: number[] = [];
    for (let n = 0; n < opts.numBoxes; n++) {
      const i = rng.int(free.length);
      const [cell] = free.splice(i, 1);
      structure[cell] = TARGET;
      boxes.push(cell);
    }
    const solved: Room = { width: opts.dim, height: opts.dim, structure, player, boxes };
    const { state, score } = reversePlay(solved, opts);
    if (score <= 0) continue;
    const start: Room = { ...solved, player: state.player, boxes: [...state.boxes].sort((a, b) => a - b) };
    return randomPlayerDrift(rng, start);
  }
  throw new Error(`generateRoom: no level with a positive reverse-play score for seed ${seed}`);
}
