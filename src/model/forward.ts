import * as tf from '@tensorflow/tfjs';
import { type LayoutConfig, type ModelConfig, numPatches, patchDim } from './config';
import { attentionHead, causalMask, layerNorm, matMul2d, mlp, multiHeadAttention, oneHotRows } from './ops';

/** The forward pass of TransformerLM, as functions of its parameters. */
type Params = Map<string, tf.Tensor>;

/** Weights sliced per head once per forward call, shared by every sequence of the batch. */
export interface Prepared {
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
export interface KvCache {
  kT: tf.Tensor2D[][];
  v: tf.Tensor2D[][];
  /** Positions (patches + tokens) already in the cache. */
  n: number;
  /** Line and column of the next text token (models with config.layout). */
  layout?: LayoutCursor;
  /** Copy-head keys ([d, text positions so far], transposed) and their tokens (models with config.copyHead). */
  copyKT?: tf.Tensor2D;
  copyTokens?: number[];
}

/** Line and column of the next text token. */
export interface LayoutCursor {
  row: number;
  col: number;
}

/**
 * Line/column table indices of `tokens` continuing a text at `from`, and the cursor after them
 * (ModelConfig.layout): a newline token ends its line (it sits at the line's end), every other token moves
 * one column right; indices are clipped to the tables.
 */
export function layoutIndices(
  layout: LayoutConfig,
  tokens: readonly number[],
  from: LayoutCursor = { row: 0, col: 0 },
): { rows: number[]; cols: number[]; next: LayoutCursor } {
  let { row, col } = from;
  const rows: number[] = [];
  const cols: number[] = [];
  for (const t of tokens) {
    rows.push(Math.min(row, layout.rows - 1));
    cols.push(Math.min(col, layout.cols - 1));
    if (t === layout.newlineId) {
      row++;
      col = 0;
    } else col++;
  }
  return { rows, cols, next: { row, col } };
}

/** Line/column indices of a sequence's positions: its image patches (their grid row/column), then its text. */
function sequenceLayout(
  c: ModelConfig,
  tokens: readonly number[],
  withPatches: boolean,
  from?: LayoutCursor,
): { rows: number[]; cols: number[]; next: LayoutCursor } {
  const layout = c.layout!;
  const text = layoutIndices(layout, tokens, from);
  if (!withPatches || !c.image) return text;
  const gridCols = c.image.width / c.image.patchSize;
  const P = numPatches(c);
  const clip = (i: number, n: number) => Math.min(i, n - 1);
  return {
    rows: [...Array.from({ length: P }, (_, i) => clip(Math.floor(i / gridCols), layout.rows)), ...text.rows],
    cols: [...Array.from({ length: P }, (_, i) => clip(i % gridCols, layout.cols)), ...text.cols],
    next: text.next,
  };
}

/** row_emb[rows] + col_emb[cols]: [rows.length, d]. */
function layoutEmbedding(params: Params, c: ModelConfig, rows: number[], cols: number[]): tf.Tensor2D {
  const layout = c.layout!;
  return tf.add(
    matMul2d(oneHotRows(rows, layout.rows), params.get('row_emb')! as tf.Tensor2D),
    matMul2d(oneHotRows(cols, layout.cols), params.get('col_emb')! as tf.Tensor2D),
  );
}

export function prepare(params: Params, c: ModelConfig): Prepared {
  const p = (n: string) => params.get(n)!;
  const dh = c.dModel / c.nHeads;
  const heads = (w: tf.Tensor, rows: number, cols: number) =>
    Array.from(
      { length: c.nHeads },
      (_, h) => tf.reshape(tf.slice(w, [h, 0, 0], [1, rows, cols]), [rows, cols]) as tf.Tensor2D,
    );
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

/** Copy-head keys of final hidden states h [n, d], transposed: [d, n]. */
export function copyKeys(params: Params, h: tf.Tensor2D): tf.Tensor2D {
  return matMul2d(params.get('copy/wk_t')! as tf.Tensor2D, tf.transpose(h) as tf.Tensor2D);
}

/** Append the copy-head keys of new text positions (hidden states h, tokens) to a sampling cache. */
export function appendCopyKeys(
  params: Params,
  cache: KvCache,
  h: tf.Tensor2D,
  tokens: readonly number[],
  stale: tf.Tensor[],
): void {
  const kT = copyKeys(params, h);
  if (cache.copyKT) stale.push(cache.copyKT);
  cache.copyKT = tf.keep(cache.copyKT ? (tf.concat([cache.copyKT, kT], 1) as tf.Tensor2D) : kT);
  (cache.copyTokens ??= []).push(...tokens);
}

/** What a copy head may copy from: keys [d, M] of M text positions, their tokens, and who sees whom. */
export interface CopySource {
  keysT: tf.Tensor2D;
  tokens: readonly number[];
  /** Additive [N, M] mask (0 visible, -1e9 hidden) for N query rows; absent: every row sees all M. */
  mask?: tf.Tensor2D;
}

/**
 * Next-token logits of final hidden states h [N, d]: h E^T (tied embeddings). With config.copyHead, the
 * log of the pointer-generator mixture g * softmax(h E^T) + (1 - g) * p_copy, where p_copy(v) is the copy
 * attention's weight on the visible positions holding token v and g = sigmoid(h w_g + b_g): normalised
 * log-probabilities, so logSoftmax, argmax and temperature sampling treat them as logits unchanged.
 */
export function outputLogits(
  params: Params,
  c: ModelConfig,
  prep: Prepared,
  h: tf.Tensor2D,
  copy?: CopySource,
): tf.Tensor2D {
  const logits = matMul2d(h, prep.embT);
  if (!c.copyHead) return logits;
  if (!copy) throw new Error('outputLogits: a model with a copy head needs the keys of its context');
  const q = tf.mul(matMul2d(h, params.get('copy/wq')! as tf.Tensor2D), 1 / Math.sqrt(c.dModel));
  let scores = matMul2d(q as tf.Tensor2D, copy.keysT);
  if (copy.mask) scores = tf.add(scores, copy.mask);
  const pCopy = matMul2d(tf.softmax(scores) as tf.Tensor2D, oneHotRows(copy.tokens, c.vocabSize));
  const g = tf.sigmoid(
    tf.add(matMul2d(h, params.get('copy/gate_w')! as tf.Tensor2D), params.get('copy/gate_b')!),
  );
  const mix = tf.add(tf.mul(g, tf.softmax(logits)), tf.mul(tf.sub(1, g), pCopy));
  // 1e-30: a token neither head gives any mass gets log-probability ~ -69 instead of -Infinity.
  return tf.log(tf.add(mix, 1e-30)) as tf.Tensor2D;
}

/**
 * Final-LayerNorm hidden states of the new text positions of one sequence being sampled: [tokens.length, d].
 * `tokens` continue the sequence in `cache` (empty at first) and their keys/values are appended to it
 * (tensors kept; the replaced ones are pushed to `stale` for the caller to dispose, as are the position and
 * mask tensors it memoizes in `prep`). Whole sequences
 * without a cache go through packedHidden.
 */
export function hidden(
  params: Params,
  c: ModelConfig,
  prep: Prepared,
  tokens: number[],
  image: Float32Array | undefined,
  cache: KvCache,
  stale: tf.Tensor[],
): tf.Tensor2D {
  const start = cache.n;
  const P = start === 0 ? numPatches(c) : 0;
  const n = P + tokens.length;
  let x = matMul2d(oneHotRows(tokens, c.vocabSize), params.get('tok_emb')! as tf.Tensor2D);
  if (P > 0)
    x = tf.concat([matMul2d(imagePatches(c, image!), params.get('patch_proj')! as tf.Tensor2D), x], 0);
  const key = `${start}:${n}`;
  // Shared by the rows of one sampling step, each prefilled in its own tidy: kept, and disposed with `stale`.
  let pos = prep.pos.get(key);
  if (!pos) {
    pos = tf.keep(tf.slice(params.get('pos_emb')!, [start, 0], [n, c.dModel]) as tf.Tensor2D);
    prep.pos.set(key, pos);
    stale.push(pos);
  }
  let mask = prep.masks.get(key);
  if (!mask && n > 1) {
    mask = tf.keep(causalMask(n, start));
    prep.masks.set(key, mask);
    stale.push(mask);
  }
  x = tf.add(x, pos);
  if (c.layout) {
    const lay = sequenceLayout(c, tokens, P > 0, cache.layout);
    x = tf.add(x, layoutEmbedding(params, c, lay.rows, lay.cols));
    cache.layout = lay.next;
  }
  prep.layers.forEach((L, l) => {
    const h = layerNorm(x, L.ln1[0], L.ln1[1]);
    const hT = tf.transpose(h) as tf.Tensor2D;
    const heads = L.wq.map((wq, i) => {
      const q = matMul2d(h, wq);
      let kT = matMul2d(L.wkT[i], hT);
      let v = matMul2d(h, L.wv[i]);
      if (start > 0) {
        stale.push(cache.kT[l][i], cache.v[l][i]);
        kT = tf.concat([cache.kT[l][i], kT], 1);
        v = tf.concat([cache.v[l][i], v], 0);
      }
      (cache.kT[l] ??= [])[i] = tf.keep(kT);
      (cache.v[l] ??= [])[i] = tf.keep(v);
      return matMul2d(attentionHead(q, kT, v, mask), L.wo[i]);
    });
    x = tf.add(x, tf.addN(heads));
    const h2 = layerNorm(x, L.ln2[0], L.ln2[1]);
    x = tf.add(x, mlp(h2, L.w1, L.b1, L.w2, L.b2));
  });
  cache.n = start + n;
  x = layerNorm(x, params.get('ln_f/gamma')!, params.get('ln_f/beta')!);
  return P > 0 ? (tf.slice(x, [P, 0], [tokens.length, c.dModel]) as tf.Tensor2D) : x;
}

/**
 * Final-LayerNorm hidden states of several whole sequences packed into one [sum of lengths, d] matrix
 * (sequence after sequence, in order), so that every projection, LayerNorm and MLP runs once for the
 * whole pack instead of once per sequence. Attention stays within each sequence through a
 * block-diagonal causal mask, and positions restart at 0 for each one: row for row the result equals
 * `hidden` of each sequence on its own (up to float rounding). Costs (sum of lengths)^2 per attention
 * head, so callers keep packs to a few hundred rows (packSequences).
 */
export function packedHidden(
  params: Params,
  c: ModelConfig,
  prep: Prepared,
  seqs: readonly { tokens: readonly number[]; image?: Float32Array }[],
): tf.Tensor2D {
  const P = numPatches(c);
  const rows = seqs.map((s) => P + s.tokens.length);
  const N = rows.reduce((a, b) => a + b, 0);
  const tokEmb = matMul2d(
    oneHotRows(
      seqs.flatMap((s) => s.tokens),
      c.vocabSize,
    ),
    params.get('tok_emb')! as tf.Tensor2D,
  );
  let x = tokEmb;
  if (P > 0) {
    const patches = tf.concat(
      seqs.map((s) => imagePatches(c, s.image!)),
      0,
    ) as tf.Tensor2D;
    const patchEmb = matMul2d(patches, params.get('patch_proj')! as tf.Tensor2D);
    const parts: tf.Tensor2D[] = [];
    let t = 0;
    seqs.forEach((s, b) => {
      parts.push(tf.slice(patchEmb, [b * P, 0], [P, c.dModel]));
      parts.push(tf.slice(tokEmb, [t, 0], [s.tokens.length, c.dModel]));
      t += s.tokens.length;
    });
    x = tf.concat(parts, 0) as tf.Tensor2D;
  }
  const pos = params.get('pos_emb')! as tf.Tensor2D;
  x = tf.add(
    x,
    matMul2d(
      oneHotRows(
        rows.flatMap((n) => Array.from({ length: n }, (_, i) => i)),
        pos.shape[0],
      ),
      pos,
    ),
  );
  if (c.layout) {
    const lays = seqs.map((s) => sequenceLayout(c, s.tokens, true));
    x = tf.add(
      x,
      layoutEmbedding(
        params,
        c,
        lays.flatMap((l) => l.rows),
        lays.flatMap((l) => l.cols),
      ),
    );
  }
  const mask = N > 1 ? blockCausalMask(rows) : undefined;
  for (const L of prep.layers) {
    const h = layerNorm(x, L.ln1[0], L.ln1[1]);
    x = tf.add(x, multiHeadAttention(h, L.wq, L.wkT, L.wv, L.wo, mask));
    const h2 = layerNorm(x, L.ln2[0], L.ln2[1]);
    x = tf.add(x, mlp(h2, L.w1, L.b1, L.w2, L.b2));
  }
  x = layerNorm(x, params.get('ln_f/gamma')!, params.get('ln_f/beta')!);
  if (P === 0) return x;
  let start = 0;
  const text = seqs.map((s, b) => {
    const part = tf.slice(x, [start + P, 0], [s.tokens.length, c.dModel]);
    start += rows[b];
    return part;
  });
  return (text.length === 1 ? text[0] : tf.concat(text, 0)) as tf.Tensor2D;
}

/** Additive mask [N, N] for sequences of `lengths` packed back to back: causal within each, -1e9 across. */
export function blockCausalMask(lengths: readonly number[]): tf.Tensor2D {
  const N = lengths.reduce((a, b) => a + b, 0);
  const m = new Float32Array(N * N).fill(-1e9);
  let start = 0;
  for (const n of lengths) {
    for (let i = 0; i < n; i++) m.fill(0, (start + i) * N + start, (start + i) * N + start + i + 1);
    start += n;
  }
  return tf.tensor2d(m, [N, N]);
}

/**
 * Split sequence indices (in order) into packs of at most `maxRows` positions each (a longer sequence
 * gets a pack of its own), for packedHidden.
 */
export function packSequences(lengths: readonly number[], maxRows: number): number[][] {
  const packs: number[][] = [];
  let current: number[] = [];
  let rows = 0;
  lengths.forEach((n, i) => {
    if (current.length > 0 && rows + n > maxRows) {
      packs.push(current);
      current = [];
      rows = 0;
    }
    current.push(i);
    rows += n;
  });
  if (current.length > 0) packs.push(current);
  return packs;
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

/**
 * One decoding position for many cached sequences at once: `tokens[b]` follows cache b. Projections and
 * the MLP run as [B, d] matmuls; only attention over each sequence's own cache runs per sequence.
 * Returns final-LayerNorm hidden states [B, d]; keys/values are appended to the caches.
 */
export function decodeStep(
  params: Params,
  c: ModelConfig,
  prep: Prepared,
  caches: KvCache[],
  tokens: number[],
  stale: tf.Tensor[],
): tf.Tensor2D {
  const B = caches.length;
  const dh = c.dModel / c.nHeads;
  const pos = params.get('pos_emb')!;
  let x: tf.Tensor2D = tf.add(
    matMul2d(oneHotRows(tokens, c.vocabSize), params.get('tok_emb')! as tf.Tensor2D),
    matMul2d(
      oneHotRows(
        caches.map((k) => k.n),
        pos.shape[0],
      ),
      pos as tf.Tensor2D,
    ),
  );
  if (c.layout) {
    const lays = caches.map((cache, b) => layoutIndices(c.layout!, [tokens[b]], cache.layout));
    x = tf.add(
      x,
      layoutEmbedding(
        params,
        c,
        lays.map((l) => l.rows[0]),
        lays.map((l) => l.cols[0]),
      ),
    );
    caches.forEach((cache, b) => (cache.layout = lays[b].next));
  }
  prep.layers.forEach((L, l) => {
    const h = layerNorm(x, L.ln1[0], L.ln1[1]);
    const hT = tf.transpose(h) as tf.Tensor2D;
    const heads = L.wq.map((wq, i) => {
      const q = matMul2d(h, wq);
      const kT = matMul2d(L.wkT[i], hT);
      const v = matMul2d(h, L.wv[i]);
      const rows = caches.map((cache, b) => {
        stale.push(cache.kT[l][i], cache.v[l][i]);
        const kTb = (cache.kT[l][i] = tf.keep(tf.concat([cache.kT[l][i], tf.slice(kT, [0, b], [dh, 1])], 1)));
        const vb = (cache.v[l][i] = tf.keep(tf.concat([cache.v[l][i], tf.slice(v, [b, 0], [1, dh])], 0)));
        const att = tf.softmax(matMul2d(tf.slice(q, [b, 0], [1, dh]) as tf.Tensor2D, kTb)) as tf.Tensor2D;
        return matMul2d(att, vb);
      });
      return matMul2d(B === 1 ? rows[0] : (tf.concat(rows, 0) as tf.Tensor2D), L.wo[i]);
    });
    x = tf.add(x, tf.addN(heads));
    const h2 = layerNorm(x, L.ln2[0], L.ln2[1]);
    x = tf.add(x, mlp(h2, L.w1, L.b1, L.w2, L.b2));
  });
  for (const cache of caches) cache.n++;
  return layerNorm(x, params.get('ln_f/gamma')!, params.get('ln_f/beta')!);
}
