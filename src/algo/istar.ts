import { check, checkFinite } from './errors';
import { mean, std } from './stats';

/** Paper defaults (iStar section 4 / appendix). */
export const ISTAR_DEFAULTS = {
  /** KL-strength of the implicit PRM, eqs. (1)-(2). */
  beta: 0.05,
  /** Weight of the step advantage, eq. (5). */
  alpha: 1,
} as const;

/**
 * Implicit step reward, iStar eq. (1):
 * r_t = beta * sum_k (log pi_phi(a_t^k | c_t, a_t^{<k}) - log pi_old(a_t^k | c_t, a_t^{<k})).
 * prmLogProbs, oldLogProbs: [L_t] log-probs of the step's action tokens under the PRM and pi_old.
 * Returns the scalar r_t = beta * log(pi_phi(a_t|c_t) / pi_old(a_t|c_t)) of the whole action. Since
 * pi_phi(a_t|c_t) <= 1, r_t <= beta * log(1 / pi_old(a_t|c_t)); symmetrically r_t >= -beta * log(1 / pi_phi(a_t|c_t)),
 * so |r_t| <= beta * log(1 / min(pi_phi, pi_old)) (the paper's boundedness remark).
 */
export function implicitStepReward(
  prmLogProbs: readonly number[],
  oldLogProbs: readonly number[],
  beta: number = ISTAR_DEFAULTS.beta,
): number {
  check(
    prmLogProbs.length === oldLogProbs.length,
    () =>
      `implicitStepReward: ${prmLogProbs.length} PRM log-probs but ${oldLogProbs.length} pi_old log-probs; one per action token each`,
  );
  checkFinite(prmLogProbs as number[], 'implicitStepReward: prmLogProbs');
  checkFinite(oldLogProbs as number[], 'implicitStepReward: oldLogProbs');
  let s = 0;
  for (let k = 0; k < prmLogProbs.length; k++) s += prmLogProbs[k] - oldLogProbs[k];
  return beta * s;
}

/**
 * Token-level implicit rewards, the per-token terms of iStar eq. (1) (PRIME's process reward with
 * `baseLogProbs` = pi_ref; the token-level-PRM ablation with pi_old):
 * r_k = beta * (log pi_phi(a^k) - log pi_base(a^k)). [L] x [L] -> [L].
 */
export function implicitTokenRewards(
  prmLogProbs: readonly number[],
  baseLogProbs: readonly number[],
  beta: number = ISTAR_DEFAULTS.beta,
): number[] {
  check(
    prmLogProbs.length === baseLogProbs.length,
    () =>
      `implicitTokenRewards: ${prmLogProbs.length} PRM log-probs but ${baseLogProbs.length} base log-probs; one per action token each`,
  );
  checkFinite(prmLogProbs as number[], 'implicitTokenRewards: prmLogProbs');
  checkFinite(baseLogProbs as number[], 'implicitTokenRewards: baseLogProbs');
  return prmLogProbs.map((lp, k) => beta * (lp - baseLogProbs[k]));
}

export interface StepAdvantageOptions {
  /** Added to the std so a constant group gives 0, never NaN; default 1e-6 (as GRPO). */
  epsilon?: number;
  /** Bessel-corrected std (torch.std); default true. */
  unbiased?: boolean;
}

/**
 * Step advantage, iStar eq. (4): A_S(t) = (r_t - mean(R_s)) / std(R_s), where R_s = every step reward
 * of every one of the N trajectories of the group (ragged: trajectories may differ in length).
 * stepRewards: one group, [N][S_i] -> advantages [N][S_i]. A group with a single step reward, or
 * with all step rewards equal, gives 0.
 */
export function stepAdvantage(
  stepRewards: readonly (readonly number[])[],
  options: StepAdvantageOptions = {},
): number[][] {
  const { epsilon = 1e-6, unbiased = true } = options;
  check(stepRewards.length > 0, () => 'stepAdvantage: the group has no trajectories');
  stepRewards.forEach((r, i) => checkFinite(r as number[], `stepAdvantage: stepRewards[${i}]`));
  const all = stepRewards.flat();
  if (all.length < 2) return stepRewards.map((r) => r.map(() => 0));
  const m = mean(all);
  const s = std(all, unbiased);
  return stepRewards.map((r) => r.map((x) => (x - m) / (s + epsilon)));
}

/**
 * Step-advantage weight gated by the PRM's held-out pair accuracy p (our addition, not the paper's):
 * alpha_eff = alpha * clamp(2p - 1, 0, 1). 2p - 1 is the rank correlation a pairwise ranking with
 * accuracy p has with the labels: a PRM that ranks this batch's pairs no better than chance (p <= 0.5)
 * contributes nothing, a perfect one the full alpha. `accuracy` undefined (no pairs this iteration, so
 * nothing measured) -> 0: the iteration trains on the episode advantage alone.
 */
export function gatedAlpha(alpha: number, accuracy: number | undefined): number {
  checkFinite([alpha], 'gatedAlpha: alpha');
  check(alpha >= 0, () => `gatedAlpha: alpha is ${alpha}; the step-advantage weight must be >= 0`);
  if (accuracy === undefined) return 0;
  check(
    Number.isFinite(accuracy) && accuracy >= 0 && accuracy <= 1,
    () => `gatedAlpha: PRM pair accuracy is ${accuracy}; it must be a fraction in [0, 1]`,
  );
  return alpha * Math.min(1, Math.max(0, 2 * accuracy - 1));
}

/**
 * Combined advantage, iStar eq. (5): A_t = A_E(i) + alpha * A_S(t), the same value for every action
 * token of step t of trajectory i.
 * episodeAdv [N], stepAdv [N][S_i], actionLengths [N][S_i] (tokens per step) -> [N][S_i][L_it].
 */
export function combineAdvantages(
  episodeAdv: readonly number[],
  stepAdv: readonly (readonly number[])[],
  actionLengths: readonly (readonly number[])[],
  alpha: number = ISTAR_DEFAULTS.alpha,
): number[][][] {
  check(
    episodeAdv.length === stepAdv.length && stepAdv.length === actionLengths.length,
    () =>
      `combineAdvantages: ${episodeAdv.length} episode advantages, ${stepAdv.length} step-advantage rows and ${actionLengths.length} action-length rows; all must be N`,
  );
  return stepAdv.map((row, i) => {
    check(
      row.length === actionLengths[i].length,
      () =>
        `combineAdvantages: trajectory ${i} has ${row.length} step advantages but ${actionLengths[i].length} steps`,
    );
    return row.map((a, t) => new Array<number>(actionLengths[i][t]).fill(episodeAdv[i] + alpha * a));
  });
}
