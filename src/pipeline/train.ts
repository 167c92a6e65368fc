import * as tf from '@tensorflow/tfjs';
import {
  labelPreferences,
  ppoClipLoss,
  prmDpoLoss,
  primePrmLoss,
  valueLoss,
  type PreferencePair,
  type RolloutBatch,
  type StepValues,
  type TokenValues,
} from '../algo';
import { Prng, type TransformerLM } from '../model';
import { rowsBatch, scatterToActions, stepRows, type StepRow } from './rows';
import { mixSeed, type RunSetup } from './setup';

/**
 * The training loops of an iteration (DESIGN.md section 3, steps 3 and 5). Each is a deterministic list
 * of optimizer steps, so a retried attempt that restores the model saved after step k continues at
 * k + 1 and reaches the same weights (`startStep`, `onStep`).
 */

export interface LoopOptions {
  /** First optimizer step to run (0 = from the start); earlier steps are skipped. */
  startStep?: number;
  /** Awaited after every optimizer step: heartbeat, partial checkpoint. */
  onStep?: (step: number, total: number, metrics: Record<string, number>) => Promise<void> | void;
}

export interface LoopResult {
  steps: number;
  metrics: Record<string, number>;
}

function meanMetrics(history: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of history)
    for (const [k, v] of Object.entries(m)) out[k] = (out[k] ?? 0) + v / history.length;
  return out;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const rng = new Prng(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * Preference pairs of a batch (iStar section 3.1): success for binary envs, the threshold for scored ones;
 * with run config `preferences: 'return'`, every trajectory over each of its group's lower-return ones.
 */
export function preferencePairs(setup: RunSetup, batch: RolloutBatch) {
  if (setup.config.preferences === 'return')
    return labelPreferences(batch, { mode: 'ranking', by: 'outcomeReward', margin: 1e-6 });
  const threshold = setup.spec.successThreshold;
  return threshold === undefined
    ? labelPreferences(batch, { mode: 'success' })
    : labelPreferences(batch, { mode: 'threshold', threshold });
}

/** Rows of the given trajectories (local trajectory index = position in `trajectories`). */
function rowsOfTrajectories(
  batch: RolloutBatch,
  trajectories: readonly [number, number][],
): { rows: StepRow[]; local: number[] } {
  const rows: StepRow[] = [];
  const local: number[] = [];
  trajectories.forEach(([g, t], k) => {
    batch.groups[g].trajectories[t].steps.forEach((_, s) => {
      rows.push({ group: g, trajectory: t, step: s, trajectoryIndex: k });
      local.push(k);
    });
  });
  return { rows, local };
}

/** Consecutive slices of at most `size` items. */
function microBatches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Per-action-token log-probs of `rows` under `model`, forward only, `chunk` sequences at a time. */
function actionLogProbsChunked(
  setup: RunSetup,
  model: TransformerLM,
  batch: RolloutBatch,
  rows: readonly StepRow[],
  chunk: number,
): number[][] {
  return microBatches(rows, chunk).flatMap((part) => model.actionLogProbs(rowsBatch(setup, batch, part)));
}

function oldLogProbMatrix(
  batch: RolloutBatch,
  rows: readonly StepRow[],
  tb: ReturnType<typeof rowsBatch>,
): number[][] {
  return scatterToActions(
    tb,
    rows.map((r) => batch.groups[r.group].trajectories[r.trajectory].steps[r.step].oldLogProbs),
  );
}

/**
 * Implicit PRM update, iStar eq. (2): trajectory DPO against pi_old over the pairs of each group; one
 * optimizer step per group with pairs, `prmEpochs` passes. PRIME instead: cross-entropy of
 * sigmoid(beta * sum r) against the binary outcome, with `reference` as pi_ref.
 */
export async function trainPrm(
  setup: RunSetup,
  prm: TransformerLM,
  batch: RolloutBatch,
  iteration: number,
  options: LoopOptions & { reference?: TransformerLM; pairs?: PreferencePair[] } = {},
): Promise<LoopResult> {
  const { config, algorithm } = setup;
  const prime = algorithm.stages.prmLoss === 'prime-ce';
  const pairs = options.pairs ?? preferencePairs(setup, batch).pairs;
  // One unit of work per group: its pairs (DPO) or all its trajectories (PRIME).
  const units = batch.groups
    .map((g, gi) => ({ group: gi, pairs: pairs.filter((p) => p.group === gi), size: g.trajectories.length }))
    .filter((u) => prime || u.pairs.length > 0);
  const plan: (typeof units)[number][] = [];
  for (let epoch = 0; epoch < config.prmEpochs; epoch++)
    plan.push(...shuffled(units, mixSeed(config.seed, iteration, 17, epoch)));
  const history: Record<string, number>[] = [];
  // Held-out accuracy (progressive validation): in the first pass each group is scored before the PRM
  // has been updated on it, so its accuracy there is that of a PRM that has not seen its trajectories.
  let heldout = { right: 0, total: 0 };
  for (let step = options.startStep ?? 0; step < plan.length; step++) {
    const unit = plan[step];
    const trajectories = batch.groups[unit.group].trajectories.map(
      (_, t) => [unit.group, t] as [number, number],
    );
    const { rows, local } = rowsOfTrajectories(batch, trajectories);
    // Pass 1 (no gradient): each trajectory's summed log-probs under the PRM, pi_old and (PRIME) pi_ref,
    // then dL/dX of the tested loss at X = those sums: the weight of every row's log-probs in the gradient.
    const rowSum = (lp: readonly number[]) => lp.reduce((a, b) => a + b, 0);
    const prmRows = actionLogProbsChunked(setup, prm, batch, rows, config.microBatchSteps).map(rowSum);
    const oldRows = rows.map((r) =>
      rowSum(batch.groups[r.group].trajectories[r.trajectory].steps[r.step].oldLogProbs),
    );
    const refRows =
      prime && options.reference
        ? actionLogProbsChunked(setup, options.reference, batch, rows, config.microBatchSteps).map(rowSum)
        : oldRows;
    const M = trajectories.length;
    const stepsOf = Array.from({ length: M }, (_, k) => local.filter((l) => l === k).length);
    // 'mean' (released code) averages the step log-ratios of a trajectory instead of summing them.
    const scale = (k: number) => (!prime && config.prmLogRatio === 'mean' ? 1 / stepsOf[k] : 1);
    const perTrajectory = (values: number[]) => {
      const out = new Array<number>(M).fill(0);
      values.forEach((v, i) => (out[local[i]] += v * scale(local[i])));
      return out;
    };
    const X = perTrajectory(prmRows);
    const base = perTrajectory(prime ? refRows : oldRows);
    const identity = Array.from({ length: M }, (_, k) => k);
    let metrics: Record<string, number> = {};
    const weights = tf.tidy(() => {
      const baseT = tf.tensor2d(base, [M, 1]);
      const ones = tf.ones([M, 1]) as tf.Tensor2D;
      const lossOf = (x: tf.Tensor) => {
        const result = prime
          ? primePrmLoss({
              prmLogProbs: x as tf.Tensor2D,
              refLogProbs: baseT,
              actionMask: ones,
              stepToTrajectory: identity,
              numTrajectories: M,
              outcomes: trajectories.map(([g, t]) => (batch.groups[g].trajectories[t].success ? 1 : 0)),
              beta: config.beta,
            })
          : prmDpoLoss({
              prmLogProbs: x as tf.Tensor2D,
              oldLogProbs: baseT,
              actionMask: ones,
              stepToTrajectory: identity,
              numTrajectories: M,
              pairs: { pos: unit.pairs.map((p) => p.pos), neg: unit.pairs.map((p) => p.neg) },
              beta: config.beta,
              aggregation: 'sum',
            });
        metrics = result.metrics;
        return result.loss;
      };
      return Array.from(
        tf
          .grad(lossOf)(tf.tensor2d(X, [M, 1]))
          .dataSync(),
      );
    });
    // Pass 2: micro-batches of rows; the surrogate sum_rows w * log pi_phi(row) has the exact gradient of L.
    const rowWeight = rows.map((_, i) => weights[local[i]] * scale(local[i]));
    const lossFns = microBatches(
      rows.map((_, i) => i),
      config.microBatchSteps,
    ).map((idx) => () => {
      const tb = rowsBatch(
        setup,
        batch,
        idx.map((i) => rows[i]),
      );
      return tf.tidy(() => {
        const perRow = tf.sum(prm.tokenLogProbs(tb), 1);
        return tf.sum(tf.mul(perRow, tf.tensor1d(idx.map((i) => rowWeight[i])))) as tf.Scalar;
      });
    });
    const { gradNorm } = prm.trainStep(lossFns, {
      lr: warmedUpLr(config.prmLr, prm.step, config.lrWarmupSteps),
      maxGradNorm: config.maxGradNorm,
      eps: config.adamEps,
    });
    if (step < units.length) {
      const n = prime ? unit.size : unit.pairs.length;
      heldout = { right: heldout.right + metrics['prm/accuracy'] * n, total: heldout.total + n };
    }
    metrics = { ...metrics, 'prm/grad_norm': gradNorm };
    history.push(metrics);
    await options.onStep?.(step + 1, plan.length, metrics);
  }
  return {
    steps: plan.length,
    metrics: {
      ...meanMetrics(history),
      ...(heldout.total > 0 ? { 'prm/heldout_accuracy': heldout.right / heldout.total } : {}),
      'prm/pairs': pairs.length,
      'prm/updates': plan.length,
    },
  };
}

export interface PolicyTargets {
  /** A of every action token, [G][N][S_i][L_it]. */
  advantages: TokenValues;
  /** PPO value targets [G][N][S_i] and the value head's outputs at rollout time. */
  returns?: StepValues;
  oldValues?: StepValues;
}

/** A [B,T] one-hot of the last context position of each row (where V(c_t) is read). */
function valuePositions(batch: RolloutBatch, rows: readonly StepRow[], T: number): number[][] {
  return rows.map((r) => {
    const at = batch.groups[r.group].trajectories[r.trajectory].steps[r.step].context.length - 1;
    return Array.from({ length: T }, (_, t) => (t === at ? 1 : 0));
  });
}

/**
 * Weight of every trajectory's steps in the policy loss: 1 (`uniform`, token-mean as in the paper) or the
 * batch's mean episode length over the episode's own (`per-trajectory`), so that each episode's steps add up
 * to the same weight whatever its length. [G][N].
 */
export function stepWeights(batch: RolloutBatch, mode: 'uniform' | 'per-trajectory'): number[][] {
  const lengths = batch.groups.map((g) => g.trajectories.map((t) => t.steps.length));
  if (mode === 'uniform') return lengths.map((g) => g.map(() => 1));
  const all = lengths.flat().filter((l) => l > 0);
  const mean = all.reduce((a, b) => a + b, 0) / Math.max(1, all.length);
  return lengths.map((g) => g.map((l) => (l > 0 ? mean / l : 0)));
}

/** The learning rate of optimizer step `done + 1`: linear warm-up over the first `warmupSteps` steps. */
export function warmedUpLr(lr: number, done: number, warmupSteps: number): number {
  return warmupSteps > 0 ? lr * Math.min(1, (done + 1) / warmupSteps) : lr;
}

/**
 * Policy update, iStar eq. (6): PPO-clip over minibatches of `miniBatchSteps` steps, `ppoEpochs` passes,
 * step-level ratio by default, dual clip, entropy bonus, optional k3 KL to `reference`, invalid-action
 * penalty; PPO adds the clipped value loss on the value head. With `targetKl`, minibatches whose approx-KL
 * from pi_old is already above it are skipped.
 */
export async function trainPolicy(
  setup: RunSetup,
  policy: TransformerLM,
  batch: RolloutBatch,
  targets: PolicyTargets,
  iteration: number,
  options: LoopOptions & { reference?: TransformerLM } = {},
): Promise<LoopResult> {
  const { config } = setup;
  const all = stepRows(batch);
  const plan: StepRow[][] = [];
  for (let epoch = 0; epoch < config.ppoEpochs; epoch++) {
    const order = shuffled(all, mixSeed(config.seed, iteration, 29, epoch));
    for (let i = 0; i < order.length; i += config.miniBatchSteps)
      plan.push(order.slice(i, i + config.miniBatchSteps));
  }
  const useValue =
    setup.algorithm.stages.needsValueHead && targets.returns !== undefined && targets.oldValues !== undefined;
  const history: Record<string, number>[] = [];
  const at = (r: StepRow) => batch.groups[r.group].trajectories[r.trajectory].steps[r.step];
  const weight = stepWeights(batch, config.stepWeighting);
  for (let step = options.startStep ?? 0; step < plan.length; step++) {
    const micro = microBatches(plan[step], config.microBatchSteps);
    const tokens = micro.map((rows) => rows.reduce((a, r) => a + at(r).action.length, 0));
    const total = tokens.reduce((a, b) => a + b, 0);
    let metrics: Record<string, number> = {};
    // Each micro-batch's token-mean loss weighted by its share of the minibatch's action tokens: the sum is
    // the minibatch's token-mean loss (eq. 6), with a bounded number of sequences per backward pass.
    const lossFns = micro.map((rows, m) => () => {
      const share = tokens[m] / total;
      const tb = rowsBatch(setup, batch, rows);
      const T = tb.tokens[0].length;
      return tf.tidy(() => {
        const mask = tf.tensor2d(tb.actionMask);
        // One forward pass for the log-probs and, when the bonus is on, the entropy.
        const { logProbs, entropy } =
          config.entropyCoef > 0
            ? policy.tokenLogProbsAndEntropy(tb)
            : { logProbs: policy.tokenLogProbs(tb), entropy: undefined };
        const result = ppoClipLoss({
          logProbs,
          oldLogProbs: tf.tensor2d(oldLogProbMatrix(batch, rows, tb)),
          advantages: tf.tensor2d(
            scatterToActions(
              tb,
              rows.map((r) =>
                targets.advantages[r.group][r.trajectory][r.step].map(
                  (a) => a * weight[r.group][r.trajectory],
                ),
              ),
            ),
          ),
          actionMask: mask,
          ratioLevel: config.ratioLevel,
          clipCoef: config.clipEps,
          dualClip: config.dualClip > 0 ? config.dualClip : null,
          entropy,
          entCoef: config.entropyCoef,
          refLogProbs:
            config.klCoef > 0 && options.reference ? options.reference.tokenLogProbs(tb) : undefined,
          klCoef: config.klCoef > 0 && options.reference ? config.klCoef : 0,
          invalidSteps: rows.map((r) => !at(r).valid),
          invalidActionPenalty: config.invalidPenalty,
        });
        let loss: tf.Scalar = result.loss;
        let parts = result.metrics;
        if (useValue) {
          const v = tf.sum(tf.mul(policy.values(tb), tf.tensor2d(valuePositions(batch, rows, T))), 1);
          const vl = valueLoss({
            values: v,
            oldValues: tf.tensor1d(rows.map((r) => targets.oldValues![r.group][r.trajectory][r.step])),
            returns: tf.tensor1d(rows.map((r) => targets.returns![r.group][r.trajectory][r.step])),
          });
          loss = tf.add(loss, vl.loss) as tf.Scalar;
          parts = { ...parts, ...vl.metrics };
        }
        for (const [k, v] of Object.entries(parts)) metrics[k] = (metrics[k] ?? 0) + v * share;
        return tf.mul(loss, share) as tf.Scalar;
      });
    });
    const { loss, gradNorm, applied } = policy.trainStep(
      lossFns,
      {
        lr: warmedUpLr(config.policyLr, policy.step, config.lrWarmupSteps),
        maxGradNorm: config.maxGradNorm,
        eps: config.adamEps,
        lrScale: config.embeddingLrScale === 1 ? undefined : { tok_emb: config.embeddingLrScale },
      },
      // The minibatch's approx-KL is that of the weights before this step (a pure function of them and the
      // minibatch), so a resumed attempt makes the same decisions.
      config.targetKl > 0 ? () => !(metrics['policy/approx_kl'] > config.targetKl) : undefined,
    );
    metrics = {
      ...metrics,
      'policy/loss': loss,
      'policy/grad_norm': gradNorm,
      'policy/skipped_updates': applied ? 0 : 1,
    };
    history.push(metrics);
    await options.onStep?.(step + 1, plan.length, metrics);
  }
  const skipped = history.reduce((a, m) => a + m['policy/skipped_updates'], 0);
  return {
    steps: plan.length,
    metrics: {
      ...meanMetrics(history),
      'policy/updates': plan.length - skipped,
      'policy/skipped_updates': skipped,
    },
  };
}
