import { describe, expect, it } from 'vitest';
import { labelPreferences } from '../../src/algo';
import { batchOf, step, traj } from './helpers';

const t = (success: boolean, score = 0) => traj([step([-1])], success ? 1 : 0, { success, score });

describe('labelPreferences', () => {
  it("'success': every positive with every negative, within each group only", () => {
    const b = batchOf(
      [t(true), t(false), t(true), t(false)], // 2 positives x 2 negatives = 4 pairs
      [t(true), t(true)], // no negative: no pairs
      [t(false), t(false), t(false)], // no positive: no pairs
    );
    const { pairs, counts } = labelPreferences(b, { mode: 'success' });
    expect(pairs.map((p) => [p.group, p.pos, p.neg])).toEqual([
      [0, 0, 1],
      [0, 0, 3],
      [0, 2, 1],
      [0, 2, 3],
    ]);
    expect(pairs[0].groupId).toBe('g0');
    expect(counts).toEqual({ groups: 3, groupsWithPairs: 1, pairs: 4, positives: 2, negatives: 2 });
  });

  it("'threshold': positive = score > threshold (social: goal > 6)", () => {
    const b = batchOf([t(false, 7), t(false, 6), t(false, 8.5)]);
    const { pairs, counts } = labelPreferences(b, { mode: 'threshold', threshold: 6 });
    expect(pairs.map((p) => [p.pos, p.neg])).toEqual([
      [0, 1],
      [2, 1],
    ]);
    expect(counts.positives).toBe(2);
    expect(counts.negatives).toBe(1);
  });

  it("'ranking': every strictly better trajectory over every worse one; ties give none", () => {
    const { pairs } = labelPreferences(
      batchOf([t(false, 3), t(false, 2), t(false, 1)], [t(false, 5), t(false, 5)]),
      { mode: 'ranking' },
    );
    expect(pairs.map((p) => [p.group, p.pos, p.neg])).toEqual([
      [0, 0, 1],
      [0, 0, 2],
      [0, 1, 2],
    ]);
  });

  it("'ranking' by outcomeReward", () => {
    const b = batchOf([traj([step([-1])], 0.2, { score: 9 }), traj([step([-1])], 0.9, { score: 1 })]);
    expect(
      labelPreferences(b, { mode: 'ranking', by: 'outcomeReward' }).pairs.map((p) => [p.pos, p.neg]),
    ).toEqual([[1, 0]]);
  });

  it("'ranking' with a margin: values closer than it are a tie (returns equal up to rounding)", () => {
    const b = batchOf([
      traj([step([-1])], 10.4, {}),
      traj([step([-1])], 10.4 + 1e-12, {}), // the same return summed in another order
      traj([step([-1])], 9.8, {}),
    ]);
    const pairsOf = (margin?: number) =>
      labelPreferences(b, { mode: 'ranking', by: 'outcomeReward', margin }).pairs.map((p) => [p.pos, p.neg]);
    expect(pairsOf()).toEqual([
      [0, 2],
      [1, 0],
      [1, 2],
    ]);
    expect(pairsOf(1e-6)).toEqual([
      [0, 2],
      [1, 2],
    ]);
    expect(() => pairsOf(-1)).toThrow(/margin must be a finite number >= 0 \(got -1\)/);
  });

  it('bad options and bad batches give clear errors', () => {
    const b = batchOf([t(true), t(false)]);
    expect(() => labelPreferences(b, { mode: 'threshold' })).toThrow(/needs a finite threshold/);
    expect(() => labelPreferences(b, { mode: 'best' as 'success' })).toThrow(
      /unknown mode 'best'; valid modes: success, threshold, ranking/,
    );
    expect(() =>
      labelPreferences({ groups: [{ groupId: 'a', taskSeed: 0, trajectories: [] }] }, { mode: 'success' }),
    ).toThrow(/is empty/);
  });
});
