export { initBackend, currentBackend, BACKEND_NAMES, type BackendName, type BackendInfo } from './backend';
export { Tokenizer, SPECIAL_TOKENS, type TokenizerJSON, type TokenizerOptions } from './tokenizer';
export {
  type ModelConfig,
  type ImageConfig,
  defaultModelConfig,
  validateModelConfig,
  configMismatches,
  numPatches,
} from './config';
export { countParams } from './params';
export { buildActionBatch, validateBatch, PAD_ID, type TokenBatch, type ContextAction } from './batch';
export { TransformerLM } from './transformer';
export { imagePatches } from './forward';
export { NonFiniteLossError, type AdamWOptions } from './optimizer';
export { type SampleOptions, type SampleResult } from './sample';
export { modelToCheckpoint, modelFromCheckpoint, MODEL_KIND } from './checkpoint';
export { sft, actionAccuracy, type SftOptions, type SftEpochMetrics } from './sft';
export { Prng } from './prng';
