import * as tf from '@tensorflow/tfjs';
import type { CheckpointContent, NamedTensor } from '../storage/checkpoint-format';
import { configMismatches, type ModelConfig, validateModelConfig } from './config';
import { initParam, paramSpecs } from './params';
import { Prng } from './prng';
import { Tokenizer, type TokenizerJSON } from './tokenizer';
import { TransformerLM } from './transformer';

export const MODEL_KIND = 'istar-transformer-lm/1';

/**
 * Weights, AdamW moments (`optimizer/<param>/m|v`), tokenizer, model config and optimizer step as the
 * store's CheckpointContent. `step` is the caller's step/iteration; the optimizer's own step is in meta.
 */
export function modelToCheckpoint(
  model: TransformerLM,
  options: { step: number; meta?: Record<string, unknown> },
): CheckpointContent {
  const tensors: NamedTensor[] = [];
  for (const [name, v] of model.namedVariables()) {
    tensors.push({
      name,
      shape: [...v.shape],
      dtype: 'float32',
      data: new Float32Array(v.dataSync() as Float32Array),
    });
  }
  return {
    tensors,
    step: options.step,
    config: { ...model.config },
    meta: {
      ...options.meta,
      model: MODEL_KIND,
      optimizerStep: model.step,
      ...(model.tokenizer ? { tokenizer: model.tokenizer.toJSON() } : {}),
    },
  };
}

/**
 * Rebuild a model (weights, optimizer state, tokenizer, step) from checkpoint content. Throws naming
 * every mismatching field when the stored config differs from `expected`, and naming any missing or
 * misshapen tensor.
 */
export function modelFromCheckpoint(
  content: CheckpointContent,
  expected: Partial<ModelConfig> = {},
): TransformerLM {
  const stored = content.config as ModelConfig;
  if (typeof stored !== 'object' || stored === null) throw new Error('checkpoint has no model config');
  // A policy without a value head (an SFT base) asked for with one (PPO) gains a freshly initialised head.
  const addValueHead = expected.valueHead === true && !stored.valueHead;
  const config: ModelConfig = addValueHead ? { ...stored, valueHead: true } : stored;
  const meta = content.meta ?? {};
  if (meta.model !== undefined && meta.model !== MODEL_KIND) {
    throw new Error(`checkpoint holds a "${String(meta.model)}", not a ${MODEL_KIND}`);
  }
  const mismatches = configMismatches(config, expected);
  if (mismatches.length)
    throw new Error(`checkpoint model config does not match the requested one: ${mismatches.join('; ')}`);
  validateModelConfig(config);
  const byName = new Map(content.tensors.map((t) => [t.name, t]));
  const fresh = new Prng(0);
  const take = (name: string, shape: number[]): Float32Array => {
    const t = byName.get(name);
    if (!t && addValueHead && name.startsWith('value_head/'))
      return initParam(
        paramSpecs(config).find((s) => s.name === name)!,
        fresh,
      );
    if (!t) throw new Error(`checkpoint is missing tensor "${name}"`);
    if (t.dtype !== 'float32' || JSON.stringify(t.shape) !== JSON.stringify(shape)) {
      throw new Error(`checkpoint tensor "${name}" is ${t.dtype}[${t.shape}], expected float32[${shape}]`);
    }
    return t.data as Float32Array;
  };
  const specs = paramSpecs(config);
  const values = new Map(specs.map((s) => [s.name, take(s.name, s.shape)]));
  const tokenizer = meta.tokenizer ? Tokenizer.fromJSON(meta.tokenizer as TokenizerJSON) : undefined;
  const model = TransformerLM.fromValues(config, values, tokenizer);
  model.step = typeof meta.optimizerStep === 'number' ? meta.optimizerStep : content.step;
  const vars = model.namedVariables();
  for (const s of specs) {
    for (const slot of ['m', 'v']) {
      const name = `optimizer/${s.name}/${slot}`;
      // Checkpoints of frozen models (reference) may omit optimizer state; it then starts at zero.
      if (byName.has(name)) vars.get(name)!.assign(tensorFrom(take(name, s.shape), s.shape));
    }
  }
  return model;
}

function tensorFrom(data: Float32Array, shape: number[]): tf.Tensor {
  return tf.tidy(() => tf.tensor(data, shape, 'float32'));
}
