import { describe, expect, it } from 'vitest';
import {
  anchorGroups,
  discountedReturns,
  gae,
  gigpoAdvantages,
  gigpoStepAdvantage,
  ppoAdvantages,
  primeAdvantages,
  primeGroupAdvantage,
} from '../../src/algo';
import { batchOf, step, traj } from './helpers';

const s = (anchor: string, envReward: number) => step([-1], { anchor, envReward });

describe('GiGPO', () => {
  it('discounted step returns, gamma 0.95', () => {
    // R_2 = 1; R_1 = 0 + 0.95 * 1 = 0.95; R_0 = -0.1 + 0.95 * 0.95 = 0.8025
    const r = discountedReturns([-0.1, 0, 1], 0.95);
    [0.8025, 0.95, 1].forEach((v, i) => expect(r[i]).toBeCloseTo(v, 12));
  });

  it('anchor groups are identical anchors within a group only; singletons give 0', () => {
    // group 0: T0 anchors [A, B] rewards [0, 1]  -> returns [0.95, 1]
    //          T1 anchors [A, C] rewards [-0.1, 0] -> returns [-0.1, 0]
    //          T2 anchors [B]    rewards [0.5]     -> returns [0.5]
    // anchor A: {0.95, -0.1}, mean 0.425 -> +0.525, -0.525; B: {1, 0.5}, mean 0.75 -> +0.25, -0.25; C alone -> 0
    // group 1: T0 [A] reward [2], T1 [D] reward [0]: A here is a singleton (group 0's A does not count) -> 0
    // A_E (GRPO mean-only): group 0 outcomes [1, 0, 0.5] -> [0.5, -0.5, 0]; group 1 [2, 0] -> [1, -1]
    const batch = batchOf(
      [traj([s('A', 0), s('B', 1)], 1), traj([s('A', -0.1), s('C', 0)], 0), traj([s('B', 0.5)], 0.5)],
      [traj([s('A', 2)], 2), traj([s('D', 0)], 0)],
    );
    const step0 = gigpoStepAdvantage([[0, 1], [-0.1, 0], [0.5]], [['A', 'B'], ['A', 'C'], ['B']]);
    [[0.525, 0.25], [-0.525, 0], [-0.25]].forEach((row, i) =>
      row.forEach((v, t) => expect(step0[i][t]).toBeCloseTo(v, 12)),
    );
    expect([...anchorGroups([['A', 'B'], ['A', 'C'], ['B']]).entries()]).toEqual([
      [
        'A',
        [
          [0, 0],
          [1, 0],
        ],
      ],
      [
        'B',
        [
          [0, 1],
          [2, 0],
        ],
      ],
      ['C', [[1, 1]]],
    ]);
    const out = gigpoAdvantages({ batch });
    const a = out.advantages;
    expect(a[0][0][0][0]).toBeCloseTo(0.5 + 0.525, 12);
    expect(a[0][0][1][0]).toBeCloseTo(0.5 + 0.25, 12);
    expect(a[0][1][0][0]).toBeCloseTo(-0.5 - 0.525, 12);
    expect(a[0][1][1][0]).toBeCloseTo(-0.5, 12);
    expect(a[0][2][0][0]).toBeCloseTo(-0.25, 12);
    expect(a[1][0][0][0]).toBeCloseTo(1, 12); // no step credit: A is a singleton in group 1
    expect(a[1][1][0][0]).toBeCloseTo(-1, 12);
  });

  it('w scales the step term; std norm divides by std + 1e-6', () => {
    const batch = batchOf([traj([s('A', 1)], 1), traj([s('A', 0)], 0)]);
    // returns [1, 0]; anchor A mean 0.5 -> [0.5, -0.5]; A_E mean-only [0.5, -0.5]; w = 2 -> [1.5, -1.5]
    expect(gigpoAdvantages({ batch }, { stepWeight: 2 }).advantages[0].map((t) => t[0][0])).toEqual([
      1.5, -1.5,
    ]);
    // std: both terms / (std([1, 0]) = 0.7071 + 1e-6)
    const z = 0.5 / (Math.SQRT1_2 + 1e-6);
    const out = gigpoAdvantages({ batch }, { norm: 'std' }).advantages[0].map((t) => t[0][0]);
    expect(out[0]).toBeCloseTo(2 * z, 9);
    expect(out[1]).toBeCloseTo(-2 * z, 9);
  });
});

