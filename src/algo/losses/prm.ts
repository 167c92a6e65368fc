import * as tf from '@tensorflow/tfjs';
import { check } from '../errors';
import { ISTAR_DEFAULTS } from '../istar';
import { maxOf } from '../stats';
import { checkShapes, rowSum, scalarValue, segmentMatrix } from './common';

/**
 * Input layout of the PRM losses: one row per step (its context then its action, padded to T), as the
 * model's `tokenLogProbs(batch)` returns them; `actionMask` is 1 on the step's action tokens.
 * `stepToTrajectory[b]` is the trajectory (0..M-1) of row b (flattenSteps(batch)[b].trajectoryIndex).
 */
export interface PrmRows {
  /** log pi_phi at every position, [B,T]; the only input that carries gradient. */
  prmLogProbs: tf.Tensor2D;
  /** 1 on action tokens, 0 elsewhere, [B,T]. */
  actionMask: tf.Tensor2D;
  /** Trajectory index of every row, [B], values in [0, numTrajectories). */
  stepToTrajectory: readonly number[];
  /** M; default max(stepToTrajectory) + 1. */
  numTrajectories?: number;
}

export interface PrmDpoArgs extends PrmRows {
  /** log pi_old at every position, [B,T] (the rollout policy; eq. (2) is DPO against pi_old, not a frozen reference). */
  oldLogProbs: tf.Tensor2D;
  /** Preferred / dispreferred trajectory of every pair, [P] each (flattened trajectory indices). */
  pairs: { pos: readonly number[]; neg: readonly number[] };
  /** eq. (2) beta; paper 0.05. */
  beta?: number;
  /** Trajectory log-ratio: 'sum' over steps (paper eq. 2) or 'mean' over steps (the authors' released code). */
  aggregation?: 'sum' | 'mean';
}

export interface LossResult {
  loss: tf.Scalar;
  metrics: Record<string, number>;
}

/**
 * Implicit-PRM loss, iStar eq. (2), trajectory DPO against pi_old:
 * L = -mean_pairs log sigmoid(beta * [(log pi_phi(tau+) - log pi_old(tau+)) - (log pi_phi(tau-) - log pi_old(tau-))]),
 * log pi(tau) = sum over steps (or mean, `aggregation`) of the sum over the step's action tokens.
 * Shapes: prmLogProbs, oldLogProbs, actionMask [B,T]; stepToTrajectory [B]; pairs [P]. Returns a scalar.
 * Metrics: prm/accuracy (pairs ranked right), prm/margin, prm/chosen_reward, prm/rejected_reward
 * (beta * trajectory log-ratio).
 */
export function prmDpoLoss(args: PrmDpoArgs): LossResult {
  const {
    prmLogProbs,
    oldLogProbs,
    actionMask,
    stepToTrajectory,
    pairs,
    beta = ISTAR_DEFAULTS.beta,
    aggregation = 'sum',
  } = args;
  const [B, T] = prmLogProbs.shape;
  checkShapes('prmDpoLoss', [B, T], { oldLogProbs, actionMask });
  check(B > 0, () => 'prmDpoLoss: no step rows');
  check(
    stepToTrajectory.length === B,
    () => `prmDpoLoss: stepToTrajectory has ${stepToTrajectory.length} entries for ${B} rows`,
  );
  check(
    pairs.pos.length === pairs.neg.length,
    () =>
      `prmDpoLoss: ${pairs.pos.length} positives but ${pairs.neg.length} negatives; pairs need one of each`,
  );
  check(
    pairs.pos.length > 0,
    () =>
      'prmDpoLoss: no preference pairs (no group had both a positive and a negative); skip PRM training this iteration',
  );
  const M = args.numTrajectories ?? maxOf(stepToTrajectory) + 1;
  const P = pairs.pos.length;
  const pairData = new Float32Array(P * M);
  for (let p = 0; p < P; p++) {
    const i = pairs.pos[p];
    const j = pairs.neg[p];
    check(
      Number.isInteger(i) && i >= 0 && i < M && Number.isInteger(j) && j >= 0 && j < M,
      () => `prmDpoLoss: pair ${p} (${i}, ${j}) indexes outside the ${M} trajectories`,
    );
    pairData[p * M + i] += 1;
    pairData[p * M + j] -= 1;
  }
  return tf.tidy(() => {
    const stepLogRatio = rowSum(tf.sub(prmLogProbs, oldLogProbs), actionMask); // [B]
    const S = segmentMatrix('prmDpoLoss', stepToTrajectory, M, aggregation === 'mean'); // [M,B]
    const trajLogRatio = tf.matMul(S, tf.reshape(stepLogRatio, [B, 1])); // [M,1]
    const Dm = tf.tensor2d(pairData, [P, M]);
    const margin = tf.mul(tf.reshape(tf.matMul(Dm, trajLogRatio), [P]), beta); // [P]
    // -log sigmoid(m) = softplus(-m). Porting note: tf.logSigmoid's custom gradient fails on the wasm backend
    // (it reads a disposed tensor in tfjs 4.22), so the loss is written with softplus.
    const loss = tf.mean(tf.softplus(tf.neg(margin))) as tf.Scalar;
    const traj = tf.mul(tf.reshape(trajLogRatio, [M]), beta);
    const onehot = (idx: readonly number[]) => {
      const d = new Float32Array(P * M);
      idx.forEach((m, p) => (d[p * M + m] = 1));
      return tf.tensor2d(d, [P, M]);
    };
    const chosen = tf.matMul(onehot(pairs.pos), tf.reshape(traj, [M, 1]));
    const rejected = tf.matMul(onehot(pairs.neg), tf.reshape(traj, [M, 1]));
    const metrics = {
      'prm/loss': scalarValue(loss),
      // A tie (margin 0, e.g. a PRM still equal to pi_old with `prmInit` 'policy') ranks the pair no better
      // than a coin: half right ((sign + 1) / 2), so that a PRM that has learnt nothing scores 0.5, not 0.
      'prm/accuracy': scalarValue(tf.mean(tf.div(tf.add(tf.sign(margin), 1), 2))),
      'prm/margin': scalarValue(tf.mean(margin)),
      'prm/chosen_reward': scalarValue(tf.mean(chosen)),
      'prm/rejected_reward': scalarValue(tf.mean(rejected)),
    };
    return { loss, metrics };
  });
}

