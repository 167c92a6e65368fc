/** Shape of the transformer LM. Stored in every checkpoint and matched on load. */
export interface ImageConfig {
  /** Image height in pixels (VisualSokoban: 6 tiles x 16 px = 96). */
  height: number;
  width: number;
  /** 3 for RGB. */
  channels: number;
  /** Side of a square patch; height and width must be multiples of it. */
  patchSize: number;
}

/**
 * (line, column) position embeddings of each token's place in the text, added to the absolute ones (as
 * LayoutLM does for documents; Qwen2-VL's M-RoPE gives image patches their grid row and column): a token's
 * line is the number of newline tokens before it, its column the number of tokens since the last one, both
 * clipped to the table. Image patches get their patch-grid row and column. A board's cells then share
 * row and column structure instead of 42 unrelated positions.
 */
export interface LayoutConfig {
  /** Token id of "\n" (the tokenizer's). */
  newlineId: number;
  /** Rows of the line table (lines beyond it share the last row). */
  rows: number;
  /** Rows of the column table. */
  cols: number;
}

export interface ModelConfig {
  /** Number of token ids (the tokenizer's size). */
  vocabSize: number;
  /** Residual stream width d_model. */
  dModel: number;
  nLayers: number;
  /** Attention heads; dModel must be a multiple of it. */
  nHeads: number;
  /** Hidden width of the MLP. */
  dFF: number;
  /** Maximum number of text tokens in one sequence (context + action). */
  contextLength: number;
  /** Optional image prefix (VisualSokoban): patches placed before the text tokens. */
  image?: ImageConfig;
  /** Adds a scalar value head on the final hidden state (PPO/GAE baseline). */
  valueHead?: boolean;
  /** Adds line/column position embeddings (absent: absolute positions only). */
  layout?: LayoutConfig;
  /**
   * Adds a copy (pointer) head: the next-token distribution becomes g * softmax(h E^T) + (1 - g) * p_copy,
   * where p_copy puts on each token the attention weight of the text positions (so far) that hold it,
   * from a query/key attention over the final hidden states, and g = sigmoid(h w_g + b_g) (See et al. 2017,
   * pointer-generator). A small model can then emit a word or an id of its context (WebShop's searches and
   * clicks) without first learning induction heads (docs/results.md, finding 16).
   */
  copyHead?: boolean;
}

/** Sized for Sokoban text observations: ~0.6M parameters, 256-token window. */
export function defaultModelConfig(vocabSize: number): ModelConfig {
  return { vocabSize, dModel: 128, nLayers: 3, nHeads: 4, dFF: 512, contextLength: 256 };
}

export function numPatches(config: ModelConfig): number {
  const im = config.image;
  return im ? (im.height / im.patchSize) * (im.width / im.patchSize) : 0;
}

export function patchDim(config: ModelConfig): number {
  const im = config.image;
  return im ? im.patchSize * im.patchSize * im.channels : 0;
}

/** Throws naming every invalid field. */
export function validateModelConfig(config: ModelConfig): ModelConfig {
  const bad: string[] = [];
  const posInt = (name: string, v: unknown) => {
    if (!Number.isInteger(v) || (v as number) <= 0)
      bad.push(`${name} must be a positive integer (got ${String(v)})`);
  };
  posInt('vocabSize', config.vocabSize);
  posInt('dModel', config.dModel);
  posInt('nLayers', config.nLayers);
  posInt('nHeads', config.nHeads);
  posInt('dFF', config.dFF);
  posInt('contextLength', config.contextLength);
  if (
    Number.isInteger(config.dModel) &&
    Number.isInteger(config.nHeads) &&
    config.dModel % config.nHeads !== 0
  ) {
    bad.push(`dModel (${config.dModel}) must be a multiple of nHeads (${config.nHeads})`);
  }
  const im = config.image;
  if (im) {
    posInt('image.height', im.height);
    posInt('image.width', im.width);
    posInt('image.channels', im.channels);
    posInt('image.patchSize', im.patchSize);
    if (im.height % im.patchSize !== 0 || im.width % im.patchSize !== 0) {
      bad.push(`image ${im.height}x${im.width} is not a multiple of patchSize ${im.patchSize}`);
    }
  }
  const lay = config.layout;
  if (lay) {
    posInt('layout.rows', lay.rows);
    posInt('layout.cols', lay.cols);
    if (!Number.isInteger(lay.newlineId) || lay.newlineId < 0 || lay.newlineId >= config.vocabSize)
      bad.push(
        `layout.newlineId must be a token id in [0, ${config.vocabSize}) (got ${String(lay.newlineId)})`,
      );
  }
  if (config.copyHead !== undefined && typeof config.copyHead !== 'boolean')
    bad.push(`copyHead must be a boolean (got ${JSON.stringify(config.copyHead)})`);
  if (bad.length) throw new Error(`invalid ModelConfig: ${bad.join('; ')}`);
  return config;
}

/** Fields of `actual` that differ from `expected` (deep compare of JSON values), as "field: a != b". */
export function configMismatches(actual: ModelConfig, expected: Partial<ModelConfig>): string[] {
  const out: string[] = [];
  for (const [key, want] of Object.entries(expected)) {
    if (want === undefined) continue;
    const got = (actual as unknown as Record<string, unknown>)[key];
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      out.push(`${key}: checkpoint has ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
  }
  return out;
}
