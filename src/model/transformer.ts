import * as tf from '@tensorflow/tfjs';
import { buildActionBatch, type ContextAction, type TokenBatch, validateBatch } from './batch';
import { configMismatches, type ModelConfig, numPatches, validateModelConfig } from './config';
import {
  appendCopyKeys,
  blockCausalMask,
  copyKeys,
  decodeStep,
  hidden,
  type KvCache,
  outputLogits,
  packedHidden,
  packSequences,
  prepare,
} from './forward';
import { matMul2d, oneHotRows } from './ops';
import {
  adamWStep,
  type AdamWOptions,
  type AdamWState,
  createAdamWState,
  NonFiniteLossError,
} from './optimizer';
import { initParam, paramSpecs } from './params';
import { Prng } from './prng';
import { sampleTokens, type SampleOptions, type SampleResult } from './sample';
import type { Tokenizer } from './tokenizer';

let instances = 0;

/**
 * Decoder-only transformer LM (pre-LayerNorm, causal multi-head attention, learned positions, tied
 * input/output embeddings, ReLU MLP). Policy, implicit PRM and reference are three instances.
 * Sequences are packed back to back into 2-D tensors (no padding compute; every matmul stays on the
 * fast non-batched GEMM path of the wasm backend) with a block-diagonal causal mask, so a batch of short
 * sequences costs a few large kernels instead of many small ones.
 */
export class TransformerLM {
  readonly config: ModelConfig;
  /** Tokenizer stored with the checkpoint (optional for tests that use raw ids). */
  tokenizer?: Tokenizer;
  /** AdamW steps taken. */
  step = 0;
  /**
   * Most positions run through one packed forward pass (packedHidden) in the teacher-forced methods
   * (tokenLogProbs, entropy, values, ...). Attention costs the square of it per head; 1 runs every
   * sequence on its own (the reference the benchmark compares against).
   */
  packRows = DEFAULT_PACK_ROWS;
  /**
   * The teacher-forced methods score (output head, log-softmax) only the positions that predict an action
   * token; true scores every position, as before (the reference the benchmark and the tests compare against).
   */
  scoreAllPositions = false;
  private readonly params = new Map<string, tf.Variable>();
  private readonly opt: AdamWState;
  private readonly id = instances++;
  private disposed = false;

  private constructor(config: ModelConfig, values: Map<string, Float32Array>, tokenizer?: Tokenizer) {
    this.config = validateModelConfig({ ...config });
    this.tokenizer = tokenizer;
    if (tokenizer && tokenizer.size !== config.vocabSize) {
      throw new Error(`tokenizer has ${tokenizer.size} tokens but config.vocabSize is ${config.vocabSize}`);
    }
    for (const spec of paramSpecs(this.config)) {
      const data = values.get(spec.name);
      if (!data) throw new Error(`missing parameter "${spec.name}"`);
      this.params.set(
        spec.name,
        tf.variable(tf.tensor(data, spec.shape, 'float32'), true, `lm${this.id}/${spec.name}`),
      );
    }
    this.opt = createAdamWState(this.params, `lm${this.id}`);
  }

  /** A freshly initialised model; same config and seed -> same weights on every backend. */
  static create(config: ModelConfig, seed = 0, tokenizer?: Tokenizer): TransformerLM {
    validateModelConfig(config);
    const rng = new Prng(seed);
    const values = new Map(paramSpecs(config).map((s) => [s.name, initParam(s, rng)]));
    return new TransformerLM(config, values, tokenizer);
  }

  /** Build from named float32 arrays (checkpoint loading). */
  static fromValues(
    config: ModelConfig,
    values: Map<string, Float32Array>,
    tokenizer?: Tokenizer,
  ): TransformerLM {
    return new TransformerLM(config, values, tokenizer);
  }

  /** Parameter and optimizer variables by name (optimizer state under `optimizer/<param>/m|v`). */
  namedVariables(): Map<string, tf.Variable> {
    const out = new Map(this.params);
    for (const [name, s] of this.opt.slots) {
      out.set(`optimizer/${name}/m`, s.m);
      out.set(`optimizer/${name}/v`, s.v);
    }
    return out;
  }

  numParams(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }

