import { ACTIONS, applyAction, isSolved, type Action, type Room } from './room';

/** Numeric key of (player, sorted boxes); exact for the small rooms used here. */
function stateKey(room: Room): number {
  const n = room.width * room.height;
  let key = room.player;
  let scale = n;
  for (const b of room.boxes) {
    key += b * scale;
    scale *= n;
  }
  return key;
}

/**
 * Breadth-first search over push-or-move actions: a shortest action sequence that solves the room,
 * `[]` if it is already solved, or null when no solution exists within `maxDepth` actions.
 */
export function solve(room: Room, maxDepth = Infinity, maxStates = 2_000_000): Action[] | null {
  if (isSolved(room)) return [];
  const parent = new Map<number, { prev: number; action: Action }>();
  const start = stateKey(room);
  parent.set(start, { prev: -1, action: 'up' });
  let frontier: Room[] = [room];
  for (let depth = 1; depth <= maxDepth && frontier.length > 0; depth++) {
    const nextFrontier: Room[] = [];
    for (const state of frontier) {
      const from = stateKey(state);
      for (const action of ACTIONS) {
        const { room: next, moved } = applyAction(state, action);
        if (!moved) continue;
        const key = stateKey(next);
        if (parent.has(key)) continue;
        parent.set(key, { prev: from, action });
        if (isSolved(next)) return backtrack(parent, key);
        if (parent.size >= maxStates) return null;
        nextFrontier.push(next);
      }
    }
    frontier = nextFrontier;
  }
  return null;
}

function backtrack(parent: Map<number, { prev: number; action: Action }>, key: number): Action[] {
  const actions: Action[] = [];
  let k = key;
  for (let link = parent.get(k); link && link.prev >= 0; link = parent.get(k)) {
    actions.push(link.action);
    k = link.prev;
  }
  return actions.reverse();
}
