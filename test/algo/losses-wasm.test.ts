import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { ppoClipLoss, prmDpoLoss, primePrmLoss, valueLoss } from '../../src/algo';

/**
 * The project's default backend is wasm, which lacks some gradients (DESIGN.md section 5). Every loss
 * must differentiate there and agree with the cpu backend.
 */
type Grad = () => number[][] | number[];

function cases(): Record<string, Grad> {
  const t2 = (r: number[][]) => tf.tensor2d(r);
  const lp = t2([
    [-0.5, -1, -7],
    [-0.3, -7, -7],
    [-1, -7, -7],
  ]);
  const old = t2([
    [-1, -2, -3],
    [-0.3, -3, -3],
    [-0.5, -3, -3],
  ]);
  const mask = t2([
    [1, 1, 0],
    [1, 0, 0],
    [1, 0, 0],
  ]);
  const A = t2([
    [1, 1, 1],
    [-2, -2, -2],
    [0.5, 0.5, 0.5],
  ]);
  const g = (f: (x: tf.Tensor2D) => tf.Scalar) => () =>
    tf
      .grad((x: tf.Tensor) => f(x as tf.Tensor2D))(lp)
      .arraySync() as number[][];
  return {
    prmDpoLoss: g(
      (x) =>
        prmDpoLoss({
          prmLogProbs: x,
          oldLogProbs: old,
          actionMask: mask,
          stepToTrajectory: [0, 0, 1],
          pairs: { pos: [0, 1], neg: [1, 0] },
        }).loss,
    ),
    primePrmLoss: g(
      (x) =>
        primePrmLoss({
          prmLogProbs: x,
          refLogProbs: old,
          actionMask: mask,
          stepToTrajectory: [0, 0, 1],
          outcomes: [1, 0],
        }).loss,
    ),
    ppoClipLoss: g(
      (x) =>
        ppoClipLoss({
          logProbs: x,
          oldLogProbs: old,
          advantages: A,
          actionMask: mask,
          dualClip: 3,
          entropy: tf.onesLike(x),
          refLogProbs: old,
          klCoef: 0.1,
          invalidSteps: [false, true, false],
        }).loss,
    ),
    valueLoss: () =>
      tf
        .grad(
          (v: tf.Tensor) =>
            valueLoss({ values: v, oldValues: tf.tensor1d([0.5, 0]), returns: tf.tensor1d([2, 0.1]) }).loss,
        )(tf.tensor1d([1, 0]))
        .arraySync() as number[],
  };
}

describe('losses on the wasm backend', () => {
  const cpu: Record<string, number[][] | number[]> = {};
  beforeAll(async () => {
    await tf.setBackend('cpu');
    for (const [name, f] of Object.entries(cases())) cpu[name] = f();
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it.each(['prmDpoLoss', 'primePrmLoss', 'ppoClipLoss', 'valueLoss'])(
    '%s has gradients on wasm equal to cpu',
    (name) => {
      expect(tf.getBackend()).toBe('wasm');
      const got = cases()[name]().flat();
      const want = cpu[name].flat();
      expect(want.some((x) => x !== 0)).toBe(true);
      got.forEach((x, i) => expect(x).toBeCloseTo(want[i], 5));
    },
  );
});
