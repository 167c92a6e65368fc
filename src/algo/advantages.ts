import {
  actionLengths,
  broadcastToTokens,
  checkTokenValues,
  outcomeRewards,
  validateBatch,
  type RolloutBatch,
  type StepValues,
  type TokenValues,
} from './batch';
import { check } from './errors';
import { episodeEstimator, type EpisodeEstimator } from './episode';
import {
  combineAdvantages,
  gatedAlpha,
  implicitStepReward,
  implicitTokenRewards,
  ISTAR_DEFAULTS,
  stepAdvantage,
} from './istar';
import { maxOf, mean, minOf, std, sum } from './stats';

/** What an algorithm's advantage function reads; optional fields are required by the algorithms that need them. */
export interface AdvantageInput {
  batch: RolloutBatch;
  /** log pi_phi of every action token, [G][N][S_i][L_it] (istar, prime). */
  prmLogProbs?: TokenValues;
  /** log pi_ref of every action token, [G][N][S_i][L_it] (prime). */
  refLogProbs?: TokenValues;
  /** Value-head estimate V(c_t) of every step, [G][N][S_i] (ppo). */
  values?: StepValues;
  /**
   * The PRM's held-out pair accuracy on this batch (prm/heldout_accuracy of the PRM stage; undefined when
   * the PRM was not trained this iteration). Read by iStar with alphaGate 'prm-accuracy'.
   */
  prmAccuracy?: number;
}

/** What an advantage function returns: one advantage per action token, plus what the trainer logs. */
export interface AdvantageOutput {
  /** A of every action token, [G][N][S_i][L_it]. */
  advantages: TokenValues;
  /** Value targets of every step, [G][N][S_i] (ppo). */
  returns?: StepValues;
  /** The per-step rewards the estimator used (implicit, discounted, ...), [G][N][S_i]. */
  stepRewards?: StepValues;
  /** Namespaced scalars, e.g. `advantages/mean`. */
  metrics: Record<string, number>;
}

/** Broadcasts A_E(i) of each trajectory to all of its action tokens: [G][N] -> [G][N][S_i][L_it]. */
export function broadcastEpisode(batch: RolloutBatch, episodeAdv: number[][]): TokenValues {
  return broadcastToTokens(
    batch,
    batch.groups.map((g, gi) => g.trajectories.map((t, ti) => t.steps.map(() => episodeAdv[gi][ti]))),
  );
}

/** `advantages/mean`, `advantages/std`, `advantages/max`, `advantages/min` over every token. */
export function advantageMetrics(advantages: TokenValues): Record<string, number> {
  const flat = advantages.flat(3);
  return {
    'advantages/mean': mean(flat),
    'advantages/std': std(flat, false),
    'advantages/max': flat.length ? maxOf(flat) : 0,
    'advantages/min': flat.length ? minOf(flat) : 0,
  };
}

/**
 * Episode-only baselines (RLOO, GRPO, REINFORCE++; the paper's Table 1): A_E(i) of eq. (3) from the
 * outcome rewards, the same for every token of trajectory i. -> advantages [G][N][S_i][L_it].
 */
export function episodeAdvantages(input: AdvantageInput, estimator: EpisodeEstimator): AdvantageOutput {
  const { batch } = input;
  validateBatch(batch);
  const episode = episodeEstimator(estimator)(outcomeRewards(batch));
  const advantages = broadcastEpisode(batch, episode);
  return { advantages, metrics: advantageMetrics(advantages) };
}

export interface IstarOptions {
  /** Implicit PRM strength, eq. (1); paper 0.05. */
  beta: number;
  /** Step-advantage weight, eq. (5); paper 1. */
  alpha: number;
  /** Episode estimator of eq. (3); paper RLOO for WebShop and Sokoban. */
  episodeEstimator: EpisodeEstimator;
  /**
   * 'full': A = A_E + alpha * A_S (eq. 5). Ablations: 'process-only': A = A_S; 'merged-rewards':
   * A = episode advantage of (outcome + sum of implicit step rewards); 'token-level': eq. (4) over
   * token rewards beta * (log pi_phi - log pi_old) instead of step rewards, A = A_E + alpha * A_S(token).
   */
  variant: 'full' | 'process-only' | 'merged-rewards' | 'token-level';
  /**
   * Step credit of invalid actions (text the environment rejected). 'prm' (the paper): whatever eq. (4)
   * gives. 'non-positive': an invalid step's A_S is min(A_S, 0), so the PRM never rewards an action
   * outside the action space. Why: DPO lowers the losers' actions, which raises every other token, and
   * the implicit reward log pi_phi / pi_old of unseen text (invalid actions) then drifts positive; the
   * policy learns those actions and the loop feeds itself (measured: invalid-action rate 0.01 -> 1.0 in
   * 24 iterations on Sokoban, docs/results.md).
   */
  invalidStepCredit: 'prm' | 'non-positive';
  /**
   * How alpha is applied. 'fixed' (the paper): alpha as given. 'prm-accuracy': alpha * clamp(2p - 1, 0, 1)
   * with p = input.prmAccuracy (gatedAlpha), so the step advantage fades when the PRM stops ranking the
   * policy's new trajectories (docs/results.md, finding 32).
   */
  alphaGate: 'fixed' | 'prm-accuracy';
}

