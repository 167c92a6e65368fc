import * as tf from '@tensorflow/tfjs';
import { buildActionBatch, type ContextAction, type TokenBatch, validateBatch } from './batch';
import { type ModelConfig, numPatches, patchDim, validateModelConfig } from './config';
import { causalMask, layerNorm, matMul2d, oneHotRows } from './ops';
import { adamWStep, type AdamWOptions, type AdamWState, createAdamWState, NonFiniteLossError } from './optimizer';
import { initParam, paramSpecs } from './params';
import { Prng } from './prng';
import { sampleTokens, type SampleOptions, type SampleResult } from './sample';
import type { Tokenizer } from './tokenizer';

let instances = 0;

/** Weights sliced per head once per forward call, shared by every sequence of the batch. */
interface Prepared {
  embT: tf.Tensor2D;
  layers: {
    ln1: [tf.Tensor, tf.Tensor];
    wq: tf.Tensor2D[];
    wkT: tf.Tensor2D[];
    wv: tf.Tensor2D[];
    wo: tf.Tensor2D[];
    ln2: [tf.Tensor, tf.Tensor];
    w1: tf.Tensor2D;
    b1: tf.Tensor;
    w2: tf.Tensor2D;
    b2: tf.Tensor;
  }[];
  masks: Map<string, tf.Tensor2D>;
  pos: Map<string, tf.Tensor2D>;
}

/** Per-sequence keys (transposed, [dh, n]) and values ([n, dh]) by layer and head, for sampling. */
interface KvCache {
  kT: tf.Tensor2D[][];
  v: tf.Tensor2D[][];
  /** Positions (patches + tokens) already in the cache. */
  n: number;
}

/**
 * Decoder-only transformer LM (pre-LayerNorm, causal multi-head attention, learned positions, tied
 * input/output embeddings, ReLU MLP). Policy, implicit PRM and reference are three instances.
 * Each sequence runs as its own 2-D tensors: no padding compute, and every matmul stays on the
 * fast non-batched GEMM path of the wasm backend.
 */
export class TransformerLM {
  readonly config: ModelConfig;
  /** Tokenizer stored with the checkpoint (optional for tests that use raw ids). */
  tokenizer?: Tokenizer;
  /** AdamW steps taken. */
  step = 0;
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
      this.params.set(spec.name, tf.variable(tf.tensor(data, spec.shape, 'float32'), true, `lm${this.id}/${spec.name}`));
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
  static fromValues(config: ModelConfig, values: Map<string, Float32Array>, tokenizer?: Tokenizer): TransformerLM {
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
    return this.perPosition(batch, lengths, (logits, b, len) => {
      const ls = tf.logSoftmax(logits);
      const targets = batch.tokens[b].slice(1, len);
      const weights = batch.actionMask[b].slice(1, len);
      return tf.sum(tf.mul(ls, oneHotRows(targets, this.config.vocabSize, weights)), 1);
    });
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
    return this.perPosition(batch, lengths, (logits, b, len) => {
      const ls = tf.logSoftmax(logits);
      const mask = tf.tensor1d(batch.actionMask[b].slice(1, len), 'float32');
      return tf.mul(tf.neg(tf.sum(tf.mul(tf.exp(ls), ls), 1)), mask);
    });
  }

  /** Argmax next-token prediction at each action position (teacher forcing), as plain arrays. */
  greedyPredictions(batch: TokenBatch): number[][] {
    const lengths = validateBatch(batch, this.config, 'greedyPredictions');
    const out = tf.tidy(() => this.perPosition(batch, lengths, (logits) => tf.cast(tf.argMax(logits, 1), 'float32')));
    const data = out.arraySync();
    out.dispose();
    return data.map((row, b) => row.filter((_, t) => batch.actionMask[b][t] === 1).map((x) => Math.round(x)));
  }

  /** Value head V(tokens_<=t) at every real position: [B, T], 0 on padding. Needs config.valueHead. */
  values(batch: TokenBatch): tf.Tensor2D {
    if (!this.config.valueHead) throw new Error('values(): this model has no value head (set config.valueHead = true)');
    const lengths = validateBatch(batch, this.config, 'values', false);
    const T = batch.tokens[0].length;
    return tf.tidy(() => {
      const w = this.params.get('value_head/w')! as tf.Tensor2D;
      const bias = this.params.get('value_head/b')!;
      const prep = this.prepare();
      const rows = batch.tokens.map((tokens, b) => {
        const h = this.hidden(prep, tokens.slice(0, lengths[b]), batch.images?.[b]);
        const v = tf.reshape(tf.add(matMul2d(h, w), bias), [lengths[b]]);
        return tf.pad(v, [[0, T - lengths[b]]]);
      });
      return tf.stack(rows) as tf.Tensor2D;
    });
  }

