import { describe, expect, it } from 'vitest';
import {
  combineAdvantages,
  gatedAlpha,
  implicitStepReward,
  implicitTokenRewards,
  istarAdvantages,
  stepAdvantage,
  type TokenValues,
} from '../../src/algo';
import { batchOf, rng, step, traj } from './helpers';

describe('implicit step reward, iStar eq. (1)', () => {
  it('beta * sum over the action tokens of (log pi_phi - log pi_old)', () => {
    // (-0.5 - -1.0) + (-1.0 - -2.0) = 1.5; 0.05 * 1.5 = 0.075
    expect(implicitStepReward([-0.5, -1.0], [-1.0, -2.0], 0.05)).toBeCloseTo(0.075, 12);
    // one token: 0.1 * (-0.4 - -0.2) = -0.02
    expect(implicitStepReward([-0.4], [-0.2], 0.1)).toBeCloseTo(-0.02, 12);
    expect(implicitTokenRewards([-0.5, -1.0], [-1.0, -2.0], 0.05)).toEqual([0.025, 0.05]);
  });

  it('is bounded on random data: r_t <= beta log(1/pi_old(a_t)) and |r_t| <= beta log(1/min(pi_phi, pi_old))', () => {
    const r = rng(42);
    const beta = 0.05;
    for (let n = 0; n < 2000; n++) {
      const L = 1 + Math.floor(r() * 4);
      // log-probs <= 0, some very small probabilities
      const old = Array.from({ length: L }, () => Math.log(Math.max(r() ** 3, 1e-12)));
      const prm = Array.from({ length: L }, () => Math.log(Math.max(r() ** 3, 1e-12)));
      const rt = implicitStepReward(prm, old, beta);
      const logOld = old.reduce((a, b) => a + b, 0); // log pi_old(a_t | c_t)
      const logPrm = prm.reduce((a, b) => a + b, 0);
      expect(rt).toBeLessThanOrEqual(beta * -logOld + 1e-12);
      expect(Math.abs(rt)).toBeLessThanOrEqual(
        beta * Math.log(1 / Math.exp(Math.min(logOld, logPrm))) + 1e-9,
      );
    }
  });

  it('sums over a trajectory to the DPO trajectory reward beta * log(pi_phi(tau) / pi_old(tau)) of eq. (2)', () => {
    const prm = [[-0.1, -0.3], [-2.0], [-0.7, -0.2, -0.05]];
    const old = [[-0.2, -0.1], [-1.0], [-0.9, -0.3, -0.5]];
    const total = prm.reduce((s, p, t) => s + implicitStepReward(p, old[t], 0.05), 0);
    const tau = 0.05 * (prm.flat().reduce((a, b) => a + b) - old.flat().reduce((a, b) => a + b));
    expect(total).toBeCloseTo(tau, 12);
  });

  it('names mismatched lengths and NaN', () => {
    expect(() => implicitStepReward([-1], [-1, -2])).toThrow(
      'implicitStepReward: 1 PRM log-probs but 2 pi_old log-probs; one per action token each',
    );
    expect(() => implicitStepReward([NaN], [-1])).toThrow(
      'implicitStepReward: prmLogProbs[0] is NaN; expected a finite number',
    );
  });
});

describe('step advantage, iStar eq. (4)', () => {
  it('normalises over every step reward of every trajectory of the group', () => {
    // R_s = [0.1, 0.3, -0.1]: mean 0.1; unbiased var (0 + 0.04 + 0.04) / 2 = 0.04, std 0.2.
    // A_S = [0, 0.2, -0.2] / (0.2 + 1e-6) ~ [0, 1, -1]
    const a = stepAdvantage([[0.1, 0.3], [-0.1]]);
    expect(a[0][0]).toBeCloseTo(0, 9);
    expect(a[0][1]).toBeCloseTo(0.2 / (0.2 + 1e-6), 9);
    expect(a[1][0]).toBeCloseTo(-0.2 / (0.2 + 1e-6), 9);
  });

  it('gives 0, never NaN, when std is 0 or there is one step', () => {
    expect(stepAdvantage([[0.3, 0.3], [0.3]])).toEqual([[0, 0], [0]]);
    expect(stepAdvantage([[0.7]])).toEqual([[0]]);
    const tiny = stepAdvantage([[0.1 + 0.2, 0.3], [0.30000000000000004]]);
    for (const x of tiny.flat()) expect(Math.abs(x)).toBeLessThan(1e-9);
  });

  it('rejects NaN step rewards and empty groups', () => {
    expect(() => stepAdvantage([[0.1], [NaN]])).toThrow(
      'stepAdvantage: stepRewards[1][0] is NaN; expected a finite number',
    );
    expect(() => stepAdvantage([])).toThrow(/no trajectories/);
  });
});

