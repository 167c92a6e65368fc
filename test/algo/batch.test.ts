import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import {
  BatchCorruptError,
  BatchValidationError,
  decodeBatch,
  encodeBatch,
  flattenSteps,
  trajectoryIndices,
  validateBatch,
  checkTokenValues,
  AlgoInputError,
  type RolloutBatch,
} from '../../src/algo';
import { batchOf, rng, step, traj } from './helpers';

describe('validateBatch', () => {
  it('accepts a well-formed batch', () => {
    const b = batchOf([traj([step([-0.1, -0.2])], 1), traj([step([-0.3])], 0)]);
    expect(validateBatch(b)).toBe(b);
  });

  it('names mismatched action / log-prob lengths', () => {
    const b = batchOf([traj([step([-0.1, -0.2], { action: [5] })], 1)]);
    expect(() => validateBatch(b)).toThrow(BatchValidationError);
    expect(() => validateBatch(b)).toThrow(
      /groups\[0\]\.trajectories\[0\]\.steps\[0\]\.oldLogProbs has 2 entries but action has 1 tokens/,
    );
  });

  it('names NaN rewards and NaN log-probs', () => {
    const b = batchOf([traj([step([-0.1], { envReward: NaN })], NaN), traj([step([NaN])], 0)]);
    const err = (() => {
      try {
        validateBatch(b);
      } catch (e) {
        return e as BatchValidationError;
      }
    })()!;
    expect(err).toBeInstanceOf(AlgoInputError);
    expect(err.problems).toEqual([
      'groups[0].trajectories[0].outcomeReward is NaN; expected a finite number',
      'groups[0].trajectories[0].score is NaN; expected a finite number',
      'groups[0].trajectories[0].steps[0].envReward is NaN; expected a finite number',
      'groups[0].trajectories[1].steps[0].oldLogProbs[0] is NaN; expected a finite log-probability <= 0',
    ]);
  });

  it('names empty groups, empty batches, empty actions and wrong lengths', () => {
    expect(() => validateBatch({ groups: [] })).toThrow(/batch has no groups/);
    expect(() => validateBatch({ groups: [{ groupId: 'x', taskSeed: 1, trajectories: [] }] })).toThrow(
      /groups\[0\] \(groupId x\) is empty/,
    );
    expect(() => validateBatch(batchOf([traj([step([])], 1)]))).toThrow(/action is empty/);
    expect(() => validateBatch(batchOf([traj([step([-1])], 1, { length: 3 })]))).toThrow(
      /length is 3 but it has 1 steps/,
    );
    expect(() => validateBatch(batchOf([traj([step([0.5])], 1)]))).toThrow(
      /oldLogProbs\[0\] is 0.5; expected a finite log-probability <= 0/,
    );
  });

  it('checkTokenValues names the step whose token count is wrong', () => {
    const b = batchOf([traj([step([-1, -1]), step([-1])], 1)]);
    expect(() =>
      checkTokenValues(
        b,
        [
          [
            [
              [0, 0],
              [0, 0],
            ],
          ],
        ],
        'prm',
      ),
    ).toThrow('prm: group 0 trajectory 0 step 1 should have 1 action-token values, got 2');
  });
});

describe('flattened order', () => {
  it('rows are groups, then trajectories, then steps', () => {
    const b = batchOf([traj([step([-1]), step([-1])], 1), traj([step([-1])], 0)], [traj([step([-1])], 1)]);
    expect(flattenSteps(b).map((r) => r.trajectoryIndex)).toEqual([0, 0, 1, 2]);
    expect(flattenSteps(b)[1]).toEqual({ group: 0, trajectory: 0, step: 1, trajectoryIndex: 0 });
    expect(trajectoryIndices(b)).toEqual([[0, 1], [2]]);
  });
});

describe('encodeBatch / decodeBatch', () => {
  function randomBatch(seed: number): RolloutBatch {
    const r = rng(seed);
    const groups = [];
    for (let g = 0; g < 3; g++) {
      const trajectories = [];
      for (let i = 0; i < 4; i++) {
        const steps = [];
        const S = 1 + Math.floor(r() * 3);
        for (let t = 0; t < S; t++) {
          const L = 1 + Math.floor(r() * 5);
          steps.push(
            step(
              Array.from({ length: L }, () => Math.log(r() + 1e-9)),
              {
                context: Array.from({ length: Math.floor(r() * 20) }, () => Math.floor(r() * 500)),
                action: Array.from({ length: L }, () => Math.floor(r() * 500)),
                envReward: r() - 0.5,
                valid: r() > 0.2,
                anchor: `room ${Math.floor(r() * 3)}\n#_P√`,
                ...(t === 0 ? { observationText: 'obs ü', actionText: 'up' } : {}),
              },
            ),
          );
        }
        trajectories.push(traj(steps, r() * 10, { success: r() > 0.5, score: r() * 100 }));
      }
      groups.push({ groupId: `level-${g}`, taskSeed: 1000 + g, trajectories });
    }
    return { groups };
  }

  it('round-trips exactly (tokens, float64 log-probs, rewards, flags, texts)', () => {
    const b = randomBatch(7);
    const bytes = encodeBatch(b);
    expect(bytes.subarray(0, 4).toString('ascii')).toBe('ISRB');
    expect(decodeBatch(bytes)).toEqual(b);
    // and through a Uint8Array view at an odd offset, as an S3 body may arrive
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect(decodeBatch(padded.subarray(3))).toEqual(b);
  });

  it('is smaller than plain JSON', () => {
    const b = randomBatch(8);
    expect(encodeBatch(b).length).toBeLessThan(Buffer.byteLength(JSON.stringify(b)) / 2);
  });

  it('refuses to encode an invalid batch', () => {
    expect(() => encodeBatch(batchOf([traj([step([-1])], NaN)]))).toThrow(BatchValidationError);
  });

  it('rejects corrupt bytes with a clear error', () => {
    expect(() => decodeBatch(Buffer.from('hello world'))).toThrow(BatchCorruptError);
    const bytes = encodeBatch(randomBatch(9));
    expect(() => decodeBatch(bytes.subarray(0, bytes.length - 10))).toThrow(/does not gunzip/);
    const wrongVersion = Buffer.from(bytes);
    wrongVersion.writeUInt32LE(99, 4);
    expect(() => decodeBatch(wrongVersion)).toThrow(/version 99 is not supported/);
    const prefix = Buffer.from(bytes.subarray(0, 8));
    const payload = Buffer.alloc(12);
    payload.writeUInt32LE(2, 0);
    payload.write('{}', 4);
    expect(() => decodeBatch(Buffer.concat([prefix, gzipSync(payload)]))).toThrow(/no groups array/);
  });
});