  /** Teacher-forced mean negative log-likelihood of the action tokens (SFT loss), a scalar. */
  actionNll(items: readonly ContextAction[] | TokenBatch): tf.Scalar {
    const batch = 'tokens' in items ? items : buildActionBatch(items);
    return tf.tidy(() => {
      const lp = this.tokenLogProbs(batch);
      const n = batch.actionMask.reduce((s, row) => s + row.reduce((a, x) => a + x, 0), 0);
      return tf.div(tf.neg(tf.sum(lp)), n) as tf.Scalar;
    });
  }

  /** Batched sampling for all contexts at once, with a per-sequence KV cache; see SampleOptions. */
  sample(contexts: number[][], options: SampleOptions): SampleResult {
    this.assertLive();
    const caches: KvCache[] = contexts.map(() => ({ kT: [], v: [], n: 0 }));
    try {
      return sampleTokens(this.config, contexts, options, (rows, pending) => this.cachedLogits(rows.map((b) => caches[b]), pending, rows.map((b) => options.images?.[b])));
    } finally {
      for (const cache of caches) tf.dispose([...cache.kT.flat(), ...cache.v.flat()]);
    }
  }

  /**
   * One AdamW step with global-norm gradient clipping on the gradient of `lossFn`, or of the sum of
   * several micro-batch losses (gradient accumulation: peak memory is that of one micro-batch; scale
   * each micro-batch loss by its share). Throws NonFiniteLossError and leaves the weights untouched
   * when a loss or the gradient norm is NaN/Inf. Returns the summed loss and the pre-clip norm.
   */
  trainStep(lossFn: (() => tf.Scalar) | (() => tf.Scalar)[], options: AdamWOptions): { loss: number; gradNorm: number } {
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
        if (!Number.isFinite(part)) throw new NonFiniteLossError(`loss is ${part} at step ${this.step}; weights left unchanged`);
      }
      const gradNorm = adamWStep(this.params, this.opt, acc, this.step + 1, options);
      this.step++;
      return { loss, gradNorm };
    } finally {
      tf.dispose([...acc.values()]);
    }
  }

  /** Feed each cached sequence its pending tokens; next-token logits [rows, V] as a flat Float32Array. */
  private cachedLogits(caches: KvCache[], pending: number[][], images: (Float32Array | undefined)[]): Float32Array {
    const stale: tf.Tensor[] = [];
    const logits = tf.tidy(() => {
      const prep = this.prepare();
      const rows = caches.map((cache, b) => {
        const h = this.hidden(prep, pending[b], images[b], cache, stale);
        return matMul2d(tf.slice(h, [pending[b].length - 1, 0], [1, this.config.dModel]), prep.embT);
      });
      return tf.concat(rows, 0);
    });
    tf.dispose(stale);
    const data = logits.dataSync() as Float32Array;
    logits.dispose();
    return data;
  }

  /** Runs `f` on each row's text logits [len-1, V] (position i predicts token i+1) and lays the [len-1] results out as [B, T] aligned with the predicted token. */
  private perPosition(batch: TokenBatch, lengths: number[], f: (logits: tf.Tensor2D, b: number, len: number) => tf.Tensor): tf.Tensor2D {
    this.assertLive();
    const T = batch.tokens[0].length;
    return tf.tidy(() => {
      const prep = this.prepare();
      const rows = batch.tokens.map((tokens, b) => {
        const len = lengths[b];
        if (len < 2) return tf.zeros([T]);
        const h = this.hidden(prep, tokens.slice(0, len - 1), batch.images?.[b]);
        const r = f(matMul2d(h, prep.embT), b, len);
        return tf.pad(r, [[1, T - len]]);
      });
      return tf.stack(rows) as tf.Tensor2D;
    });
  }

  private prepare(): Prepared {
    const c = this.config;
    const p = (n: string) => this.params.get(n)!;
    const dh = c.dModel / c.nHeads;
    const heads = (w: tf.Tensor, rows: number, cols: number) =>
      Array.from({ length: c.nHeads }, (_, h) => tf.reshape(tf.slice(w, [h, 0, 0], [1, rows, cols]), [rows, cols]) as tf.Tensor2D);
    return {
      embT: tf.transpose(p('tok_emb')) as tf.Tensor2D,
      layers: Array.from({ length: c.nLayers }, (_, l) => ({
        ln1: [p(`block${l}/ln1/gamma`), p(`block${l}/ln1/beta`)],
        // 1/sqrt(d_head) folded into the query weights.
        wq: heads(p(`block${l}/attn/wq`), c.dModel, dh).map((w) => tf.mul(w, 1 / Math.sqrt(dh))),
        wkT: heads(p(`block${l}/attn/wk_t`), dh, c.dModel),
        wv: heads(p(`block${l}/attn/wv`), c.dModel, dh),
        wo: heads(p(`block${l}/attn/wo`), dh, c.dModel),
        ln2: [p(`block${l}/ln2/gamma`), p(`block${l}/ln2/beta`)],
        w1: p(`block${l}/mlp/w1`) as tf.Tensor2D,
        b1: p(`block${l}/mlp/b1`),
        w2: p(`block${l}/mlp/w2`) as tf.Tensor2D,
        b2: p(`block${l}/mlp/b2`),
      })),
      masks: new Map(),
      pos: new Map(),
    };
  }

  /**
   * Final-LayerNorm hidden states of the new text positions of one sequence: [tokens.length, d].
   * With a KV cache, `tokens` continue the cached sequence and their keys/values are appended to it
   * (tensors kept; the replaced ones are pushed to `stale` for the caller to dispose).
   */
  private hidden(prep: Prepared, tokens: number[], image?: Float32Array, cache?: KvCache, stale?: tf.Tensor[]): tf.Tensor2D {
    const c = this.config;
    const start = cache?.n ?? 0;
    const P = start === 0 ? numPatches(c) : 0;
    const n = P + tokens.length;
    let x = matMul2d(oneHotRows(tokens, c.vocabSize), this.params.get('tok_emb')! as tf.Tensor2D);
    if (P > 0) x = tf.concat([matMul2d(imagePatches(c, image!), this.params.get('patch_proj')! as tf.Tensor2D), x], 0);
    const key = `${start}:${n}`;
    let pos = prep.pos.get(key);
    if (!pos) prep.pos.set(key, (pos = tf.slice(this.params.get('pos_emb')!, [start, 0], [n, c.dModel]) as tf.Tensor2D));
    let mask = prep.masks.get(key);
    if (!mask && n > 1) prep.masks.set(key, (mask = causalMask(n, start)));
    x = tf.add(x, pos);
    prep.layers.forEach((L, l) => {
      const h = layerNorm(x, L.ln1[0], L.ln1[1]);
      const hT = tf.transpose(h) as tf.Tensor2D;
      const heads = L.wq.map((wq, i) => {
        const q = matMul2d(h, wq);
        let kT = matMul2d(L.wkT[i], hT);
        let v = matMul2d(h, L.wv[i]);
        if (cache) {
          if (start > 0) {
            stale!.push(cache.kT[l][i], cache.v[l][i]);
            kT = tf.concat([cache.kT[l][i], kT], 1);
            v = tf.concat([cache.v[l][i], v], 0);
          }
          (cache.kT[l] ??= [])[i] = tf.keep(kT);
          (cache.v[l] ??= [])[i] = tf.keep(v);
        }
        const scores = matMul2d(q, kT);
        const att = tf.softmax(mask ? tf.add(scores, mask) : scores) as tf.Tensor2D;
        return matMul2d(matMul2d(att, v), L.wo[i]);
      });
      x = tf.add(x, tf.addN(heads));
      const h2 = layerNorm(x, L.ln2[0], L.ln2[1]);
      x = tf.add(x, tf.add(matMul2d(tf.relu(tf.add(matMul2d(h2, L.w1), L.b1)) as tf.Tensor2D, L.w2), L.b2));
    });
    if (cache) cache.n = start + n;
    x = layerNorm(x, this.params.get('ln_f/gamma')!, this.params.get('ln_f/beta')!);
    return P > 0 ? (tf.slice(x, [P, 0], [tokens.length, c.dModel]) as tf.Tensor2D) : x;
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('this TransformerLM was disposed');
  }
}

/** Cut an HWC image into row-major patches, each flattened as (py, px, channel): [numPatches, patchDim]. */
export function imagePatches(c: ModelConfig, image: Float32Array): tf.Tensor2D {
  const im = c.image!;
  const p = im.patchSize;
  const per = patchDim(c);
  const cols = im.width / p;
  const out = new Float32Array(numPatches(c) * per);
  let o = 0;
  for (let pr = 0; pr < im.height / p; pr++) {
    for (let pc = 0; pc < cols; pc++) {
      for (let y = 0; y < p; y++) {
        const start = ((pr * p + y) * im.width + pc * p) * im.channels;
        out.set(image.subarray(start, start + p * im.channels), o);
        o += p * im.channels;
      }
    }
  }
  return tf.tensor2d(out, [numPatches(c), per]);
}
