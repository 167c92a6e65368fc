import * as tf from '@tensorflow/tfjs';

/** The loss (or gradient) of a train step was NaN/Inf. Not worth retrying: fix the data or the lr. */
export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
  readonly nonRetryable = true;
}

export interface AdamWOptions {
  /** Learning rate. */
  lr: number;
  /** Decoupled weight decay (AdamW, Loshchilov & Hutter 2019); applied to matrices only. Default 0. */
  weightDecay?: number;
  /** Clip the global gradient norm to this (DESIGN.md: 1.0). Default: no clipping. */
  maxGradNorm?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Per-parameter learning-rate multipliers by parameter name (default 1; 0 freezes the parameter). */
  lrScale?: Readonly<Record<string, number>>;
}

export interface AdamWState {
  slots: Map<string, { m: tf.Variable; v: tf.Variable }>;
}

/** First and second moments for every parameter, allocated up front so memory is flat from step 1. */
export function createAdamWState(params: Map<string, tf.Variable>, prefix: string): AdamWState {
  const slots = new Map<string, { m: tf.Variable; v: tf.Variable }>();
  for (const [name, p] of params) {
    slots.set(name, {
      m: tf.variable(tf.zerosLike(p), false, `${prefix}/optimizer/${name}/m`),
      v: tf.variable(tf.zerosLike(p), false, `${prefix}/optimizer/${name}/v`),
    });
  }
  return { slots };
}

/**
 * Clip gradients to `maxGradNorm` by their global L2 norm, then apply AdamW with bias correction
 * at step `t` (1-based). Returns the pre-clip global norm. Parameters without a gradient are left alone.
 */
export function adamWStep(
  params: Map<string, tf.Variable>,
  state: AdamWState,
  grads: Map<string, tf.Tensor>,
  t: number,
  options: AdamWOptions,
): number {
  const {
    lr,
    weightDecay = 0,
    maxGradNorm = Infinity,
    beta1 = 0.9,
    beta2 = 0.999,
    eps = 1e-8,
    lrScale = {},
  } = options;
  if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`lr must be a finite number >= 0 (got ${lr})`);
  const normT = tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))));
  const gradNorm = normT.dataSync()[0];
  normT.dispose();
  if (!Number.isFinite(gradNorm))
    throw new NonFiniteLossError(`gradient norm is ${gradNorm} at step ${t}; weights left unchanged`);
  const clip = gradNorm > maxGradNorm ? maxGradNorm / (gradNorm + 1e-6) : 1;
  const stepSize = (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
  tf.tidy(() => {
    for (const [name, g0] of grads) {
      const p = params.get(name)!;
      const s = state.slots.get(name)!;
      const g = clip === 1 ? g0 : tf.mul(g0, clip);
      s.m.assign(tf.add(tf.mul(s.m, beta1), tf.mul(g, 1 - beta1)));
      s.v.assign(tf.add(tf.mul(s.v, beta2), tf.mul(tf.square(g), 1 - beta2)));
      const scale = lrScale[name] ?? 1;
      if (scale === 0) continue; // frozen: moments kept, weights unchanged
      let update = tf.div(
        tf.mul(s.m, stepSize * scale),
        tf.add(tf.sqrt(s.v), eps * Math.sqrt(1 - beta2 ** t)),
      );
      // Decay matrices only (not gains, biases), as in GPT-2/nanoGPT.
      if (weightDecay > 0 && p.shape.length >= 2)
        update = tf.add(update, tf.mul(p, lr * scale * weightDecay));
      p.assign(tf.sub(p, update));
    }
  });
  return gradNorm;
}
