import type { RolloutBatch, Step, Trajectory } from '../../src/algo';

/** A step with `oldLogProbs` given (one per action token); the rest filled with plausible values. */
export function step(oldLogProbs: number[], extra: Partial<Step> = {}): Step {
  return {
    context: [1, 2, 3],
    action: oldLogProbs.map((_, k) => 10 + k),
    oldLogProbs,
    envReward: 0,
    valid: true,
    anchor: 's0',
    ...extra,
  };
}

export function traj(steps: Step[], outcomeReward: number, extra: Partial<Trajectory> = {}): Trajectory {
  return {
    steps,
    outcomeReward,
    success: outcomeReward > 0,
    score: outcomeReward,
    length: steps.length,
    ...extra,
  };
}

export function batchOf(...groups: Trajectory[][]): RolloutBatch {
  return { groups: groups.map((trajectories, g) => ({ groupId: `g${g}`, taskSeed: 100 + g, trajectories })) };
}

/** A group of trajectories with only outcome rewards (one step of one token each). */
export function outcomeGroup(...rewards: number[]): Trajectory[] {
  return rewards.map((r) => traj([step([-1])], r));
}

/** Deterministic PRNG (mulberry32) for property tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
