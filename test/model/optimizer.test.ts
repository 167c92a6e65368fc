import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/model';
import { adamWStep, createAdamWState } from '../../src/model/optimizer';

beforeAll(async () => {
  await initBackend('cpu');
});

/** One AdamW step from fresh moments on w = [1, 1] with gradient g; returns the new weights. */
function firstStep(g: number[], options: Parameters<typeof adamWStep>[4], name = 'w'): number[] {
  const params = new Map([[name, tf.variable(tf.tensor1d([1, 1]))]]);
  const state = createAdamWState(params, 'test');
  adamWStep(params, state, new Map([[name, tf.tensor1d(g)]]), 1, options);
  const out = Array.from(params.get(name)!.dataSync());
  params.get(name)!.dispose();
  for (const s of state.slots.values()) [s.m, s.v].forEach((v) => v.dispose());
  return out;
}

describe('AdamW first step (fresh moments): w -= lr * g / (|g| + eps)', () => {
  it('moves every weight by lr, however small its gradient, when eps is negligible', () => {
    const [a, b] = firstStep([0.5, 1e-6], { lr: 0.01, eps: 1e-12 });
    expect(a).toBeCloseTo(1 - 0.01, 6);
    expect(b).toBeCloseTo(1 - 0.01, 6);
  });

  it('with eps 1e-4 a weight whose gradient is 1e-6 moves 100x less than lr', () => {
    const [a, b] = firstStep([0.5, 1e-6], { lr: 0.01, eps: 1e-4 });
    expect(a).toBeCloseTo(1 - (0.01 * 0.5) / (0.5 + 1e-4), 6);
    expect(1 - b).toBeCloseTo((0.01 * 1e-6) / (1e-6 + 1e-4), 7); // 9.9e-5 (float32 weights)
  });

  it('lrScale multiplies the step of the named parameter; 0 leaves it unchanged', () => {
    expect(firstStep([0.5, -0.5], { lr: 0.01, eps: 1e-12, lrScale: { w: 0.1 } })).toEqual([
      expect.closeTo(0.999, 6),
      expect.closeTo(1.001, 6),
    ]);
    expect(firstStep([0.5, -0.5], { lr: 0.01, lrScale: { w: 0 } })).toEqual([1, 1]);
    expect(firstStep([0.5, -0.5], { lr: 0.01, eps: 1e-12, lrScale: { other: 0 } })).toEqual([
      expect.closeTo(0.99, 6),
      expect.closeTo(1.01, 6),
    ]);
  });
});
