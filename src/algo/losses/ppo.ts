import * as tf from '@tensorflow/tfjs';
import { check } from '../errors';
import { checkShapes, maskedMean, rowSum, scalarValue } from './common';
import type { LossResult } from './prm';

/** Policy-loss defaults (DESIGN.md section 3, CleanRL names). */
export const PPO_LOSS_DEFAULTS = {
  clipCoef: 0.2,
  dualClip: 3,
  entCoef: 0.001,
  klCoef: 0,
  invalidActionPenalty: 0.1,
} as const;

export interface PpoClipArgs {
  /** log pi_theta at every position, [B,T], one row per step (context then action); carries gradient. */
  logProbs: tf.Tensor2D;
  /** log pi_old at every position, [B,T] (from the rollout batch). */
  oldLogProbs: tf.Tensor2D;
  /** A of every action token, [B,T] (eq. (5) for iStar; constant over a step's tokens). */
  advantages: tf.Tensor2D;
  /** 1 on action tokens, [B,T]. */
  actionMask: tf.Tensor2D;
  /**
   * 'step' (paper): rho_t = pi_theta(a_t|c_t) / pi_old(a_t|c_t) = exp(sum of the step's token log-ratios),
   * one ratio for every token of the step; 'step-mean': exp(mean of them) (geometric mean per token, steadier
   * for long actions); 'token': rho per token (verl's default).
   */
  ratioLevel?: 'step' | 'step-mean' | 'token';
  /** eps of eq. (6); 0.2. */
  clipCoef?: number;
  /** Dual clip c (Ye et al. 2020) for A < 0: the loss is capped at -c * A. null (default) disables; paper option 3. */
  dualClip?: number | null;
  /** Entropy of the policy at every position, [B,T] (entropyFromLogits); required when entCoef > 0. */
  entropy?: tf.Tensor2D;
  /** Entropy bonus coefficient; 0.001. */
  entCoef?: number;
  /** log pi_ref at every position, [B,T]; required when klCoef > 0. */
  refLogProbs?: tf.Tensor2D;
  /** Coefficient of the low-variance (k3) KL to the reference; 0 (off) by default. */
  klCoef?: number;
  /** Whether each row's action was invalid, [B]; those steps get `invalidActionPenalty` subtracted from their advantage. */
  invalidSteps?: readonly boolean[];
  /** 0.1. Porting note: applied to the advantage of the invalid step's tokens (after the estimator), so
   *  it acts with every estimator; verl-agent subtracts it from the step's reward before the estimator. */
  invalidActionPenalty?: number;
}

/**
 * PPO-clip policy loss, iStar eq. (6): L = -token-mean( min(rho * A, clip(rho, 1 - eps, 1 + eps) * A) )
 * [dual clip for A < 0: max(that, c * A)] - entCoef * token-mean(H) + klCoef * token-mean(k3 KL to ref).
 * Shapes: every tensor [B,T] (rows = steps), invalidSteps [B]. Returns a scalar and metrics
 * policy/pg_loss, policy/clip_fraction, policy/approx_kl (k3 of pi_old -> pi_theta), policy/entropy, policy/kl_ref.
 */