export interface PrimePrmArgs extends PrmRows {
  /** log pi_ref at every position, [B,T] (the frozen reference). */
  refLogProbs: tf.Tensor2D;
  /** Binary outcome of every trajectory, [M] in {0, 1}. */
  outcomes: readonly number[];
  /** PRIME beta; 0.05. */
  beta?: number;
}

/**
 * PRIME's PRM loss (Cui et al. 2025): cross-entropy of sigmoid(beta * sum_tokens (log pi_phi - log pi_ref))
 * against the binary outcome y of each trajectory:
 * L = mean_i [ -y_i log sigmoid(z_i) - (1 - y_i) log(1 - sigmoid(z_i)) ], z_i = beta * sum over the
 * trajectory's action tokens of the log-ratio. Shapes: [B,T] rows, stepToTrajectory [B], outcomes [M].
 */
export function primePrmLoss(args: PrimePrmArgs): LossResult {
  const {
    prmLogProbs,
    refLogProbs,
    actionMask,
    stepToTrajectory,
    outcomes,
    beta = ISTAR_DEFAULTS.beta,
  } = args;
  const [B, T] = prmLogProbs.shape;
  checkShapes('primePrmLoss', [B, T], { refLogProbs, actionMask });
  check(
    stepToTrajectory.length === B,
    () => `primePrmLoss: stepToTrajectory has ${stepToTrajectory.length} entries for ${B} rows`,
  );
  const M = args.numTrajectories ?? outcomes.length;
  check(outcomes.length === M, () => `primePrmLoss: ${outcomes.length} outcomes for ${M} trajectories`);
  outcomes.forEach((y, i) =>
    check(
      y === 0 || y === 1,
      () => `primePrmLoss: outcomes[${i}] is ${y}; PRIME's cross-entropy needs binary outcomes 0 or 1`,
    ),
  );
  return tf.tidy(() => {
    const stepLogRatio = rowSum(tf.sub(prmLogProbs, refLogProbs), actionMask);
    const S = segmentMatrix('primePrmLoss', stepToTrajectory, M);
    const z = tf.mul(tf.reshape(tf.matMul(S, tf.reshape(stepLogRatio, [B, 1])), [M]), beta);
    const y = tf.tensor1d(Float32Array.from(outcomes));
    // Stable BCE with logits: softplus(z) - y * z.
    const loss = tf.mean(tf.sub(tf.softplus(z), tf.mul(y, z))) as tf.Scalar;
    const metrics = {
      'prm/loss': scalarValue(loss),
      'prm/accuracy': scalarValue(
        tf.mean(tf.cast(tf.equal(tf.cast(tf.greater(z, 0), 'float32'), y), 'float32')),
      ),
    };
    return { loss, metrics };
  });
}