  clone(): TransformerLM {
    this.assertLive();
    const values = new Map([...this.params].map(([k, v]) => [k, v.dataSync() as Float32Array]));
    const copy = new TransformerLM(this.config, values, this.tokenizer);
    copy.step = this.step;
    for (const [name, s] of this.opt.slots) {
      const dst = copy.opt.slots.get(name)!;
      dst.m.assign(s.m);
      dst.v.assign(s.v);
    }
    return copy;
  }

  /**
   * Take the weights of `other` (same config), with fresh AdamW moments: a PRM started from pi_old again
   * (run config prmInit 'policy').
   */
  assignFrom(other: TransformerLM): void {
    this.assertLive();
    const mismatch = configMismatches(other.config, this.config);
    if (mismatch.length) throw new Error(`assignFrom: configs differ: ${mismatch.join('; ')}`);
    for (const [name, v] of this.params) v.assign(other.params.get(name)!);
    this.resetOptimizer();
  }

  /**
   * Forget the AdamW moments and step count, as when the model starts optimising a different objective
   * (the RL policy and the PRM made from an SFT base). Carried over, SFT's second moments (small: SFT ends
   * near a minimum) divide the new, larger gradients, and with the bias correction of step > 1000 already
   * gone the first RL steps move every weight several times the learning rate.
   */
  resetOptimizer(): void {
    this.assertLive();
    this.step = 0;
    for (const s of this.opt.slots.values()) {
      s.m.assign(tf.zerosLike(s.m));
      s.v.assign(tf.zerosLike(s.v));
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.params.values()) v.dispose();
    for (const s of this.opt.slots.values()) {
      s.m.dispose();
      s.v.dispose();
    }
  }

  /**
   * log pi(token_t | tokens_<t) at action positions, 0 elsewhere: [B, T], differentiable.
   * Summing a row gives log pi(action | context), the quantity in iStar eqs. (1), (2) and (6).
   */
  tokenLogProbs(batch: TokenBatch): tf.Tensor2D {
    const lengths = validateBatch(batch, this.config, 'tokenLogProbs');
    return this.perPosition(batch, lengths, (logits, next, mask) => [
      tokenLogProbRows(tf.logSoftmax(logits), next, mask, this.config.vocabSize),
    ])[0];
  }

  /**
   * tokenLogProbs and entropy from one forward pass (what the PPO loss with an entropy bonus needs):
   * { logProbs, entropy }, both [B, T], differentiable.
   */
  tokenLogProbsAndEntropy(batch: TokenBatch): { logProbs: tf.Tensor2D; entropy: tf.Tensor2D } {
    const lengths = validateBatch(batch, this.config, 'tokenLogProbsAndEntropy');
    const [logProbs, entropy] = this.perPosition(
      batch,
      lengths,
      (logits, next, mask) => {
        const ls = tf.logSoftmax(logits);
        return [tokenLogProbRows(ls, next, mask, this.config.vocabSize), entropyRows(ls, mask)];
      },
      2,
    );
    return { logProbs, entropy };
  }

  /** Plain per-action-token log-probs (no gradient): row b lists the action tokens of row b in order. */
  actionLogProbs(batch: TokenBatch): number[][] {
    const lp = this.tokenLogProbs(batch);
    const data = lp.arraySync();
    lp.dispose();
    return data.map((row, b) => row.filter((_, t) => batch.actionMask[b][t] === 1));
  }

  /** Entropy of the next-token distribution that predicts each action token: [B, T], 0 elsewhere. */
  entropy(batch: TokenBatch): tf.Tensor2D {
    const lengths = validateBatch(batch, this.config, 'entropy');
    return this.perPosition(batch, lengths, (logits, _next, mask) => [
      entropyRows(tf.logSoftmax(logits), mask),
    ])[0];
  }

  /** Argmax next-token prediction at each action position (teacher forcing), as plain arrays. */
  greedyPredictions(batch: TokenBatch): number[][] {
    const lengths = validateBatch(batch, this.config, 'greedyPredictions');
    const out = tf.tidy(
      () =>
        this.perPosition(batch, lengths, (logits) => [
          tf.cast(tf.argMax(logits, 1), 'float32') as tf.Tensor1D,
        ])[0],
    );
    const data = out.arraySync();
    out.dispose();
    return data.map((row, b) => row.filter((_, t) => batch.actionMask[b][t] === 1).map((x) => Math.round(x)));
  }

