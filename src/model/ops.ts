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

/**
 * Pre-LayerNorm over the last axis: x [N, d], gamma/beta [d]. Fused gradient: the backward keeps only
 * x_hat and 1/sigma (not every elementwise intermediate), so a train step holds less and runs fewer kernels.
 */
export const layerNorm = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, gamma, beta, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
  const [y, xHat, rstd] = tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    const r = tf.rsqrt(tf.add(variance, 1e-5));
    const xh = tf.mul(tf.sub(x, mean), r);
    return [tf.add(tf.mul(xh, gamma), beta), xh, r];
  });
  save([xHat, rstd, gamma]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xh, r, g] = saved;
      const dxHat = tf.mul(dy, g);
      const dx = tf.mul(
        r,
        tf.sub(tf.sub(dxHat, tf.mean(dxHat, -1, true)), tf.mul(xh, tf.mean(tf.mul(dxHat, xh), -1, true))),
      );
      return [dx, tf.sum(tf.mul(dy, xh), 0), tf.sum(dy, 0)];
    },
  };
}) as (x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor2D;

/**
 * One causal attention head, softmax(q k^T + mask) v, with a fused gradient that keeps only the
 * probabilities: q [n, dh] (already scaled), kT [dh, m], v [m, dh], mask [n, m] or none -> [n, dh].
 */
export function attentionHead(
  q: tf.Tensor2D,
  kT: tf.Tensor2D,
  v: tf.Tensor2D,
  mask?: tf.Tensor2D,
): tf.Tensor2D {
  const head = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qi, kTi, vi, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const [o, p] = tf.tidy(() => {
      const scores = tf.matMul(qi, kTi);
      const probs = tf.softmax(mask ? tf.add(scores, mask) : scores) as tf.Tensor2D;
      return [tf.matMul(probs, vi), probs];
    });
    save([qi, kTi, vi, p]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, skT, sv, sp] = saved as tf.Tensor2D[];
        const dO = dy as tf.Tensor2D;
        const dP = tf.matMul(dO, tf.transpose(sv));
        const dS = tf.mul(sp, tf.sub(dP, tf.sum(tf.mul(dP, sp), -1, true))) as tf.Tensor2D;
        return [
          tf.matMul(dS, tf.transpose(skT)),
          tf.matMul(tf.transpose(sq), dS),
          tf.matMul(tf.transpose(sp), dO),
        ];
      },
    };
  }) as (q: tf.Tensor2D, kT: tf.Tensor2D, v: tf.Tensor2D) => tf.Tensor2D;
  return head(q, kT, v);
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

/**
 * The ReLU MLP relu(h W1 + b1) W2 + b2 with a fused gradient: the tape then holds one node (and one
 * output gradient) instead of five, and the backward keeps only h and relu(h W1 + b1).
 * Porting note: tfjs keeps every node's output gradient until backprop ends, so fewer nodes = less memory.
 */
export const mlp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [h, w1, b1, w2, b2, save] = args as [
    tf.Tensor2D,
    tf.Tensor2D,
    tf.Tensor1D,
    tf.Tensor2D,
    tf.Tensor1D,
    tf.GradSaveFunc,
  ];
  const [y, r] = tf.tidy(() => {
    const act = tf.relu(tf.add(tf.matMul(h, w1), b1)) as tf.Tensor2D;
    return [tf.add(tf.matMul(act, w2), b2), act];
  });
  save([h, r, w1, w2]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sh, sr, sw1, sw2] = saved as tf.Tensor2D[];
      const d = dy as tf.Tensor2D;
      const da = tf.mul(tf.matMul(d, tf.transpose(sw2)), tf.step(sr)) as tf.Tensor2D;
      return [
        tf.matMul(da, tf.transpose(sw1)),
        tf.matMul(tf.transpose(sh), da),
        tf.sum(da, 0),
        tf.matMul(tf.transpose(sr), d),
        tf.sum(d, 0),
      ];
    },
  };
}) as (h: tf.Tensor2D, w1: tf.Tensor2D, b1: tf.Tensor, w2: tf.Tensor2D, b2: tf.Tensor) => tf.Tensor2D;

/**
 * Causal multi-head self-attention sum_h softmax(h Wq_h (Wk_h^T h^T) + mask) h Wv_h Wo_h for one
 * sequence h [n, d], with per-head weights wq [d, dh] (pre-scaled), wkT [dh, d], wv [d, dh], wo [dh, d].
 * One tape node with a hand-written backward (every matmul non-transposed, see matMul2d).
 */
export function multiHeadAttention(
  h: tf.Tensor2D,
  wq: tf.Tensor2D[],
  wkT: tf.Tensor2D[],
  wv: tf.Tensor2D[],
  wo: tf.Tensor2D[],
  mask?: tf.Tensor2D,
): tf.Tensor2D {
  const H = wq.length;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [x, ...w] = args.slice(0, -1) as tf.Tensor2D[];
    const [y, ...perHead] = tf.tidy(() => {
      const xT = tf.transpose(x);
      const outs: tf.Tensor2D[] = [];
      const kept: tf.Tensor2D[] = [];
      for (let i = 0; i < H; i++) {
        const q = tf.matMul(x, w[i]) as tf.Tensor2D;
        const kT = tf.matMul(w[H + i], xT as tf.Tensor2D) as tf.Tensor2D;
        const v = tf.matMul(x, w[2 * H + i]) as tf.Tensor2D;
        const s = tf.matMul(q, kT);
        const p = tf.softmax(mask ? tf.add(s, mask) : s) as tf.Tensor2D;
        const o = tf.matMul(p, v) as tf.Tensor2D;
        outs.push(tf.matMul(o, w[3 * H + i]));
        kept.push(q, kT, v, p, o);
      }
      return [H === 1 ? outs[0] : tf.addN(outs), ...kept];
    });
    save([x, ...w, ...perHead]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, ...rest] = saved as tf.Tensor2D[];
        const W = rest.slice(0, 4 * H);
        const dY = dy as tf.Tensor2D;
        const xT = tf.transpose(sx);
        const dW: tf.Tensor2D[] = new Array(4 * H);
        const dx: tf.Tensor2D[] = [];
        for (let i = 0; i < H; i++) {
          const [q, kT, v, p, o] = rest.slice(4 * H + 5 * i, 4 * H + 5 * i + 5);
          dW[3 * H + i] = tf.matMul(tf.transpose(o), dY);
          const dO = tf.matMul(dY, tf.transpose(W[3 * H + i]));
          const dP = tf.matMul(dO, tf.transpose(v));
          const dS = tf.mul(p, tf.sub(dP, tf.sum(tf.mul(dP, p), -1, true))) as tf.Tensor2D;
          const dq = tf.matMul(dS, tf.transpose(kT));
          const dkT = tf.matMul(tf.transpose(q), dS);
          const dv = tf.matMul(tf.transpose(p), dO);
          dW[i] = tf.matMul(xT, dq);
          dW[H + i] = tf.matMul(dkT, sx);
          dW[2 * H + i] = tf.matMul(xT, dv);
          dx.push(
            tf.matMul(dq, tf.transpose(W[i])),
            tf.matMul(tf.transpose(dkT), W[H + i]),
            tf.matMul(dv, tf.transpose(W[2 * H + i])),
          );
        }
        return [tf.addN(dx), ...dW];
      },
    };
  }) as (...xs: tf.Tensor2D[]) => tf.Tensor2D;
  return f(h, ...wq, ...wkT, ...wv, ...wo);
}
