import * as tf from '@tensorflow/tfjs';
import { type ModelConfig, Prng, TransformerLM } from '../../src/model';

export const TINY: ModelConfig = {
  vocabSize: 12,
  dModel: 16,
  nLayers: 2,
  nHeads: 2,
  dFF: 32,
  contextLength: 16,
};

/** A tiny model with weights scaled up so log-probs and gradients are far from uniform. */
export function tinyModel(config: ModelConfig = TINY, seed = 1, std = 0.3): TransformerLM {
  const model = TransformerLM.create(config, seed);
  const rng = new Prng(seed + 100);
  for (const [name, v] of model.namedVariables()) {
    if (name.startsWith('optimizer/')) continue;
    const data = new Float32Array(v.size).map(() => rng.normal() * std);
    if (name.endsWith('gamma')) data.forEach((x, i) => (data[i] = 1 + x));
    tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
  }
  return model;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
