import type { ModelConfig } from './config';
import { numPatches, patchDim } from './config';
import { Prng } from './prng';

/** Name, shape and init of every parameter. Attention weights are stored per head so a head is a contiguous slice. */
export interface ParamSpec {
  name: string;
  shape: number[];
  init: 'normal' | 'zeros' | 'ones';
  std?: number;
}

export function paramSpecs(c: ModelConfig): ParamSpec[] {
  const d = c.dModel;
  const dh = d / c.nHeads;
  // 1/sqrt(d_model), not GPT-2's fixed 0.02 (which is about that for d = 768-2500): at d = 64 a 0.02 init
  // leaves attention logits near 0 and the model sat for hundreds of SFT steps at the marginal action
  // distribution before it started reading the board (docs/results.md, finding 11).
  const std = initStd(c);
  // GPT-2: residual projections scaled by 1/sqrt(2 * layers).
  const resid = std / Math.sqrt(2 * c.nLayers);
  const specs: ParamSpec[] = [
    { name: 'tok_emb', shape: [c.vocabSize, d], init: 'normal', std },
    { name: 'pos_emb', shape: [numPatches(c) + c.contextLength, d], init: 'normal', std: 0.01 },
  ];
  if (c.layout)
    specs.push(
      { name: 'row_emb', shape: [c.layout.rows, d], init: 'normal', std },
      { name: 'col_emb', shape: [c.layout.cols, d], init: 'normal', std },
    );
  if (c.image) specs.push({ name: 'patch_proj', shape: [patchDim(c), d], init: 'normal', std });
  for (let l = 0; l < c.nLayers; l++) {
    const p = `block${l}`;
    specs.push(
      { name: `${p}/ln1/gamma`, shape: [d], init: 'ones' },
      { name: `${p}/ln1/beta`, shape: [d], init: 'zeros' },
      { name: `${p}/attn/wq`, shape: [c.nHeads, d, dh], init: 'normal', std },
      // Keys stored transposed ([dh, d] per head) so K^T = Wk^T h^T needs no transposed matmul.
      { name: `${p}/attn/wk_t`, shape: [c.nHeads, dh, d], init: 'normal', std },
      { name: `${p}/attn/wv`, shape: [c.nHeads, d, dh], init: 'normal', std },
      { name: `${p}/attn/wo`, shape: [c.nHeads, dh, d], init: 'normal', std: resid },
      { name: `${p}/ln2/gamma`, shape: [d], init: 'ones' },
      { name: `${p}/ln2/beta`, shape: [d], init: 'zeros' },
      { name: `${p}/mlp/w1`, shape: [d, c.dFF], init: 'normal', std },
      { name: `${p}/mlp/b1`, shape: [c.dFF], init: 'zeros' },
      { name: `${p}/mlp/w2`, shape: [c.dFF, d], init: 'normal', std: resid },
      { name: `${p}/mlp/b2`, shape: [d], init: 'zeros' },
    );
  }
  specs.push(
    { name: 'ln_f/gamma', shape: [d], init: 'ones' },
    { name: 'ln_f/beta', shape: [d], init: 'zeros' },
  );
  if (c.copyHead) {
    specs.push(
      { name: 'copy/wq', shape: [d, d], init: 'normal', std },
      // Stored transposed, as the attention keys are.
      { name: 'copy/wk_t', shape: [d, d], init: 'normal', std },
      { name: 'copy/gate_w', shape: [d, 1], init: 'normal', std },
      // g = 0.5 at init: half vocabulary, half copy.
      { name: 'copy/gate_b', shape: [1], init: 'zeros' },
    );
  }
  if (c.valueHead) {
    specs.push(
      { name: 'value_head/w', shape: [d, 1], init: 'normal', std },
      { name: 'value_head/b', shape: [1], init: 'zeros' },
    );
  }
  return specs;
}

/** Standard deviation of the normal init of the embeddings and weight matrices: 1/sqrt(d_model). */
export function initStd(c: ModelConfig): number {
  return 1 / Math.sqrt(c.dModel);
}

export function initParam(spec: ParamSpec, rng: Prng): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (spec.init === 'ones') out.fill(1);
  else if (spec.init === 'normal') for (let i = 0; i < n; i++) out[i] = rng.normal() * (spec.std ?? 0.02);
  return out;
}

/** Parameter count of a config (no tensors created). */
export function countParams(c: ModelConfig): number {
  return paramSpecs(c).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
}