  /** Value head V(tokens_<=t) at every real position: [B, T], 0 on padding. Needs config.valueHead. */
  values(batch: TokenBatch): tf.Tensor2D {
    if (!this.config.valueHead)
      throw new Error('values(): this model has no value head (set config.valueHead = true)');
    const lengths = validateBatch(batch, this.config, 'values', false);
    const w = this.params.get('value_head/w')! as tf.Tensor2D;
    const bias = this.params.get('value_head/b')!;
    return this.packedRows(batch, lengths, 0, 1, (h) => [
      tf.reshape(tf.add(matMul2d(h, w), bias), [-1]) as tf.Tensor1D,
    ])[0];
  }

  /**
   * Teacher-forced negative log-likelihood per action token (SFT loss), a scalar:
   * -sum_b w_b sum_t log pi(a_bt | ...) / sum_b w_b |a_b|, with row weights `weights` (default: the items'
   * own `weight`, else 1), so that unweighted rows give the plain mean over action tokens.
   */
  actionNll(items: readonly ContextAction[] | TokenBatch, weights?: readonly number[]): tf.Scalar {
    const batch = 'tokens' in items ? items : buildActionBatch(items);
    const w = weights ?? ('tokens' in items ? batch.tokens.map(() => 1) : items.map((it) => it.weight ?? 1));
    if (w.length !== batch.tokens.length || w.some((x) => !(x >= 0) || !Number.isFinite(x)))
      throw new Error(`actionNll: need one finite weight >= 0 per row (${batch.tokens.length} rows)`);
    return tf.tidy(() => {
      const lp = tf.sum(this.tokenLogProbs(batch), 1);
      const n = batch.actionMask.reduce((s, row, b) => s + w[b] * row.reduce((a, x) => a + x, 0), 0);
      return tf.div(tf.neg(tf.sum(tf.mul(lp, tf.tensor1d([...w], 'float32')))), n) as tf.Scalar;
    });
  }

  /** Batched sampling for all contexts at once, with a per-sequence KV cache; see SampleOptions. */
  sample(contexts: number[][], options: SampleOptions): SampleResult {
    this.assertLive();
    const caches: KvCache[] = contexts.map(() => ({ kT: [], v: [], n: 0 }));
    try {
      return sampleTokens(this.config, contexts, options, (rows, pending) =>
        this.cachedLogits(
          rows.map((b) => caches[b]),
          pending,
          rows.map((b) => options.images?.[b]),
        ),
      );
    } finally {
      for (const cache of caches)
        tf.dispose([...cache.kT.flat(), ...cache.v.flat(), ...(cache.copyKT ? [cache.copyKT] : [])]);
    }
  }

  /**
   * One AdamW step with global-norm gradient clipping on the gradient of `lossFn`, or of the sum of
   * several micro-batch losses (gradient accumulation: peak memory is that of one micro-batch; scale
   * each micro-batch loss by its share). Throws NonFiniteLossError and leaves the weights untouched
   * when a loss or the gradient norm is NaN/Inf. Returns the summed loss and the pre-clip norm.
   * `accept`, called once every loss has run (so it can read what they recorded), may decline the update:
   * then the weights, the optimizer moments and the step count stay as they were (`applied: false`).
   */
  trainStep(
    lossFn: (() => tf.Scalar) | (() => tf.Scalar)[],
    options: AdamWOptions,
    accept?: () => boolean,
  ): { loss: number; gradNorm: number; applied: boolean } {
    this.assertLive();
    const fns = Array.isArray(lossFn) ? lossFn : [lossFn];
    if (fns.length === 0) throw new Error('trainStep: no loss functions');
    const vars = [...this.params.values()];
    const acc = new Map<string, tf.Tensor>();
    let loss = 0;
    try {
      for (const fn of fns) {
        const { value, grads } = tf.variableGrads(fn, vars);
        const part = value.dataSync()[0];
        value.dispose();
        loss += part;
        for (const [name, v] of this.params) {
          const g = grads[v.name];
          if (!g) continue;
          const prev = acc.get(name);
          acc.set(name, prev ? tf.tidy(() => tf.add(prev, g)) : g);
          if (prev) {
            prev.dispose();
            g.dispose();
          }
        }
        if (!Number.isFinite(part))
          throw new NonFiniteLossError(`loss is ${part} at step ${this.step}; weights left unchanged`);
      }
      if (accept && !accept()) return { loss, gradNorm: 0, applied: false };
      const gradNorm = adamWStep(this.params, this.opt, acc, this.step + 1, options);
      this.step++;
      return { loss, gradNorm, applied: true };
    } finally {
      tf.dispose([...acc.values()]);
    }
  }

