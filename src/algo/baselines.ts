import {
  broadcastToTokens,
  checkStepValues,
  checkTokenValues,
  outcomeRewards,
  validateBatch,
  type StepValues,
  type TokenValues,
} from './batch';
import { check } from './errors';
import { grpoAdvantage } from './episode';
import { gae, PPO_DEFAULTS } from './gae';
import { GIGPO_DEFAULTS, gigpoStepAdvantage } from './gigpo';
import { implicitTokenRewards, ISTAR_DEFAULTS } from './istar';
import { primeGroupAdvantage } from './prime';
import { mean, std, whiten } from './stats';
import { advantageMetrics, type AdvantageInput, type AdvantageOutput } from './advantages';

export interface GigpoOptions {
  /** Discount of the step returns; 0.95. */
  gamma: number;
  /** Weight w of the step advantage; 1. */
  stepWeight: number;
  /** 'mean' (mean_norm: episode and step advantages only centred) or 'std' (also divided by std + 1e-6). */
  norm: 'mean' | 'std';
}

export const GIGPO_OPTION_DEFAULTS: GigpoOptions = {
  gamma: GIGPO_DEFAULTS.gamma,
  stepWeight: GIGPO_DEFAULTS.stepWeight,
  norm: 'mean',
};

/**
 * GiGPO (Feng et al. 2025): A = A_E(i) + w * A_S(t), A_E = GRPO over the group's outcome rewards,
 * A_S = discounted env-reward return minus the mean of its anchor group (identical anchors within the
 * group only; singletons 0). -> advantages [G][N][S_i][L_it], stepRewards = discounted returns.
 */
export function gigpoAdvantages(input: AdvantageInput, options: Partial<GigpoOptions> = {}): AdvantageOutput {
  const o = { ...GIGPO_OPTION_DEFAULTS, ...options };
  const { batch } = input;
  validateBatch(batch);
  const episode = grpoAdvantage(outcomeRewards(batch), { normalizeByStd: o.norm === 'std' });
  const stepAdv: StepValues = batch.groups.map((g) =>
    gigpoStepAdvantage(
      g.trajectories.map((t) => t.steps.map((s) => s.envReward)),
      g.trajectories.map((t) => t.steps.map((s) => s.anchor)),
      { gamma: o.gamma, norm: o.norm },
    ),
  );
  const combined = stepAdv.map((g, gi) =>
    g.map((row, ti) => row.map((a) => episode[gi][ti] + o.stepWeight * a)),
  );
  const advantages = broadcastToTokens(batch, combined);
  return { advantages, stepRewards: stepAdv, metrics: advantageMetrics(advantages) };
}

export interface PrimeOptions {
  /** Implicit PRM strength; PRIME 0.05. */
  beta: number;
  /** Whiten the advantages over every token of the batch, as PRIME's released code; default true. */
  whiten: boolean;
}

export const PRIME_OPTION_DEFAULTS: PrimeOptions = { beta: ISTAR_DEFAULTS.beta, whiten: true };

/**
 * PRIME: token-level implicit rewards beta * (log pi_phi - log pi_ref), RLOO over implicit and outcome
 * rewards (primeGroupAdvantage), optionally whitened. Needs prmLogProbs and refLogProbs [G][N][S_i][L_it].
 */
export function primeAdvantages(input: AdvantageInput, options: Partial<PrimeOptions> = {}): AdvantageOutput {
  const o = { ...PRIME_OPTION_DEFAULTS, ...options };
  const { batch, prmLogProbs, refLogProbs } = input;
  validateBatch(batch);
  check(
    prmLogProbs !== undefined && refLogProbs !== undefined,
    () =>
      'primeAdvantages: prmLogProbs and refLogProbs ([G][N][S][L] log-probs of every action token) are required',
  );
  checkTokenValues(batch, prmLogProbs, 'primeAdvantages: prmLogProbs');
  checkTokenValues(batch, refLogProbs, 'primeAdvantages: refLogProbs');
  const tokenRewards: TokenValues = prmLogProbs.map((g, gi) =>
    g.map((t, ti) => t.map((lp, si) => implicitTokenRewards(lp, refLogProbs[gi][ti][si], o.beta))),
  );
  let advantages = batch.groups.map((g, gi) =>
    primeGroupAdvantage(
      tokenRewards[gi],
      g.trajectories.map((t) => t.outcomeReward),
    ),
  );
  if (o.whiten) advantages = reshapeLike(advantages, whiten(advantages.flat(3)));
  const stepRewards = tokenRewards.map((g) => g.map((t) => t.map((tok) => tok.reduce((a, b) => a + b, 0))));
  const flat = stepRewards.flat(2);
  return {
    advantages,
    stepRewards,
    metrics: {
      'prime/step_reward_mean': mean(flat),
      'prime/step_reward_std': std(flat, false),
      ...advantageMetrics(advantages),
    },
  };
}

export interface PpoOptions {
  gamma: number;
  gaeLambda: number;
  /** 'outcome': the outcome reward on the last step (as the episode baselines see it); 'env': every step's env reward. */
  reward: 'outcome' | 'env';
  /** Whiten the advantages over every step of the batch; default true (verl's GAE). */
  whiten: boolean;
}

export const PPO_OPTION_DEFAULTS: PpoOptions = {
  gamma: PPO_DEFAULTS.gamma,
  gaeLambda: PPO_DEFAULTS.gaeLambda,
  reward: 'outcome',
  whiten: true,
};

/**
 * PPO with a value head: step-level GAE (one value per step, from the value head at the step's context)
 * per trajectory, episodes finished (bootstrap 0), broadcast to the step's tokens; returns = value targets.
 * Needs input.values [G][N][S_i].
 */
export function ppoAdvantages(input: AdvantageInput, options: Partial<PpoOptions> = {}): AdvantageOutput {
  const o = { ...PPO_OPTION_DEFAULTS, ...options };
  const { batch, values } = input;
  validateBatch(batch);
  check(
    values !== undefined,
    () => 'ppoAdvantages: values ([G][N][S] value-head estimate of every step) are required',
  );
  checkStepValues(batch, values, 'ppoAdvantages: values');
  const results = batch.groups.map((g, gi) =>
    g.trajectories.map((t, ti) => {
      const rewards =
        o.reward === 'env'
          ? t.steps.map((s) => s.envReward)
          : t.steps.map((_, si) => (si === t.steps.length - 1 ? t.outcomeReward : 0));
      return gae(rewards, values[gi][ti], o.gamma, o.gaeLambda);
    }),
  );
  let stepAdv: StepValues = results.map((g) => g.map((r) => r.advantages));
  if (o.whiten) stepAdv = reshapeLike(stepAdv, whiten(stepAdv.flat(2)));
  const returns = results.map((g) => g.map((r) => r.returns));
  const advantages = broadcastToTokens(batch, stepAdv);
  return {
    advantages,
    returns,
    metrics: { 'ppo/returns_mean': mean(returns.flat(2)), ...advantageMetrics(advantages) },
  };
}

/** Refills a nested array with `flat` values in order (shape kept). */
function reshapeLike<T extends unknown[]>(shape: T, flat: number[]): T {
  let k = 0;
  const fill = (x: unknown): unknown => (Array.isArray(x) ? x.map(fill) : flat[k++]);
  return fill(shape) as T;
}