export function ppoClipLoss(args: PpoClipArgs): LossResult {
  const {
    logProbs,
    oldLogProbs,
    advantages,
    actionMask,
    ratioLevel = 'step',
    clipCoef = PPO_LOSS_DEFAULTS.clipCoef,
    dualClip = null,
    entropy,
    entCoef = PPO_LOSS_DEFAULTS.entCoef,
    refLogProbs,
    klCoef = PPO_LOSS_DEFAULTS.klCoef,
    invalidSteps,
    invalidActionPenalty = PPO_LOSS_DEFAULTS.invalidActionPenalty,
  } = args;
  const [B, T] = logProbs.shape;
  checkShapes('ppoClipLoss', [B, T], { oldLogProbs, advantages, actionMask, entropy, refLogProbs });
  check(
    ['step', 'step-mean', 'token'].includes(ratioLevel),
    () => `ppoClipLoss: unknown ratioLevel '${ratioLevel}'; valid: step, step-mean, token`,
  );
  check(
    entCoef === 0 || entropy !== undefined,
    () => 'ppoClipLoss: entCoef > 0 needs `entropy` [B,T] (entropyFromLogits), or set entCoef 0',
  );
  check(
    klCoef === 0 || refLogProbs !== undefined,
    () => 'ppoClipLoss: klCoef > 0 needs `refLogProbs` [B,T], or set klCoef 0',
  );
  check(
    dualClip === null || dualClip > 1,
    () => `ppoClipLoss: dualClip must be > 1 (paper 3), got ${dualClip}`,
  );
  check(
    invalidSteps === undefined || invalidSteps.length === B,
    () => `ppoClipLoss: invalidSteps has ${invalidSteps?.length} entries for ${B} rows`,
  );
  return tf.tidy(() => {
    let A: tf.Tensor = advantages;
    if (invalidSteps && invalidActionPenalty !== 0) {
      const pen = tf.tensor2d(
        Float32Array.from(invalidSteps, (x) => (x ? invalidActionPenalty : 0)),
        [B, 1],
      );
      A = tf.sub(A, pen);
    }
    const logRatio = tf.mul(tf.sub(logProbs, oldLogProbs), actionMask); // [B,T]
    let logRho: tf.Tensor;
    if (ratioLevel === 'token') logRho = logRatio;
    else {
      let stepLogRatio: tf.Tensor = tf.reshape(rowSum(logRatio, actionMask), [B, 1]);
      if (ratioLevel === 'step-mean')
        stepLogRatio = tf.div(stepLogRatio, tf.maximum(tf.sum(actionMask, 1, true), 1));
      logRho = tf.mul(tf.onesLike(logRatio), stepLogRatio); // the step's ratio on each of its tokens
    }
    const rho = tf.exp(logRho);
    const pgLoss1 = tf.mul(tf.neg(A), rho);
    const pgLoss2 = tf.mul(tf.neg(A), tf.clipByValue(rho, 1 - clipCoef, 1 + clipCoef));
    let pgLosses: tf.Tensor = tf.maximum(pgLoss1, pgLoss2);
    if (dualClip !== null) {
      const capped = tf.minimum(pgLosses, tf.mul(tf.neg(A), dualClip));
      pgLosses = tf.where(tf.less(A, 0), capped, pgLosses);
    }
    const pgLoss = maskedMean(pgLosses, actionMask);
    let loss: tf.Tensor = pgLoss;
    const metrics: Record<string, number> = {
      'policy/clip_fraction': scalarValue(
        maskedMean(tf.cast(tf.greater(pgLoss2, pgLoss1), 'float32'), actionMask),
      ),
      // CleanRL's approx_kl: E[(rho - 1) - log rho], token level.
      'policy/approx_kl': scalarValue(maskedMean(tf.sub(tf.sub(tf.exp(logRatio), 1), logRatio), actionMask)),
      'policy/ratio_mean': scalarValue(maskedMean(rho, actionMask)),
    };
    if (entropy !== undefined) {
      const ent = maskedMean(entropy, actionMask);
      metrics['policy/entropy'] = scalarValue(ent);
      if (entCoef !== 0) loss = tf.sub(loss, tf.mul(ent, entCoef));
    }
    if (refLogProbs !== undefined) {
      // k3 (Schulman's low-variance estimator, verl's low_var_kl): exp(ref - logp) - (ref - logp) - 1, clamped to [-10, 10].
      const d = tf.sub(refLogProbs, logProbs);
      const k3 = tf.clipByValue(tf.sub(tf.sub(tf.exp(d), d), 1), -10, 10);
      const kl = maskedMean(k3, actionMask);
      metrics['policy/kl_ref'] = scalarValue(kl);
      if (klCoef !== 0) loss = tf.add(loss, tf.mul(kl, klCoef));
    }
    metrics['policy/pg_loss'] = scalarValue(pgLoss);
    metrics['policy/loss'] = scalarValue(loss);
    return { loss: loss as tf.Scalar, metrics };
  });
}

export interface ValueLossArgs {
  /** Current value-head outputs, any shape (e.g. [B] per step or [B,T]); carries gradient. */
  values: tf.Tensor;
  /** Value-head outputs at rollout time, same shape. */
  oldValues: tf.Tensor;
  /** Value targets (GAE returns), same shape. */
  returns: tf.Tensor;
  /** 1 where a value counts, same shape; default all ones. */
  mask?: tf.Tensor;
  /** Values move at most this far from oldValues before the clipped term takes over; 0.2 (CleanRL clip_coef). null disables. */
  clipRange?: number | null;
}

/**
 * Clipped value loss for PPO (CleanRL ppo.py, verl compute_value_loss):
 * 0.5 * mean( max((V - R)^2, (clip(V, V_old - eps, V_old + eps) - R)^2) ). Returns a scalar and
 * value/loss, value/clip_fraction.
 */
export function valueLoss(args: ValueLossArgs): LossResult {
  const { values, oldValues, returns, mask, clipRange = 0.2 } = args;
  checkShapes('valueLoss', values.shape, { oldValues, returns, mask });
  return tf.tidy(() => {
    const m = mask ?? tf.onesLike(values);
    const unclipped = tf.square(tf.sub(values, returns));
    let losses: tf.Tensor = unclipped;
    let clipFrac = 0;
    if (clipRange !== null) {
      const vClipped = tf.add(oldValues, tf.clipByValue(tf.sub(values, oldValues), -clipRange, clipRange));
      const clipped = tf.square(tf.sub(vClipped, returns));
      losses = tf.maximum(unclipped, clipped);
      clipFrac = scalarValue(maskedMean(tf.cast(tf.greater(clipped, unclipped), 'float32'), m));
    }
    const loss = tf.mul(maskedMean(losses, m), 0.5) as tf.Scalar;
    return { loss, metrics: { 'value/loss': scalarValue(loss), 'value/clip_fraction': clipFrac } };
  });
}
