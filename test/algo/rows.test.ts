import { describe, expect, it } from 'vitest';
import {
  invalidStepRows,
  labelPreferences,
  packActionMask,
  packOldLogProbs,
  packStepValues,
  packTokenValues,
  pairTrajectoryIndices,
  stepRowLayout,
  unpackTokenValues,
} from '../../src/algo';
import { batchOf, step, traj } from './helpers';

describe('step rows (batch <-> [B,T] tensors, the model batch layout)', () => {
  // T0: s0 context [1,2,3] action 2 tokens; s1 context [1] action 1 token (invalid). T1: s0 context [1,2] action 3 tokens.
  const batch = batchOf([
    traj([step([-0.1, -0.2]), step([-0.3], { context: [1], valid: false })], 1),
    traj([step([-0.4, -0.5, -0.6], { context: [1, 2] })], 0),
  ]);

  it('lays out rows as context then action, right-padded', () => {
    const layout = stepRowLayout(batch);
    expect(layout.T).toBe(5);
    expect(layout.actionStart).toEqual([3, 1, 2]);
    expect(layout.stepToTrajectory).toEqual([0, 0, 1]);
    expect(layout.numTrajectories).toBe(2);
    expect(packActionMask(batch)).toEqual([
      [0, 0, 0, 1, 1],
      [0, 1, 0, 0, 0],
      [0, 0, 1, 1, 1],
    ]);
    expect(packOldLogProbs(batch)).toEqual([
      [0, 0, 0, -0.1, -0.2],
      [0, -0.3, 0, 0, 0],
      [0, 0, -0.4, -0.5, -0.6],
    ]);
    expect(packStepValues(batch, [[[7, 8], [9]]])).toEqual([
      [0, 0, 0, 7, 7],
      [0, 8, 0, 0, 0],
      [0, 0, 9, 9, 9],
    ]);
    expect(invalidStepRows(batch)).toEqual([false, true, false]);
  });

  it('unpack inverts pack (nested or flat row-major)', () => {
    const values = [[[[1, 2], [3]], [[4, 5, 6]]]];
    const rows = packTokenValues(batch, values);
    expect(unpackTokenValues(batch, rows)).toEqual(values);
    expect(unpackTokenValues(batch, Float32Array.from(rows.flat()))).toEqual(values);
    expect(() => unpackTokenValues(batch, [1, 2, 3])).toThrow(
      'unpackTokenValues: 3 values, expected 3 x 5 = 15',
    );
    expect(() => packTokenValues(batch, [[[[1], [3]], [[4, 5, 6]]]])).toThrow(/step 0 needs 2 values, got 1/);
  });

  it('pairs become flattened trajectory indices', () => {
    const two = batchOf(
      [traj([step([-1])], 0), traj([step([-1])], 1)],
      [traj([step([-1])], 1), traj([step([-1])], 0)],
    );
    const { pairs } = labelPreferences(two, { mode: 'success' });
    expect(pairTrajectoryIndices(two, pairs)).toEqual({ pos: [1, 2], neg: [0, 3] });
  });
});
