import * as tf from '@tensorflow/tfjs';

/**
 * 2-D matmul whose forward and backward only run non-transposed, batch-1 matmuls. Porting note: on
 * tfjs-backend-wasm only that case reaches XNNPACK's fast GEMM (~28 GFLOP/s here); transposed or
 * batched BatchMatMul falls back to a loop at 0.7-2 GFLOP/s, and tfjs's own MatMul gradient uses
 * transposed matmuls. Transposing the (small) operand explicitly is cheaper than the slow path.
 */
export const matMul2d = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as tf.Tensor2D[];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/** Pre-LayerNorm over the last axis: x [N, d], gamma/beta [d]. */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor, eps = 1e-5): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta);
}

/**
 * Additive causal mask [n, offset + n] for n new positions after `offset` cached ones: 0 where query
 * i may see key j (j <= offset + i), -1e9 elsewhere (a later token is never seen).
 */
export function causalMask(n: number, offset = 0): tf.Tensor2D {
  const cols = offset + n;
  const m = new Float32Array(n * cols);
  for (let i = 0; i < n; i++) for (let j = offset + i + 1; j < cols; j++) m[i * cols + j] = -1e9;
  return tf.tensor2d(m, [n, cols]);
}

/** One-hot rows [ids.length, depth] built in JS (float32, no gather: wasm has no gather gradient). */
export function oneHotRows(ids: readonly number[], depth: number, scale?: readonly number[]): tf.Tensor2D {
  const m = new Float32Array(ids.length * depth);
  for (let i = 0; i < ids.length; i++) m[i * depth + ids[i]] = scale ? scale[i] : 1;
  return tf.tensor2d(m, [ids.length, depth]);
}
