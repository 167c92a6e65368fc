import { check } from './errors';
import { validateBatch, type RolloutBatch, type Trajectory } from './batch';

/** One preference of eq. (2): trajectory `pos` preferred to trajectory `neg`, both of group `group`. */
export interface PreferencePair {
  /** Index of the group in the batch. */
  group: number;
  groupId: string;
  /** Index of the preferred trajectory tau+ in the group. */
  pos: number;
  /** Index of the dispreferred trajectory tau- in the group. */
  neg: number;
}

export interface PreferenceOptions {
  /**
   * 'success': positive = env success (binary envs: Sokoban, WebShop r == 1).
   * 'threshold': positive = value > threshold (scored envs; social: goal > 6).
   * 'ranking': every trajectory is preferred to every trajectory of its group with a strictly lower value.
   */
  mode: 'success' | 'threshold' | 'ranking';
  /** Required for 'threshold'. */
  threshold?: number;
  /** What 'threshold' and 'ranking' compare; default 'score'. */
  by?: 'score' | 'outcomeReward';
  /**
   * 'ranking': a trajectory is preferred only to those at least this much lower (default 0: strictly lower),
   * so that returns summed in a different order (equal up to rounding) are a tie, not a pair.
   */
  margin?: number;
}

export interface PreferenceCounts {
  groups: number;
  /** Groups that gave at least one pair (have both a positive and a negative). */
  groupsWithPairs: number;
  pairs: number;
  /** Trajectories that are tau+ of at least one pair. */
  positives: number;
  /** Trajectories that are tau- of at least one pair. */
  negatives: number;
}

/**
 * Preference labelling for the PRM (iStar section 3.1, input of eq. (2)): within each group, every
 * positive trajectory paired with every negative one. Groups without both give no pairs.
 * Input: a batch of G groups of N_g trajectories. Output: P pairs (group, posIdx, negIdx) + counts.
 */
export function labelPreferences(
  batch: RolloutBatch,
  options: PreferenceOptions,
): { pairs: PreferencePair[]; counts: PreferenceCounts } {
  validateBatch(batch);
  const { mode, threshold, by = 'score', margin = 0 } = options;
  check(
    ['success', 'threshold', 'ranking'].includes(mode),
    () => `labelPreferences: unknown mode '${String(mode)}'; valid modes: success, threshold, ranking`,
  );
  check(
    mode !== 'threshold' || (typeof threshold === 'number' && Number.isFinite(threshold)),
    () => `labelPreferences: mode 'threshold' needs a finite threshold (got ${String(threshold)})`,
  );
  check(
    margin >= 0 && Number.isFinite(margin),
    () => `labelPreferences: margin must be a finite number >= 0 (got ${String(margin)})`,
  );
  const value = (t: Trajectory) => (by === 'outcomeReward' ? t.outcomeReward : t.score);
  const pairs: PreferencePair[] = [];
  let groupsWithPairs = 0;
  let positives = 0;
  let negatives = 0;
  batch.groups.forEach((g, gi) => {
    const before = pairs.length;
    const posSet = new Set<number>();
    const negSet = new Set<number>();
    const n = g.trajectories.length;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        const a = g.trajectories[i];
        const b = g.trajectories[j];
        let prefer: boolean;
        if (mode === 'success') prefer = a.success && !b.success;
        else if (mode === 'threshold') prefer = value(a) > threshold! && !(value(b) > threshold!);
        else prefer = value(a) > value(b) + margin;
        if (prefer) {
          pairs.push({ group: gi, groupId: g.groupId, pos: i, neg: j });
          posSet.add(i);
          negSet.add(j);
        }
      }
    }
    if (pairs.length > before) groupsWithPairs++;
    positives += posSet.size;
    negatives += negSet.size;
  });
  return {
    pairs,
    counts: { groups: batch.groups.length, groupsWithPairs, pairs: pairs.length, positives, negatives },
  };
}