describe('combined advantage, iStar eq. (5)', () => {
  it('A_t = A_E(i) + alpha * A_S(t), the same for every token of the step', () => {
    // A_E = [0.5, -0.5], A_S = [[1, 0], [-1]], alpha = 1, tokens per step [[2, 1], [3]]
    expect(combineAdvantages([0.5, -0.5], [[1, 0], [-1]], [[2, 1], [3]], 1)).toEqual([
      [[1.5, 1.5], [0.5]],
      [[-1.5, -1.5, -1.5]],
    ]);
    // alpha = 0.5: 0.5 + 0.5 * 1 = 1.0
    expect(combineAdvantages([0.5], [[1]], [[1]], 0.5)).toEqual([[[1]]]);
    expect(() => combineAdvantages([0.5], [[1, 2]], [[1]])).toThrow(
      'combineAdvantages: trajectory 0 has 2 step advantages but 1 steps',
    );
  });
});

describe('istarAdvantages over a batch (eqs. 1, 3, 4, 5) and the ablations', () => {
  // One group, two trajectories.
  // T0 (outcome 1): s0 old [-1, -2], prm [-0.5, -1] -> r = 0.05 * 1.5 = 0.075; s1 old [-0.5], prm [-0.5] -> r = 0
  // T1 (outcome 0): s0 old [-0.2], prm [-0.4] -> r = 0.05 * -0.2 = -0.01
  const batch = batchOf([traj([step([-1, -2]), step([-0.5])], 1), traj([step([-0.2])], 0)]);
  const prmLogProbs: TokenValues = [[[[-0.5, -1], [-0.5]], [[-0.4]]]];
  // eq. (4): R_s = [0.075, 0, -0.01], mean 0.065 / 3; unbiased std over the 3 rewards
  const m = 0.065 / 3;
  const s = Math.sqrt(((0.075 - m) ** 2 + (0 - m) ** 2 + (-0.01 - m) ** 2) / 2);
  const AS = [(0.075 - m) / (s + 1e-6), (0 - m) / (s + 1e-6), (-0.01 - m) / (s + 1e-6)];
  // eq. (3) RLOO of [1, 0]: [1, -1]

  it('full: A = A_E + alpha * A_S broadcast to tokens', () => {
    const out = istarAdvantages({ batch, prmLogProbs });
    expect(out.stepRewards![0][0][0]).toBeCloseTo(0.075, 12);
    expect(out.stepRewards![0][0][1]).toBeCloseTo(0, 12);
    expect(out.stepRewards![0][1][0]).toBeCloseTo(-0.01, 12);
    const a = out.advantages[0];
    expect(a[0][0]).toHaveLength(2);
    expect(a[0][0][0]).toBeCloseTo(1 + AS[0], 9);
    expect(a[0][0][1]).toBeCloseTo(1 + AS[0], 9);
    expect(a[0][1][0]).toBeCloseTo(1 + AS[1], 9);
    expect(a[1][0][0]).toBeCloseTo(-1 + AS[2], 9);
    expect(AS[0]).toBeCloseTo(1.1479, 3); // sanity of the hand arithmetic
  });

  it('alpha and the episode estimator are options (grpo: [1, 0] -> [0.5, -0.5] / (0.7071 + 1e-6))', () => {
    const out = istarAdvantages({ batch, prmLogProbs }, { alpha: 0.5, episodeEstimator: 'grpo' });
    const ae = 0.5 / (Math.SQRT1_2 + 1e-6);
    expect(out.advantages[0][0][0][0]).toBeCloseTo(ae + 0.5 * AS[0], 9);
    expect(out.advantages[0][1][0][0]).toBeCloseTo(-ae + 0.5 * AS[2], 9);
  });

  it("alphaGate 'prm-accuracy': alpha * clamp(2p - 1, 0, 1) of the PRM's held-out accuracy", () => {
    // p = 0.75 -> 2.5 * (2 * 0.75 - 1) = 1.25
    const gated = istarAdvantages(
      { batch, prmLogProbs, prmAccuracy: 0.75 },
      { alpha: 2.5, alphaGate: 'prm-accuracy' },
    );
    expect(gated.metrics['istar/alpha']).toBeCloseTo(1.25, 12);
    expect(gated.advantages[0][0][0][0]).toBeCloseTo(1 + 1.25 * AS[0], 9);
    expect(gated.advantages[0][1][0][0]).toBeCloseTo(-1 + 1.25 * AS[2], 9);
    // chance-level ranking (and worse) or nothing measured: the episode advantage alone, RLOO [1, -1]
    for (const prmAccuracy of [0.5, 0.3, undefined]) {
      const out = istarAdvantages(
        { batch, prmLogProbs, prmAccuracy },
        { alpha: 2.5, alphaGate: 'prm-accuracy' },
      );
      expect(out.metrics['istar/alpha']).toBe(0);
      expect(out.advantages[0][0][1][0]).toBeCloseTo(1, 12);
      expect(out.advantages[0][1][0][0]).toBeCloseTo(-1, 12);
    }
    // 'fixed' (default) ignores the accuracy
    const fixed = istarAdvantages({ batch, prmLogProbs, prmAccuracy: 0.5 }, { alpha: 2.5 });
    expect(fixed.metrics['istar/alpha']).toBe(2.5);
    expect(() =>
      istarAdvantages({ batch, prmLogProbs, prmAccuracy: 1.2 }, { alphaGate: 'prm-accuracy' }),
    ).toThrow(/PRM pair accuracy is 1.2; it must be a fraction in \[0, 1\]/);
  });

  it('gatedAlpha by hand: p = 0.6 -> 0.2 alpha, p = 1 -> alpha, p <= 0.5 -> 0', () => {
    expect(gatedAlpha(1, 0.6)).toBeCloseTo(0.2, 12);
    expect(gatedAlpha(2.5, 0.628)).toBeCloseTo(0.64, 12);
    expect(gatedAlpha(3, 1)).toBe(3);
    expect(gatedAlpha(3, 0.42)).toBe(0);
    expect(gatedAlpha(3, undefined)).toBe(0);
    expect(() => gatedAlpha(-1, 0.7)).toThrow(/alpha is -1/);
    expect(() => gatedAlpha(1, Number.NaN)).toThrow(/PRM pair accuracy is NaN/);
  });

  it('process-only ablation: A = A_S', () => {
    const a = istarAdvantages({ batch, prmLogProbs }, { variant: 'process-only' }).advantages[0];
    expect(a[0][0][1]).toBeCloseTo(AS[0], 9);
    expect(a[0][1][0]).toBeCloseTo(AS[1], 9);
    expect(a[1][0][0]).toBeCloseTo(AS[2], 9);
  });

  it('merged-rewards ablation: RLOO of outcome + summed implicit rewards', () => {
    // R' = [1 + 0.075 + 0, 0 - 0.01] = [1.075, -0.01]; RLOO (N = 2): [1.085, -1.085]
    const a = istarAdvantages({ batch, prmLogProbs }, { variant: 'merged-rewards' }).advantages[0];
    expect(a[0][0][0]).toBeCloseTo(1.085, 12);
    expect(a[0][1][0]).toBeCloseTo(1.085, 12);
    expect(a[1][0][0]).toBeCloseTo(-1.085, 12);
  });

  it('token-level ablation: eq. (4) over token rewards', () => {
    // token rewards: T0 s0 [0.025, 0.05], T0 s1 [0], T1 s0 [-0.01]; mean 0.065 / 4 = 0.01625
    const tm = 0.01625;
    const ts = Math.sqrt(((0.025 - tm) ** 2 + (0.05 - tm) ** 2 + tm ** 2 + (-0.01 - tm) ** 2) / 3);
    const a = istarAdvantages({ batch, prmLogProbs }, { variant: 'token-level' }).advantages[0];
    expect(a[0][0][0]).toBeCloseTo(1 + (0.025 - tm) / (ts + 1e-6), 9);
    expect(a[0][0][1]).toBeCloseTo(1 + (0.05 - tm) / (ts + 1e-6), 9);
    expect(a[0][1][0]).toBeCloseTo(1 + (0 - tm) / (ts + 1e-6), 9);
    expect(a[1][0][0]).toBeCloseTo(-1 + (-0.01 - tm) / (ts + 1e-6), 9);
  });

  it("invalid actions never get positive step credit by default; 'prm' keeps the paper's eq. (4)", () => {
    // Same rewards as above with T0 s0 (A_S = +1.148) and T1 s0 (A_S < 0) invalid.
    const invalid = batchOf([
      traj([step([-1, -2], { valid: false }), step([-0.5])], 1),
      traj([step([-0.2], { valid: false })], 0),
    ]);
    const capped = istarAdvantages({ batch: invalid, prmLogProbs }).advantages[0];
    expect(capped[0][0]).toEqual([1, 1]); // 1 + alpha * min(1.148, 0)
    expect(capped[0][1][0]).toBeCloseTo(1 + AS[1], 9); // a valid step is untouched
    expect(capped[1][0][0]).toBeCloseTo(-1 + AS[2], 9); // negative credit stays
    const paper = istarAdvantages({ batch: invalid, prmLogProbs }, { invalidStepCredit: 'prm' })
      .advantages[0];
    expect(paper[0][0][0]).toBeCloseTo(1 + AS[0], 9);
    const processOnly = istarAdvantages({ batch: invalid, prmLogProbs }, { variant: 'process-only' })
      .advantages[0];
    expect(processOnly[0][0]).toEqual([0, 0]);
    // token level: T0 s0's token rewards 0.025 and 0.05 are above the mean, so both are capped to 0
    const tokens = istarAdvantages({ batch: invalid, prmLogProbs }, { variant: 'token-level' }).advantages[0];
    expect(tokens[0][0]).toEqual([1, 1]);
  });

  it('a group of one trajectory with one step gives 0; missing or mis-shaped PRM log-probs are named', () => {
    const single = batchOf([traj([step([-1])], 1)]);
    expect(istarAdvantages({ batch: single, prmLogProbs: [[[[-0.5]]]] }).advantages).toEqual([[[[0]]]]);
    expect(() => istarAdvantages({ batch })).toThrow(/prmLogProbs .* is required/);
    expect(() => istarAdvantages({ batch, prmLogProbs: [[[[-0.5], [-0.5]], [[-0.4]]]] })).toThrow(
      'istarAdvantages: prmLogProbs: group 0 trajectory 0 step 0 should have 2 action-token values, got 1',
    );
  });
});
