import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import {
  buildActionBatch,
  countParams,
  defaultModelConfig,
  initBackend,
  type ModelConfig,
  TransformerLM,
} from '../src/model';
import { numPatches } from '../src/model/config';

/**
 * Model benchmark (issue 3): train and sampling tokens/s of the default Sokoban model on the default
 * backend, achieved FLOP/s of a train step against the same backend's 512^3 matmul peak (MFU), and
 * the peak memory of a train step. FLOPs are counted analytically (see trainStepFlops).
 */

const VOCAB = 64;
const BATCH = 16;
const SEQ = 192; // a Sokoban context (task + H=2 history + board) is ~150-190 tokens
const ACTION = 2;

/** Fastest of `reps` runs, in seconds: the machine is shared, so the minimum is the least noisy. */
function timeIt(f: () => void, reps: number): number {
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return best;
}

/** Peak tensor bytes while `f` runs. tf.profile reuses its result object, so read it at once. */
async function peakBytes(f: () => void): Promise<number> {
  return (await tf.profile(f)).peakBytes;
}

/** Peak FLOP/s of one 512^3 float32 matmul on the active backend. */
export function peakMatmulFlops(): number {
  const a = tf.randomNormal([512, 512]);
  const b = tf.randomNormal([512, 512]);
  // Porting note: never return a typed array from tf.tidy; it walks every element looking for tensors.
  const run = () => tf.tidy(() => void tf.matMul(a, b).dataSync());
  run();
  const s = timeIt(run, 20);
  tf.dispose([a, b]);
  return (2 * 512 ** 3) / s;
}

/**
 * Matmul FLOPs of one train step (forward + backward = 3x forward) on `rows` sequences of `n` positions:
 * per position and layer 2*(4 d^2 + 2 d dFF) for the projections and 2*2*n*d for QK^T and AV (the full
 * square the per-sequence kernel computes), plus 2*d*V for the tied output projection. The one-hot input
 * embedding is a gather in other frameworks and is not counted.
 */
export function trainStepFlops(c: ModelConfig, rows: number, n: number): number {
  const d = c.dModel;
  const perPos =
    c.nLayers * (2 * (4 * d * d + 2 * d * c.dFF) + 4 * (n + numPatches(c)) * d) + 2 * d * c.vocabSize;
  return 3 * rows * n * perPos;
}

/** The masked (upper-triangle) half of QK^T and AV, in train-step FLOPs. */
function causalSavings(c: ModelConfig, rows: number, n: number): number {
  return 3 * rows * c.nLayers * 2 * n * n * c.dModel;
}

