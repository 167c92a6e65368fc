import { check, checkFinite } from './errors';
import { mean, std, whiten } from './stats';

/**
 * Episode-level advantage estimators, iStar eq. (3). Each takes the outcome rewards of the batch
 * grouped by task, shape [G][N_g], and returns advantages of the same shape. A group of one
 * trajectory gets 0, and a group whose rewards are all equal gets 0 (never NaN).
 */
export type EpisodeAdvantageFn = (rewards: number[][]) => number[][];

function checkGroups(rewards: number[][], fn: string): void {
  check(
    Array.isArray(rewards) && rewards.length > 0,
    () => `${fn}: expected rewards grouped [G][N], got no groups`,
  );
  rewards.forEach((g, gi) => {
    check(
      Array.isArray(g) && g.length > 0,
      () => `${fn}: group ${gi} is empty; every group needs at least one trajectory`,
    );
    checkFinite(g, `${fn}: rewards[${gi}]`);
  });
}

/**
 * RLOO, iStar eq. (3) (paper default for WebShop and Sokoban):
 * A_E(i) = N/(N-1) * (R_i - mean_j R_j) = R_i - mean_{j != i} R_j.
 * rewards [G][N_g] -> advantages [G][N_g]; N_g = 1 gives 0.
 */
export function rlooAdvantage(rewards: number[][]): number[][] {
  checkGroups(rewards, 'rlooAdvantage');
  return rewards.map((g) => {
    const n = g.length;
    if (n < 2) return g.map(() => 0);
    const m = mean(g);
    return g.map((r) => (n / (n - 1)) * (r - m));
  });
}

export interface GrpoOptions {
  /** Divide by the group std (default). False = mean-only ("Dr. GRPO"-style, GiGPO mean_norm). */
  normalizeByStd?: boolean;
  /** Added to the std; paper 1e-6. */
  epsilon?: number;
  /** Bessel-corrected std (torch.std, as verl's GRPO); default true. */
  unbiased?: boolean;
}

/**
 * GRPO, iStar eq. (3): A_E(i) = (R_i - mean_j R_j) / (std_j R_j + eps), eps = 1e-6; or R_i - mean with
 * normalizeByStd false. rewards [G][N_g] -> advantages [G][N_g]; N_g = 1 gives 0.
 */
export function grpoAdvantage(rewards: number[][], options: GrpoOptions = {}): number[][] {
  const { normalizeByStd = true, epsilon = 1e-6, unbiased = true } = options;
  checkGroups(rewards, 'grpoAdvantage');
  return rewards.map((g) => {
    if (g.length < 2) return g.map(() => 0);
    const m = mean(g);
    const s = std(g, unbiased);
    return g.map((r) => (normalizeByStd ? (r - m) / (s + epsilon) : r - m));
  });
}

/**
 * REINFORCE++-baseline, iStar eq. (3) baseline: R_i - mean of its group, then whitened over every
 * trajectory of the batch, (x - mean) / sqrt(var + 1e-8).
 * Porting note: verl whitens over response tokens (long responses weigh more); we whiten over
 * trajectories so each episode counts once.
 * rewards [G][N_g] -> advantages [G][N_g].
 */
export function reinforcePlusPlusAdvantage(rewards: number[][]): number[][] {
  checkGroups(rewards, 'reinforcePlusPlusAdvantage');
  const centred = rewards.map((g) => (g.length < 2 ? g.map(() => 0) : g.map((r) => r - mean(g))));
  const flat = whiten(centred.flat());
  let k = 0;
  return centred.map((g) => g.map(() => flat[k++]));
}

/** Names of the episode estimators (iStar's `episodeEstimator` option). */
export const EPISODE_ESTIMATORS = {
  rloo: rlooAdvantage,
  grpo: (r: number[][]) => grpoAdvantage(r),
  'grpo-mean': (r: number[][]) => grpoAdvantage(r, { normalizeByStd: false }),
  'reinforce++': reinforcePlusPlusAdvantage,
} as const satisfies Record<string, EpisodeAdvantageFn>;

export type EpisodeEstimator = keyof typeof EPISODE_ESTIMATORS;

/** The episode estimator called `name`; unknown names throw listing the valid ones. */
export function episodeEstimator(name: string): EpisodeAdvantageFn {
  const fn = (EPISODE_ESTIMATORS as Record<string, EpisodeAdvantageFn>)[name];
  check(
    fn !== undefined,
    () => `unknown episode estimator '${name}'; valid: ${Object.keys(EPISODE_ESTIMATORS).join(', ')}`,
  );
  return fn;
}
