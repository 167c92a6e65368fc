import * as tf from '@tensorflow/tfjs';
import { buildActionBatch, type ContextAction } from './batch';
import { Prng } from './prng';
import type { TransformerLM } from './transformer';

export interface SftOptions {
  /** Passes over the demonstrations. Default 10. */
  epochs?: number;
  /** Demonstrations per AdamW step. Default 16. */
  batchSize?: number;
  /** Demonstrations per forward/backward pass (gradient accumulation bounds memory). Default 4. */
  microBatchSize?: number;
  /** Default 1e-3. */
  lr?: number;
  weightDecay?: number;
  /** Default 1.0 (DESIGN.md section 3). */
  maxGradNorm?: number;
  /** Shuffling seed. Default 0. */
  seed?: number;
  /**
   * Items the train accuracy is measured on (default: the training items); at most 1,024 of them are used.
   * Soft targets (weighted items) give a train set whose labels disagree; pass the expert-labelled states.
   */
  accuracyItems?: readonly ContextAction[];
  /** Stop early once held-out action accuracy reaches this. Default: never. */
  targetAccuracy?: number;
  /** Called after each epoch (progress / heartbeat). */
  onEpoch?: (m: SftEpochMetrics) => void;
  /** Awaited after every optimizer step with (step within the epoch, steps per epoch). */
  onStep?: (step: number, steps: number) => Promise<void> | void;
}

export interface SftEpochMetrics {
  epoch: number;
  /** Mean teacher-forced NLL per action token over the epoch's steps. */
  'sft/loss': number;
  /** Fraction of action tokens whose argmax prediction (teacher forced) is the demonstrated token. */
  'sft/train_token_accuracy': number;
  'sft/heldout_token_accuracy': number;
  /** Fraction of held-out actions whose every token is predicted (teacher forced). */
  'sft/heldout_action_accuracy': number;
}

/** Teacher-forced token and whole-action accuracy of the argmax prediction on `items`. */
export function actionAccuracy(
  model: TransformerLM,
  items: readonly ContextAction[],
  batchSize = 32,
): { token: number; action: number } {
  let right = 0;
  let total = 0;
  let exact = 0;
  for (let i = 0; i < items.length; i += batchSize) {
    const chunk = items.slice(i, i + batchSize);
    const pred = model.greedyPredictions(buildActionBatch(chunk));
    chunk.forEach((it, b) => {
      const ok = it.action.map((tok, t) => pred[b][t] === tok);
      right += ok.filter(Boolean).length;
      total += ok.length;
      if (ok.every(Boolean)) exact++;
    });
  }
  return { token: total ? right / total : 0, action: items.length ? exact / items.length : 0 };
}

/**
 * Supervised fine-tuning on (context, action) demonstrations: loss only on the action tokens. Makes the
 * base policy from expert demonstrations (DESIGN.md section 5). Returns metrics per epoch.
 */
export async function sft(
  model: TransformerLM,
  train: readonly ContextAction[],
  heldOut: readonly ContextAction[],
  options: SftOptions = {},
): Promise<SftEpochMetrics[]> {
  if (train.length === 0) throw new Error('sft: no training demonstrations');
  const {
    epochs = 10,
    batchSize = 16,
    microBatchSize = 4,
    lr = 1e-3,
    weightDecay = 0,
    maxGradNorm = 1,
    seed = 0,
  } = options;
  const rng = new Prng(seed);
  const order = train.map((_, i) => i);
  const history: SftEpochMetrics[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    let lossSum = 0;
    let steps = 0;
    for (let i = 0; i < order.length; i += batchSize) {
      const items = order.slice(i, i + batchSize).map((k) => train[k]);
      // Each micro-batch's loss weighted by its share of the batch's (weighted) action tokens: the sum is
      // the batch's loss per action token.
      const tokens = (chunk: readonly ContextAction[]) =>
        chunk.reduce((n, it) => n + (it.weight ?? 1) * it.action.length, 0);
      const total = tokens(items);
      const micro: (() => tf.Scalar)[] = [];
      for (let j = 0; j < items.length; j += microBatchSize) {
        const chunk = items.slice(j, j + microBatchSize);
        const batch = buildActionBatch(chunk);
        const share = total > 0 ? tokens(chunk) / total : 0;
        const weights = chunk.map((it) => it.weight ?? 1);
        micro.push(() => tf.mul(model.actionNll(batch, weights), share) as tf.Scalar);
      }
      const { loss } = model.trainStep(micro, { lr, weightDecay, maxGradNorm });
      lossSum += loss;
      steps++;
      await options.onStep?.(steps, Math.ceil(order.length / batchSize));
    }
    const tr = actionAccuracy(model, (options.accuracyItems ?? train).slice(0, 1024));
    const ho = heldOut.length ? actionAccuracy(model, heldOut) : { token: NaN, action: NaN };
    const m: SftEpochMetrics = {
      epoch,
      'sft/loss': lossSum / steps,
      'sft/train_token_accuracy': tr.token,
      'sft/heldout_token_accuracy': ho.token,
      'sft/heldout_action_accuracy': ho.action,
    };
    history.push(m);
    options.onEpoch?.(m);
    if (options.targetAccuracy !== undefined && ho.action >= options.targetAccuracy) break;
  }

  return history;
}