export async function benchModel(): Promise<Record<string, number | string>> {
  const info = await initBackend();
  const peak = peakMatmulFlops();
  const config = defaultModelConfig(VOCAB);
  const model = TransformerLM.create(config, 0);
  let seed = 1;
  const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const items = Array.from({ length: BATCH }, () => ({
    context: [1, ...Array.from({ length: SEQ - ACTION - 1 }, () => 5 + Math.floor(rand() * (VOCAB - 5)))],
    action: [5 + Math.floor(rand() * (VOCAB - 5)), 2],
  }));
  const batch = buildActionBatch(items);
  const step = () =>
    model.trainStep(() => model.actionNll(batch), { lr: 1e-4, weightDecay: 0.01, maxGradNorm: 1 });
  step(); // warm-up: XNNPACK packing, kernel set-up
  const rssBefore = process.memoryUsage().rss;
  const stepSeconds = timeIt(step, 3);
  const stepPeak = await peakBytes(() => void step());
  const rssAfter = process.memoryUsage().rss;
  // The same step as 4 micro-batches of 4 sequences (gradient accumulation).
  const micro = [0, 4, 8, 12].map((i) => buildActionBatch(items.slice(i, i + 4)));
  const microStep = () =>
    model.trainStep(
      micro.map((mb) => () => tf.mul(model.actionNll(mb), 0.25) as tf.Scalar),
      { lr: 1e-4, maxGradNorm: 1 },
    );
  const microSeconds = timeIt(microStep, 2);
  const microPeak = await peakBytes(() => void microStep());
  const positions = SEQ - 1; // the last token only ever appears as a target
  const flops = trainStepFlops(config, BATCH, positions);
  const achieved = flops / stepSeconds;
  const peakAfter = peakMatmulFlops();

  const packing = packingComparison(config, rand);
  const scoring = scoringComparison(rand);

  const contexts = items.map((it) => it.context.slice(0, 150));
  const maxTokens = 8;
  model.sample(contexts, { maxTokens: 2, seed: 0 });
  const sampleSeconds = timeIt(() => model.sample(contexts, { maxTokens, seed: 0, temperature: 1 }), 2);
  // Prefill (one forward over each context into the KV cache) vs decode (one token per step).
  const prefillSeconds = timeIt(() => model.sample(contexts, { maxTokens: 1, seed: 0, temperature: 1 }), 2);
  model.dispose();

  return {
    'model/backend': `${info.backend} (${info.device})`,
    'model/params': countParams(config),
    'model/config': `d=${config.dModel} L=${config.nLayers} H=${config.nHeads} ff=${config.dFF} ctx=${config.contextLength} V=${VOCAB}`,
    'model/train_batch': `${BATCH} x ${SEQ} tokens`,
    'model/train_step_s': round(stepSeconds),
    'model/train_tokens_per_s': Math.round((BATCH * SEQ) / stepSeconds),
    'model/sample_tokens_per_s': Math.round((contexts.length * maxTokens) / sampleSeconds),
    'model/sample_decode_tokens_per_s': Math.round(
      (contexts.length * (maxTokens - 1)) / (sampleSeconds - prefillSeconds),
    ),
    'model/sample_prefill_s': round(prefillSeconds),
    'model/sample_setup': `${contexts.length} contexts x 150 tokens, ${maxTokens} new tokens each`,
    'model/train_gflop_per_step': round(flops / 1e9),
    'model/train_gflops': round(achieved / 1e9),
    'model/peak_matmul_gflops_512': round(peak / 1e9),
    'model/peak_matmul_gflops_512_after_train': round(peakAfter / 1e9),
    'model/mfu': round(achieved / peak),
    // Counting only the unmasked half of the attention square (causal), as some MFU reports do.
    'model/mfu_causal_count': round((flops - causalSavings(config, BATCH, positions)) / stepSeconds / peak),
    'model/bound':
      'matmuls are ~60% of a step at 17-20 of 28 GFLOP/s (small per-sequence, per-head shapes: 191x32x191, 191x128x32); the rest is ~16k small kernels (transpose, elementwise) and JS dispatch; single thread',
    'model/train_peak_tensor_mb': round(stepPeak / 2 ** 20),
    'model/train_microbatch4_step_s': round(microSeconds),
    'model/train_microbatch4_peak_tensor_mb': round(microPeak / 2 ** 20),
    'model/tensor_mb_at_rest': round(tf.memory().numBytes / 2 ** 20),
    'model/rss_mb': Math.round(Math.max(rssBefore, rssAfter) / 2 ** 20),
    ...packing,
    ...scoring,
  };
}

/**
 * The policy update of the text suites, scoring every position (the output head, log-softmax and, with a copy
 * head, its P x P x vocab mixture at each of a context's positions, as before session 18) against scoring only
 * the positions that predict an action token (the default), alternating, same weights. A step is 4 micro-batches
 * of 4 contexts, each with the policy's log-probs (with gradient) and a reference pass (the KL anchor's), as
 * trainPolicy runs them. Shapes: Sokoban's board-only policy (48 tokens, vocabulary 100), Social's (200 tokens,
 * 358) and WebShop's copy-head d128 policy (380 tokens, 1,768), the suites' own sizes.
 */
