import * as tf from '@tensorflow/tfjs';
import { check } from '../errors';

/**
 * Shared tensor helpers of the losses. Segment sums use a 0/1 matrix and matMul rather than
 * tf.gather/unsortedSegmentSum, whose gradients the wasm backend lacks (DESIGN.md section 5).
 */

/** Checks that every tensor in `named` has exactly `shape`; the message names the offender. */
export function checkShapes(
  fn: string,
  shape: readonly number[],
  named: Record<string, tf.Tensor | undefined>,
): void {
  for (const [name, t] of Object.entries(named)) {
    if (t === undefined) continue;
    check(
      t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]),
      () => `${fn}: ${name} has shape [${t.shape.join(',')}], expected [${shape.join(',')}]`,
    );
  }
}

/** sum(x * mask) / max(sum(mask), 1): the token-mean aggregation over action tokens. x, mask [B,T] -> scalar. */
export function maskedMean(x: tf.Tensor, mask: tf.Tensor): tf.Scalar {
  return tf.div(tf.sum(tf.mul(x, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
}

/**
 * The [M, B] matrix S with S[m, b] = 1 when row b belongs to segment m (or 1 / count of segment m
 * when `average`), so that S @ x sums (averages) a per-row vector x [B] into segments [M].
 */
export function segmentMatrix(
  fn: string,
  index: readonly number[],
  numSegments: number,
  average = false,
): tf.Tensor2D {
  const B = index.length;
  const data = new Float32Array(numSegments * B);
  const counts = new Array<number>(numSegments).fill(0);
  index.forEach((m, b) => {
    check(
      Number.isInteger(m) && m >= 0 && m < numSegments,
      () => `${fn}: row ${b} maps to segment ${m}, outside [0, ${numSegments})`,
    );
    data[m * B + b] = 1;
    counts[m]++;
  });
  if (average)
    for (let m = 0; m < numSegments; m++)
      for (let b = 0; b < B; b++) if (counts[m] > 0) data[m * B + b] /= counts[m];
  return tf.tensor2d(data, [numSegments, B]);
}

/** Per-row sum of a masked [B,T] tensor: [B,T] -> [B]. */
export function rowSum(x: tf.Tensor, mask: tf.Tensor): tf.Tensor1D {
  return tf.sum(tf.mul(x, mask), 1) as tf.Tensor1D;
}

/**
 * Entropy of the policy at every position from its logits: H = -sum_v softmax(z)_v log softmax(z)_v.
 * logits [B,T,V] -> [B,T]. For the entropy bonus of ppoClipLoss.
 */
export function entropyFromLogits(logits: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    return tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)) as tf.Tensor2D;
  });
}

/** Reads a scalar tensor (metrics only; never inside a gradient path). */
export function scalarValue(t: tf.Tensor): number {
  return t.dataSync()[0];
}