export const ISTAR_OPTION_DEFAULTS: IstarOptions = {
  beta: ISTAR_DEFAULTS.beta,
  alpha: ISTAR_DEFAULTS.alpha,
  episodeEstimator: 'rloo',
  variant: 'full',
  invalidStepCredit: 'non-positive',
  alphaGate: 'fixed',
};

/**
 * iStar advantages, eqs. (1), (3), (4), (5), and its ablations (see IstarOptions.variant).
 * Needs input.prmLogProbs [G][N][S_i][L_it]; pi_old log-probs come from the batch.
 */
export function istarAdvantages(input: AdvantageInput, options: Partial<IstarOptions> = {}): AdvantageOutput {
  const o = { ...ISTAR_OPTION_DEFAULTS, ...options };
  const { batch, prmLogProbs } = input;
  validateBatch(batch);
  check(
    prmLogProbs !== undefined,
    () => 'istarAdvantages: prmLogProbs ([G][N][S][L] log pi_phi of every action token) is required',
  );
  checkTokenValues(batch, prmLogProbs, 'istarAdvantages: prmLogProbs');
  const estimator = episodeEstimator(o.episodeEstimator);
  const alpha = o.alphaGate === 'prm-accuracy' ? gatedAlpha(o.alpha, input.prmAccuracy) : o.alpha;
  // eq. (1): one implicit reward per step.
  const stepRewards: StepValues = batch.groups.map((g, gi) =>
    g.trajectories.map((t, ti) =>
      t.steps.map((s, si) => implicitStepReward(prmLogProbs[gi][ti][si], s.oldLogProbs, o.beta)),
    ),
  );
  const flatR = stepRewards.flat(2);
  const metrics: Record<string, number> = {
    'istar/step_reward_mean': mean(flatR),
    'istar/step_reward_std': std(flatR, false),
    'istar/alpha': alpha,
  };
  const lengths = actionLengths(batch);
  let advantages: TokenValues;
  if (o.variant === 'merged-rewards') {
    const merged = batch.groups.map((g, gi) =>
      g.trajectories.map((t, ti) => t.outcomeReward + sum(stepRewards[gi][ti])),
    );
    advantages = broadcastEpisode(batch, estimator(merged));
  } else if (o.variant === 'token-level') {
    const episode = estimator(outcomeRewards(batch));
    advantages = batch.groups.map((g, gi) => {
      const tokenRewards = g.trajectories.map((t, ti) =>
        t.steps.map((s, si) => implicitTokenRewards(prmLogProbs[gi][ti][si], s.oldLogProbs, o.beta)),
      );
      // eq. (4) over every token reward of the group: flatten steps, normalise, restore the shape.
      const normalised = stepAdvantage(tokenRewards.map((steps) => steps.flat()));
      return tokenRewards.map((steps, ti) => {
        let k = 0;
        return steps.map((tok, si) =>
          tok.map(() => {
            const a = stepCredit(
              normalised[ti][k++],
              g.trajectories[ti].steps[si].valid,
              o.invalidStepCredit,
            );
            return episode[gi][ti] + alpha * a;
          }),
        );
      });
    });
  } else {
    const episode = o.variant === 'process-only' ? null : estimator(outcomeRewards(batch));
    advantages = batch.groups.map((g, gi) => {
      const stepAdv = capInvalidCredit(g, stepAdvantage(stepRewards[gi]), o.invalidStepCredit); // eq. (4)
      if (episode === null)
        return stepAdv.map((row, ti) => row.map((a, si) => new Array<number>(lengths[gi][ti][si]).fill(a)));
      return combineAdvantages(episode[gi], stepAdv, lengths[gi], alpha); // eq. (5)
    });
  }
  return { advantages, stepRewards, metrics: { ...metrics, ...advantageMetrics(advantages) } };
}

/** IstarOptions.invalidStepCredit applied to one step (or token) advantage of a step. */
function stepCredit(a: number, valid: boolean, mode: IstarOptions['invalidStepCredit']): number {
  return valid || mode === 'prm' ? a : Math.min(a, 0);
}

/** stepCredit over one group's step advantages [N][S_i]. */
function capInvalidCredit(
  group: RolloutBatch['groups'][number],
  stepAdv: number[][],
  mode: IstarOptions['invalidStepCredit'],
): number[][] {
  return stepAdv.map((row, ti) =>
    row.map((a, si) => stepCredit(a, group.trajectories[ti].steps[si].valid, mode)),
  );
}