function scoringComparison(rand: () => number): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  const shapes: [string, ModelConfig, number][] = [
    [
      'sokoban_ctx48',
      { vocabSize: 100, dModel: 64, nLayers: 2, nHeads: 4, dFF: 256, contextLength: 192 },
      48,
    ],
    [
      'social_ctx200',
      { vocabSize: 358, dModel: 64, nLayers: 2, nHeads: 4, dFF: 256, contextLength: 256 },
      200,
    ],
    [
      'webshop_ctx380',
      { vocabSize: 1768, dModel: 128, nLayers: 3, nHeads: 4, dFF: 512, contextLength: 384, copyHead: true },
      380,
    ],
  ];
  for (const [name, config, seq] of shapes) {
    const model = TransformerLM.create(config, 0);
    const V = config.vocabSize;
    const micro = [0, 1, 2, 3].map(() =>
      buildActionBatch(
        Array.from({ length: 4 }, () => ({
          context: [1, ...Array.from({ length: seq - 5 }, () => 5 + Math.floor(rand() * (V - 5)))],
          action: [5 + Math.floor(rand() * (V - 5)), 5 + Math.floor(rand() * (V - 5)), 2],
        })),
      ),
    );
    const step = () =>
      void model.trainStep(
        micro.map((mb) => () => {
          const ref = tf.tidy(() => tf.sum(model.tokenLogProbs(mb), 1));
          const loss = tf.mul(
            tf
              .sub(tf.sum(model.tokenLogProbs(mb), 1), ref)
              .square()
              .mean(),
            0.25,
          );
          ref.dispose();
          return loss as tf.Scalar;
        }),
        { lr: 1e-6, maxGradNorm: 1 },
      );
    const time = (all: boolean) => {
      model.scoreAllPositions = all;
      return timeIt(step, 1);
    };
    const [every, actions] = alternately(
      () => time(true),
      () => time(false),
    );
    model.dispose();
    out[`model/policy_step_${name}_every_position_s`] = round(every);
    out[`model/policy_step_${name}_action_positions_s`] = round(actions);
    out[`model/policy_step_${name}_action_positions_speedup`] = round(every / actions);
  }
  return out;
}

/**
 * A PPO minibatch as the pipeline runs it (32 steps as 4 micro-batches of 8, each a context + 2 action
 * tokens): the train step with every sequence run on its own (packRows 1, how the model ran before
 * session 6) against sequences packed into one forward pass (the default), alternating, same weights.
 * Shapes: the probe/quick-start policy and the default policy on board-only contexts (~46 tokens), and
 * the default policy on 150-token contexts (task + history + board), which stay one per pack.
 */
function packingComparison(defaultConfig: ModelConfig, rand: () => number): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  const shapes: [string, ModelConfig, number][] = [
    ['d64_ctx48', { vocabSize: 100, dModel: 64, nLayers: 2, nHeads: 4, dFF: 256, contextLength: 192 }, 48],
    ['default_ctx48', { ...defaultConfig, vocabSize: 100 }, 48],
    ['default_ctx152', { ...defaultConfig, vocabSize: 100 }, 152],
  ];
  for (const [name, config, seq] of shapes) {
    const model = TransformerLM.create(config, 0);
    const micro = [0, 1, 2, 3].map(() =>
      buildActionBatch(
        Array.from({ length: 8 }, () => ({
          context: [
            1,
            ...Array.from({ length: seq - 3 - Math.floor(rand() * 4) }, () => 5 + Math.floor(rand() * 90)),
          ],
          action: [5 + Math.floor(rand() * 90), 2],
        })),
      ),
    );
    const step = () =>
      void model.trainStep(
        micro.map((mb) => () => tf.mul(model.actionNll(mb), 0.25) as tf.Scalar),
        { lr: 1e-5, maxGradNorm: 1 },
      );
    const time = (packRows: number) => {
      model.packRows = packRows;
      return timeIt(step, 1);
    };
    const packedRows = model.packRows;
    const [alone, packed] = alternately(
      () => time(1),
      () => time(packedRows),
    );
    model.dispose();
    out[`model/ppo_minibatch_${name}_per_sequence_s`] = round(alone);
    out[`model/ppo_minibatch_${name}_packed_s`] = round(packed);
    out[`model/ppo_minibatch_${name}_packed_speedup`] = round(alone / packed);
  }
  return out;
}

/** Two timings of the same work done two ways, alternated after a warm-up of each: the best of 3 of each. */
function alternately(a: () => number, b: () => number): [number, number] {
  a();
  b();
  let bestA = Infinity;
  let bestB = Infinity;
  for (let r = 0; r < 3; r++) {
    bestA = Math.min(bestA, a());
    bestB = Math.min(bestB, b());
  }
  return [bestA, bestB];
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  benchModel()
    .then((r) => console.table(r))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