describe('PRIME', () => {
  // T0 (outcome 1): s0 prm [-0.5, -1] ref [-1, -1] -> r [0.025, 0]; s1 prm [-0.2] ref [-0.4] -> r [0.01]
  // T1 (outcome 0): s0 prm [-1] ref [-0.5] -> r [-0.025]
  // per-token implicit means: T0 0.035 / 3, T1 -0.025; leave-one-out baselines b0 = -0.025, b1 = 0.035 / 3
  // outcome RLOO [1, -1]
  // T0: r - b0 = [0.05, 0.025, 0.035]; suffix sums [0.11, 0.06, 0.035]; + 1 -> [1.11, 1.06, 1.035]
  // T1: -0.025 - 0.035 / 3 = -0.0366667; - 1 -> -1.0366667
  const batch = batchOf([traj([step([-0.9, -0.9]), step([-0.9])], 1), traj([step([-0.9])], 0)]);
  const prmLogProbs = [[[[-0.5, -1], [-0.2]], [[-1]]]];
  const refLogProbs = [[[[-1, -1], [-0.4]], [[-0.5]]]];

  it('token-level implicit rewards, RLOO over implicit and outcome rewards', () => {
    const a = primeAdvantages({ batch, prmLogProbs, refLogProbs }, { whiten: false }).advantages[0];
    expect(a[0][0][0]).toBeCloseTo(1.11, 12);
    expect(a[0][0][1]).toBeCloseTo(1.06, 12);
    expect(a[0][1][0]).toBeCloseTo(1.035, 12);
    expect(a[1][0][0]).toBeCloseTo(-1 - 0.025 - 0.035 / 3, 12);
  });

  it('whitened by default; a group of one gives 0', () => {
    const flat = primeAdvantages({ batch, prmLogProbs, refLogProbs }).advantages.flat(3);
    expect(flat.reduce((x, y) => x + y, 0)).toBeCloseTo(0, 9);
    expect(primeGroupAdvantage([[[0.3, 0.1]]], [1])).toEqual([[[0, 0]]]);
    expect(() => primeAdvantages({ batch, prmLogProbs })).toThrow(/refLogProbs .* are required/);
  });
});

describe('PPO with GAE', () => {
  it('gae by hand (gamma 0.9, lambda 0.8)', () => {
    // delta_2 = 1 - 0.7 = 0.3, A_2 = 0.3
    // delta_1 = 0.9 * 0.7 - 0.6 = 0.03, A_1 = 0.03 + 0.72 * 0.3 = 0.246
    // delta_0 = 0.9 * 0.6 - 0.5 = 0.04, A_0 = 0.04 + 0.72 * 0.246 = 0.21712; returns = A + V
    const { advantages, returns } = gae([0, 0, 1], [0.5, 0.6, 0.7], 0.9, 0.8);
    [0.21712, 0.246, 0.3].forEach((v, i) => expect(advantages[i]).toBeCloseTo(v, 12));
    [0.71712, 0.846, 1.0].forEach((v, i) => expect(returns[i]).toBeCloseTo(v, 12));
    expect(() => gae([1, 2], [0.5])).toThrow('gae: 2 rewards but 1 values; one value per step');
  });

  it('ppoAdvantages: step-level GAE from the value head, outcome on the last step', () => {
    // gamma = lambda = 1: A_t = (sum of later rewards) - V_t. T0 rewards [0, 1], V [0.2, 0.4] -> [0.8, 0.6]; T1 [0], V [0.1] -> [-0.1]
    const batch = batchOf([
      traj([step([-1, -1], { envReward: 0.3 }), step([-1], { envReward: 0.7 })], 1),
      traj([step([-1])], 0),
    ]);
    const values = [[[0.2, 0.4], [0.1]]];
    const out = ppoAdvantages({ batch, values }, { whiten: false });
    expect(out.advantages[0][0][0][0]).toBeCloseTo(0.8, 12);
    expect(out.advantages[0][0][0][1]).toBeCloseTo(0.8, 12);
    expect(out.advantages[0][0][1][0]).toBeCloseTo(0.6, 12);
    expect(out.advantages[0][1][0][0]).toBeCloseTo(-0.1, 12);
    expect(out.returns).toEqual([[[1, 1], [0]]]);
    // env rewards: T0 [0.3, 0.7] -> [1 - 0.2, 0.7 - 0.4] = [0.8, 0.3]
    const env = ppoAdvantages({ batch, values }, { whiten: false, reward: 'env' });
    expect(env.advantages[0][0][1][0]).toBeCloseTo(0.3, 12);
    expect(() => ppoAdvantages({ batch, values: [[[0.2], [0.1]]] })).toThrow(
      'ppoAdvantages: values: group 0 trajectory 0 should have 2 steps, got 1',
    );
  });
});
