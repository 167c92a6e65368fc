import { describe, expect, it } from 'vitest';
import { episodeEstimator, grpoAdvantage, reinforcePlusPlusAdvantage, rlooAdvantage } from '../../src/algo';
import { rng } from './helpers';

describe('RLOO, iStar eq. (3)', () => {
  it('matches hand values: N/(N-1) (R_i - mean) = R_i - mean of the others', () => {
    // [3, 1, 2]: mean 2, N/(N-1) = 1.5 -> [1.5, -1.5, 0]; check: 3 - (1+2)/2 = 1.5, 1 - (3+2)/2 = -1.5.
    // [1, 0]: mean 0.5, 2 * (±0.5) -> [1, -1].
    expect(
      rlooAdvantage([
        [3, 1, 2],
        [1, 0],
      ]),
    ).toEqual([
      [1.5, -1.5, 0],
      [1, -1],
    ]);
  });
});

describe('GRPO, iStar eq. (3)', () => {
  it('std-normalised with eps 1e-6 (Bessel std, as torch.std)', () => {
    // [1, 0, 0, 0]: mean 0.25; squared deviations 0.5625 + 3 * 0.0625 = 0.75; var = 0.75 / 3 = 0.25, std 0.5.
    // A = [0.75, -0.25, -0.25, -0.25] / (0.5 + 1e-6).
    const [a] = grpoAdvantage([[1, 0, 0, 0]]);
    const d = 0.5 + 1e-6;
    [0.75 / d, -0.25 / d, -0.25 / d, -0.25 / d].forEach((v, i) => expect(a[i]).toBeCloseTo(v, 12));
    // [3, 1, 2]: mean 2, var (1 + 1 + 0) / 2 = 1 -> [1, -1, 0] / (1 + 1e-6).
    const [b] = grpoAdvantage([[3, 1, 2]]);
    [1 / (1 + 1e-6), -1 / (1 + 1e-6), 0].forEach((v, i) => expect(b[i]).toBeCloseTo(v, 12));
  });

  it('population std option: [1, 0, 0, 0] has std sqrt(0.75 / 4) = 0.4330127', () => {
    const [a] = grpoAdvantage([[1, 0, 0, 0]], { unbiased: false });
    expect(a[0]).toBeCloseTo(0.75 / (Math.sqrt(0.1875) + 1e-6), 10);
  });

  it('mean-only: R_i - mean', () => {
    expect(grpoAdvantage([[1, 0, 0, 0]], { normalizeByStd: false })).toEqual([[0.75, -0.25, -0.25, -0.25]]);
  });
});

describe('REINFORCE++-baseline, iStar eq. (3)', () => {
  it('group-mean baseline, then whitened over the batch', () => {
    // centred: [3,1,2] -> [1,-1,0]; [1,0] -> [0.5,-0.5]. Flat mean 0; unbiased var = (1+1+0+0.25+0.25)/4 = 0.625.
    // A = x / sqrt(0.625 + 1e-8): [1.2649111, -1.2649111, 0, 0.6324555, -0.6324555].
    const a = reinforcePlusPlusAdvantage([
      [3, 1, 2],
      [1, 0],
    ]);
    const s = Math.sqrt(0.625 + 1e-8);
    expect(a[0][0]).toBeCloseTo(1 / s, 10);
    expect(a[0][0]).toBeCloseTo(1.2649111, 6);
    expect(a[0][1]).toBeCloseTo(-1 / s, 10);
    expect(a[0][2]).toBeCloseTo(0, 12);
    expect(a[1][0]).toBeCloseTo(0.5 / s, 10);
    expect(a[1][1]).toBeCloseTo(-0.5 / s, 10);
  });
});

describe('episode estimator properties', () => {
  const all = {
    rloo: rlooAdvantage,
    grpo: (r: number[][]) => grpoAdvantage(r),
    'grpo-mean': (r: number[][]) => grpoAdvantage(r, { normalizeByStd: false }),
    'reinforce++': reinforcePlusPlusAdvantage,
  };

  it('RLOO and GRPO advantages of a group sum to 0 (random groups)', () => {
    const r = rng(1);
    for (let trial = 0; trial < 50; trial++) {
      const groups = Array.from({ length: 3 }, () =>
        Array.from({ length: 2 + Math.floor(r() * 7) }, () => (r() < 0.3 ? 1 : r() * 10 - 5)),
      );
      for (const fn of [all.rloo, all.grpo, all['grpo-mean']])
        for (const g of fn(groups)) expect(Math.abs(g.reduce((a, b) => a + b, 0))).toBeLessThan(1e-9);
    }
  });

  it.each(Object.keys(all))('%s: all-equal rewards give 0, not NaN; a group of one gives 0', (name) => {
    const fn = all[name as keyof typeof all];
    const out = fn([[0.1, 0.1, 0.1], [5], [1, 1]]);
    for (const g of out)
      for (const a of g) {
        expect(Number.isNaN(a)).toBe(false);
        expect(Math.abs(a)).toBeLessThan(1e-9);
      }
    expect(out.map((g) => g.length)).toEqual([3, 1, 2]);
  });

  it('bad inputs give clear errors', () => {
    expect(() => rlooAdvantage([[1, NaN]])).toThrow(
      'rlooAdvantage: rewards[0][1] is NaN; expected a finite number',
    );
    expect(() => grpoAdvantage([[1], []])).toThrow(
      'grpoAdvantage: group 1 is empty; every group needs at least one trajectory',
    );
    expect(() => reinforcePlusPlusAdvantage([])).toThrow(/no groups/);
    expect(() => episodeEstimator('ppo')).toThrow(
      "unknown episode estimator 'ppo'; valid: rloo, grpo, grpo-mean, reinforce++",
    );
  });
});