  /** Feed each cached sequence its pending tokens; next-token logits [rows, V] as a flat Float32Array. */
  private cachedLogits(
    caches: KvCache[],
    pending: number[][],
    images: (Float32Array | undefined)[],
  ): Float32Array {
    const stale: tf.Tensor[] = [];
    const c = this.config;
    const logits = tf.tidy(() => {
      const prep = prepare(this.params, c);
      // The last new position of each row: its logits, and (copy head) its keys first joining the cache.
      const lastLogits = (cache: KvCache, h: tf.Tensor2D, tokens: number[]) => {
        if (c.copyHead) appendCopyKeys(this.params, cache, h, tokens, stale);
        const last = tf.slice(h, [tokens.length - 1, 0], [1, c.dModel]) as tf.Tensor2D;
        return outputLogits(
          this.params,
          c,
          prep,
          last,
          c.copyHead ? { keysT: cache.copyKT!, tokens: cache.copyTokens! } : undefined,
        );
      };
      if (caches.every((k, b) => k.n > 0 && pending[b].length === 1)) {
        const h = decodeStep(
          this.params,
          c,
          prep,
          caches,
          pending.map((p) => p[0]),
          stale,
        );
        if (!c.copyHead) return outputLogits(this.params, c, prep, h);
        return tf.concat(
          caches.map((cache, b) =>
            lastLogits(cache, tf.slice(h, [b, 0], [1, c.dModel]) as tf.Tensor2D, pending[b]),
          ),
          0,
        );
      }
      // One tidy per row: a row's prefill intermediates (attention scores T x T per head and layer) are freed
      // before the next row's, so the peak is one row's plus the caches, not every row's at once (256 WebShop
      // contexts of ~380 tokens overflowed the wasm heap).
      const rows = caches.map((cache, b) =>
        tf.tidy(() =>
          lastLogits(cache, hidden(this.params, c, prep, pending[b], images[b], cache, stale), pending[b]),
        ),
      );
      return tf.concat(rows, 0);
    });
    tf.dispose(stale);
    const data = logits.dataSync() as Float32Array;
    logits.dispose();
    return data;
  }

  /**
   * Runs `f` on the text logits (divided by the batch's temperature) of packs of rows (within a row,
   * position i predicts token i+1) with the
   * predicted tokens and their action-mask values, at the positions that predict an action token only (mask != 0),
   * and lays each of `f`'s per-position results out as [B, T] aligned with the predicted token (0 at position 0, on
   * padding and wherever the action mask is 0).
   */
  private perPosition(
    batch: TokenBatch,
    lengths: number[],
    f: (logits: tf.Tensor2D, next: number[], mask: number[]) => tf.Tensor1D[],
    outputs = 1,
  ): tf.Tensor2D[] {
    const counts = lengths.map((len) => (len >= 2 ? len - 1 : 0));
    const temperature = batch.temperature ?? 1;
    const tempered = (logits: tf.Tensor2D): tf.Tensor2D =>
      temperature === 1 ? logits : tf.div<tf.Tensor2D>(logits, temperature);
    return this.packedRows(batch, counts, 1, outputs, (h, pack, prep) => {
      const next = pack.flatMap((b) => batch.tokens[b].slice(1, lengths[b]));
      const mask = pack.flatMap((b) => batch.actionMask[b].slice(1, lengths[b]));
      // Only the action positions (mask != 0) are scored: every caller masks the others out, and the output
      // head (and the copy head's P x P x vocab mixture) at every position cost more than the rest on long
      // pages with few action tokens. Their results go back to their positions, 0 elsewhere.
      const copy = (keysFrom: tf.Tensor2D, rows?: number[]) => {
        if (!this.config.copyHead) return undefined;
        const causal = blockCausalMask(pack.map((b) => counts[b]));
        return {
          keysT: copyKeys(this.params, keysFrom),
          tokens: pack.flatMap((b) => batch.tokens[b].slice(0, counts[b])),
          mask: rows ? tf.gather(causal, tf.tensor1d(rows, 'int32')) : causal,
        };
      };
      if (this.scoreAllPositions)
        return f(tempered(outputLogits(this.params, this.config, prep, h, copy(h))), next, mask);
      const at = mask.flatMap((m, i) => (m !== 0 ? [i] : []));
      if (at.length === 0)
        return Array.from({ length: outputs }, () => tf.zeros([mask.length]) as tf.Tensor1D);
      // Selection by a one-hot [A, P] matrix product: differentiable on every backend (gather's gradient needs
      // UnsortedSegmentSum, which the wasm backend lacks).
      const select = oneHotRows(at, mask.length);
      const hAt = matMul2d(select, h);
      const results = f(
        tempered(outputLogits(this.params, this.config, prep, hAt, copy(h, at))),
        at.map((i) => next[i]),
        at.map((i) => mask[i]),
      );
      return results.map(
        (r) => tf.reshape(tf.matMul(select, tf.reshape(r, [at.length, 1]), true, false), [-1]) as tf.Tensor1D,
      );
    });
  }

