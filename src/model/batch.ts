import type { ModelConfig } from './config';

/** A batch of sequences = context tokens followed by action tokens, right-padded with <pad> (id 0). */
export interface TokenBatch {
  /** [B][T] token ids; every row has the same length T. */
  tokens: number[][];
  /** [B][T] 1 where the token is an action token (scored), else 0. */
  actionMask: number[][];
  /** Real length of each row (default: the row without trailing <pad> ids). */
  lengths?: number[];
  /** One HWC float image (values 0..1) per row, for models with an image prefix. */
  images?: Float32Array[];
  /**
   * Softmax temperature of the distribution that log-probs and entropies are taken from:
   * log softmax(logits / temperature). Default 1 (the model's own distribution).
   */
  temperature?: number;
}

/** A demonstration or rollout step: the context the policy saw and the action tokens it produced. */
export interface ContextAction {
  context: number[];
  action: number[];
  /** The row's image for models with an image prefix, rendered when a batch is built (not held in memory). */
  image?: () => Float32Array;
  /**
   * Weight of the item in the SFT loss (default 1). A soft target over several actions in one state is
   * several items with the same context whose weights add up to 1.
   */
  weight?: number;
}

export const PAD_ID = 0;

/**
 * Concatenate context + action per item and right-pad into a TokenBatch. Images: `images`, else the items'
 * own (`image`), when every item has one.
 */
export function buildActionBatch(
  items: readonly ContextAction[],
  images: Float32Array[] | undefined = items.every((it) => it.image)
    ? items.map((it) => it.image!())
    : undefined,
): TokenBatch {
  if (items.length === 0) throw new Error('buildActionBatch: no items');
  const T = Math.max(...items.map((it) => it.context.length + it.action.length));
  const tokens: number[][] = [];
  const actionMask: number[][] = [];
  const lengths: number[] = [];
  items.forEach((it, b) => {
    if (it.action.length === 0)
      throw new Error(`item ${b} has an empty action (need at least one action token)`);
    if (it.context.length === 0) throw new Error(`item ${b} has an empty context (start it with <bos>)`);
    const row = [...it.context, ...it.action];
    lengths.push(row.length);
    const mask = row.map((_, t) => (t >= it.context.length ? 1 : 0));
    while (row.length < T) {
      row.push(PAD_ID);
      mask.push(0);
    }
    tokens.push(row);
    actionMask.push(mask);
  });
  return images ? { tokens, actionMask, lengths, images } : { tokens, actionMask, lengths };
}

/**
 * Check a batch against the model and return each row's real length. Every message names the row and
 * what to change; the checks only build strings on failure.
 */
export function validateBatch(
  batch: TokenBatch,
  config: ModelConfig,
  what: string,
  requireAction = true,
): number[] {
  const fail = (msg: string): never => {
    throw new Error(`${what}: ${msg}`);
  };
  const { tokens, actionMask } = batch;
  if (!Array.isArray(tokens) || tokens.length === 0) fail('tokens must be a non-empty number[][]');
  if (!Array.isArray(actionMask) || actionMask.length !== tokens.length) {
    fail(`actionMask has ${actionMask?.length} rows but tokens has ${tokens.length}`);
  }
  if (batch.temperature !== undefined && !(batch.temperature > 0 && Number.isFinite(batch.temperature)))
    fail(`temperature must be a finite number > 0 (got ${batch.temperature})`);
  const T = tokens[0].length;
  const lengths: number[] = [];
  for (let b = 0; b < tokens.length; b++) {
    const row = tokens[b];
    const mask = actionMask[b];
    if (!Array.isArray(row) || row.length !== T)
      fail(`ragged tokens: row ${b} has length ${row?.length}, row 0 has ${T}; right-pad with <pad>`);
    if (!Array.isArray(mask) || mask.length !== T)
      fail(`ragged actionMask: row ${b} has length ${mask?.length}, tokens rows have ${T}`);
    for (let t = 0; t < T; t++) {
      const id = row[t];
      if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
        fail(`token id ${id} at row ${b}, position ${t} is out of range [0, ${config.vocabSize})`);
      }
      if (mask[t] !== 0 && mask[t] !== 1) fail(`actionMask[${b}][${t}] is ${mask[t]}; it must be 0 or 1`);
    }
    let len = batch.lengths ? batch.lengths[b] : T;
    if (!batch.lengths) while (len > 0 && row[len - 1] === PAD_ID && mask[len - 1] === 0) len--;
    if (!Number.isInteger(len) || len < 1 || len > T)
      fail(`row ${b} has length ${len}; it must be in [1, ${T}]`);
    if (len > config.contextLength) {
      fail(
        `row ${b} has ${len} tokens but the model's window (contextLength) is ${config.contextLength}; shorten the context`,
      );
    }
    let actions = 0;
    for (let t = 0; t < T; t++) {
      if (mask[t] !== 1) continue;
      if (t >= len) fail(`actionMask[${b}][${t}] marks a padding position (row length ${len})`);
      if (t === 0) fail(`row ${b}: an action token at position 0 has no context; start every row with <bos>`);
      actions++;
    }
    if (requireAction && actions === 0) fail(`row ${b} has an empty action (actionMask is all 0)`);
    lengths.push(len);
  }
  const im = config.image;
  if (im) {
    const n = im.height * im.width * im.channels;
    if (!batch.images || batch.images.length !== tokens.length) {
      fail(
        `this model takes an image per row (${im.height}x${im.width}x${im.channels}); got ${batch.images?.length ?? 0} images for ${tokens.length} rows`,
      );
    }
    batch.images!.forEach((img, b) => {
      if (img.length !== n)
        fail(
          `image ${b} has ${img.length} values, expected ${n} (${im.height}x${im.width}x${im.channels} HWC)`,
        );
    });
  } else if (batch.images) {
    fail('this model has no image input (config.image is unset) but images were given');
  }
  return lengths;
}
