import type { ModelConfig } from './config';
import { Prng } from './prng';

export interface SampleOptions {
  /** Softmax temperature; <= 1e-6 means argmax (ties -> lowest id). Default 1. */
  temperature?: number;
  /** Most tokens to generate per context (the stop token included). */
  maxTokens: number;
  /** Seed of the JS PRNG: same seed + same weights + same contexts -> same tokens. Default 0. */
  seed?: number;
  /** Generation of a row ends after it emits this token (e.g. <eos>). */
  stopTokenId?: number;
  /** One image per context for models with an image prefix. */
  images?: Float32Array[];
  /**
   * Report the log-probs of the tempered distribution that sampled, log softmax(logits / temperature)
   * (what tokenLogProbs gives for a batch with the same temperature), instead of temperature 1's.
   */
  temperedLogProbs?: boolean;
}

export interface SampleResult {
  /** [B][n_b] generated tokens per context (n_b <= maxTokens; ends with stopTokenId if it was emitted). */
  tokens: number[][];
  /**
   * [B][n_b] log pi(token | prefix) of each generated token under the model at temperature 1 (what
   * tokenLogProbs gives for the same tokens), or at the sampling temperature with `temperedLogProbs`:
   * pi_old's log-probs for iStar's ratios and rewards.
   */
  logProbs: number[][];
}

export function validateContexts(config: ModelConfig, contexts: number[][], options: SampleOptions): void {
  if (!Array.isArray(contexts) || contexts.length === 0)
    throw new Error('sample: contexts must be a non-empty number[][]');
  if (!Number.isInteger(options.maxTokens) || options.maxTokens < 1) {
    throw new Error(`sample: maxTokens must be a positive integer (got ${options.maxTokens})`);
  }
  contexts.forEach((ctx, b) => {
    if (!Array.isArray(ctx) || ctx.length === 0)
      throw new Error(`sample: context ${b} is empty (start it with <bos>)`);
    if (ctx.length > config.contextLength) {
      throw new Error(
        `sample: context ${b} has ${ctx.length} tokens but the model's window (contextLength) is ${config.contextLength}`,
      );
    }
    for (const id of ctx) {
      if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
        throw new Error(`sample: token id ${id} in context ${b} is out of range [0, ${config.vocabSize})`);
      }
    }
  });
  if (config.image && options.images?.length !== contexts.length) {
    throw new Error(
      `sample: this model takes one image per context; got ${options.images?.length ?? 0} for ${contexts.length}`,
    );
  }
}

/**
 * Autoregressive sampling of all contexts at once. `nextLogits(rows, pending)` feeds each listed row
 * the tokens it has not seen yet (first its context, then its last sampled token) and returns [rows, V]
 * logits. Rows stop at stopTokenId, after maxTokens, or when the window is full.
 */
export function sampleTokens(
  config: ModelConfig,
  contexts: number[][],
  options: SampleOptions,
  nextLogits: (rows: number[], pending: number[][]) => Float32Array,
): SampleResult {
  validateContexts(config, contexts, options);
  const temperature = options.temperature ?? 1;
  const rng = new Prng(options.seed ?? 0);
  const V = config.vocabSize;
  const seqs = contexts.map((c) => [...c]);
  const tokens: number[][] = contexts.map(() => []);
  const logProbs: number[][] = contexts.map(() => []);
  const done = contexts.map(() => false);
  const probs = new Float64Array(V);
  for (let step = 0; step < options.maxTokens; step++) {
    const active = seqs.map((_, b) => b).filter((b) => !done[b] && seqs[b].length < config.contextLength);
    if (active.length === 0) break;
    const logits = nextLogits(
      active,
      active.map((b) => (step === 0 ? seqs[b] : seqs[b].slice(-1))),
    );
    active.forEach((b, i) => {
      const row = logits.subarray(i * V, (i + 1) * V);
      let max = -Infinity;
      let argmax = 0;
      for (let j = 0; j < V; j++) if (row[j] > max) [max, argmax] = [row[j], j];
      let z = 0;
      for (let j = 0; j < V; j++) z += Math.exp(row[j] - max);
      const logZ = max + Math.log(z);
      let tok = argmax;
      let logZt = 0;
      if (temperature > 1e-6) {
        let zt = 0;
        for (let j = 0; j < V; j++) zt += probs[j] = Math.exp((row[j] - max) / temperature);
        logZt = Math.log(zt);
        let u = rng.next() * zt;
        tok = V - 1;
        for (let j = 0; j < V; j++) {
          u -= probs[j];
          if (u < 0) {
            tok = j;
            break;
          }
        }
      }
      seqs[b].push(tok);
      tokens[b].push(tok);
      const tempered = options.temperedLogProbs && temperature > 1e-6;
      logProbs[b].push(tempered ? (row[tok] - max) / temperature - logZt : row[tok] - logZ);
      if (tok === options.stopTokenId) done[b] = true;
    });
  }
  return { tokens, logProbs };
}