  /**
   * packedHidden over the first `counts[b]` tokens of every row with counts[b] > 0, in packs of at most
   * `packRows` positions; `f` maps a pack's hidden states (and its rows, in order) to per-position
   * vectors, which are cut back into rows, shifted right by `shift`, zero-padded to [B, T] and stacked
   * (a row with count 0 is all zeros).
   */
  private packedRows(
    batch: TokenBatch,
    counts: number[],
    shift: number,
    outputs: number,
    f: (h: tf.Tensor2D, pack: number[], prep: ReturnType<typeof prepare>) => tf.Tensor1D[],
  ): tf.Tensor2D[] {
    this.assertLive();
    const T = batch.tokens[0].length;
    return tf.tidy(() => {
      const prep = prepare(this.params, this.config);
      const live = counts.flatMap((n, b) => (n > 0 ? [b] : []));
      const rows: tf.Tensor[][] = Array.from({ length: outputs }, () => []);
      const packs = packSequences(
        live.map((b) => numPatches(this.config) + counts[b]),
        this.packRows,
      ).map((pack) => pack.map((i) => live[i]));
      for (const pack of packs) {
        const h = packedHidden(
          this.params,
          this.config,
          prep,
          pack.map((b) => ({ tokens: batch.tokens[b].slice(0, counts[b]), image: batch.images?.[b] })),
        );
        f(h, pack, prep).forEach((r, k) => {
          let offset = 0;
          for (const b of pack) {
            rows[k][b] = tf.pad(tf.slice(r, [offset], [counts[b]]), [[shift, T - shift - counts[b]]]);
            offset += counts[b];
          }
        });
      }
      return rows.map(
        (perRow) => tf.stack(batch.tokens.map((_, b) => perRow[b] ?? tf.zeros([T]))) as tf.Tensor2D,
      );
    });
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('this TransformerLM was disposed');
  }
}

/**
 * Default TransformerLM.packRows. Measured (wasm, PPO minibatch of 4 x 8 steps): board-only Sokoban steps
 * (~48 tokens) train 1.4-1.7x faster packed by 5 than one by one, with 256 beating 128 and 512; 150-token
 * contexts stay one per pack (packing them costs more attention than it saves in kernel launches).
 */
const DEFAULT_PACK_ROWS = 256;

/** log softmax at each row's next token, weighted by `mask` (0 leaves the row out): [rows]. */
function tokenLogProbRows(ls: tf.Tensor2D, next: number[], mask: number[], vocab: number): tf.Tensor1D {
  return tf.sum(tf.mul(ls, oneHotRows(next, vocab, mask)), 1);
}

/** Entropy -sum_v p_v log p_v of each row's distribution, times `mask`: [rows]. */
function entropyRows(ls: tf.Tensor2D, mask: number[]): tf.Tensor1D {
  return tf.mul(tf.neg(tf.sum(tf.mul(tf.exp(ls), ls), 1)), tf.tensor1d(mask, 'float32'));
}
