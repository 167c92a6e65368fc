import * as tf from '@tensorflow/tfjs';
import { collectRollouts, contextBudget, demonstrationPairs } from '../src/agent';
import { parseRunConfig, type RunConfigInput } from '../src/config/run-config';
import { buildActionBatch, initBackend, type TransformerLM } from '../src/model';
import {
  computeAdvantages,
  rolloutSettings,
  rowsBatch,
  scatterToActions,
  stepRows,
  stepWeights,
  type RunSetup,
  runSetup,
} from '../src/pipeline';
import { cachedBase, LEARN_PROBE_DEFAULTS } from './learn-probe';
import { isMain } from './util';

/**
 * Does the policy gradient of one iteration carry anything that transfers to other levels? From the
 * learn-probe's SFT base (no update is taken), for K batches of groups x groupSize rollouts:
 * - on K different sets of training levels (what the pipeline does), and
 * - K times on one fixed set of levels with different sampling seeds (what the fixed-levels probe does),
 * the algorithm's advantages (per-trajectory weighted) give the policy-gradient direction
 * g = grad sum_steps w A log pi(a|s) / steps. Printed: the cosine between batches of each kind, and the
 * cosine of each g with the imitation direction on held-out levels (grad of the expert actions' log-lik,
 * 400 noisy-expert episodes on other levels). A gradient that generalises has cos > 0 with batches on
 * other levels and with the expert direction; noise has cos ~ 0 (~1/sqrt(parameters)).
 * `npx tsx bench/gradient-probe.ts '<run config JSON>' [K]`, e.g. '{"algorithm":"rloo"}' 6.
 */
function trainable(model: TransformerLM): tf.Variable[] {
  return [...model.namedVariables()].filter(([n]) => !n.startsWith('optimizer/')).map(([, v]) => v);
}

/** Flat gradient of the sum of `parts` (each a scalar function of the model), one part at a time. */
function flatGradient(model: TransformerLM, parts: (() => tf.Scalar)[]): Float32Array {
  const vars = trainable(model);
  const total = new Float32Array(vars.reduce((a, v) => a + v.size, 0));
  for (const part of parts) {
    const { value, grads } = tf.variableGrads(part, vars);
    value.dispose();
    let o = 0;
    for (const v of vars) {
      const g = grads[v.name];
      if (g) {
        const d = g.dataSync();
        for (let i = 0; i < d.length; i++) total[o + i] += d[i];
      }
      o += v.size;
    }
    tf.dispose(Object.values(grads));
  }
  return total;
}

/** The parameters holding most of g's squared norm, largest first: "name share, ...". */
function normShares(model: TransformerLM, g: Float32Array, top = 6): string {
  const named = [...model.namedVariables()].filter(([n]) => !n.startsWith('optimizer/'));
  let o = 0;
  let total = 0;
  const shares = named.map(([name, v]) => {
    let s = 0;
    for (let i = o; i < o + v.size; i++) s += g[i] * g[i];
    o += v.size;
    total += s;
    return { name, s, size: v.size };
  });
  return shares
    .sort((a, b) => b.s - a.s)
    .slice(0, top)
    .map((x) => `${x.name} (${x.size} weights) ${(x.s / total).toFixed(3)}`)
    .join(', ');
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

async function policyGradient(
  setup: RunSetup,
  policy: TransformerLM,
  seeds: number[],
  samplingSeed: number,
): Promise<{ g: Float32Array; success: number }> {
  const { config } = setup;
  const batch = await collectRollouts(policy, setup.tokenizer, {
    ...rolloutSettings(setup),
    seeds,
    groupIds: seeds.map((s) => `level-${s}`),
    samplingSeed,
  });
  const targets = await computeAdvantages(setup, batch, { prm: policy, reference: policy, policy });
  const weight = stepWeights(batch, config.stepWeighting);
  const rows = stepRows(batch);
  const parts: (() => tf.Scalar)[] = [];
  for (let i = 0; i < rows.length; i += config.microBatchSteps) {
    const chunk = rows.slice(i, i + config.microBatchSteps);
    parts.push(() => {
      const tb = rowsBatch(setup, batch, chunk);
      const adv = scatterToActions(
        tb,
        chunk.map((r) =>
          targets.advantages[r.group][r.trajectory][r.step].map((a) => a * weight[r.group][r.trajectory]),
        ),
      );
      return tf.div(tf.sum(tf.mul(policy.tokenLogProbs(tb), tf.tensor2d(adv))), rows.length) as tf.Scalar;
    });
  }
  const episodes = batch.groups.flatMap((g) => g.trajectories);
  return {
    g: flatGradient(policy, parts),
    success: episodes.filter((t) => t.success).length / episodes.length,
  };
}

export async function gradientProbe(overrides: RunConfigInput, K: number): Promise<void> {
  await initBackend();
  const input = {
    ...LEARN_PROBE_DEFAULTS,
    algorithm: 'rloo' as const,
    stepWeighting: 'per-trajectory' as const,
    ...overrides,
    sft: { ...LEARN_PROBE_DEFAULTS.sft, ...overrides.sft },
  };
  const setup = runSetup(parseRunConfig(input));
  const { config } = setup;
  const policy = await cachedBase(input);
  const demos = demonstrationPairs(setup.spec, setup.tokenizer, {
    episodes: 400,
    randomActionFraction: config.sft.randomActionFraction,
    labels: 'expert',
    seed: 424242,
    historyLength: config.historyLength,
    instruction: config.promptInstruction,
    maxContextTokens: contextBudget(policy, setup.maxActionTokens),
    maxActionTokens: setup.maxActionTokens,
  });
  const items = [...demos.train, ...demos.heldOut];
  const expert = flatGradient(
    policy,
    Array.from({ length: Math.ceil(items.length / 64) }, (_, c) => () => {
      const tb = buildActionBatch(items.slice(c * 64, c * 64 + 64));
      return tf.div(tf.sum(policy.tokenLogProbs(tb)), items.length) as tf.Scalar;
    }),
  );
  console.log(`imitation direction from ${items.length} expert-labelled states on other levels`);
  const levels = (k: number) =>
    Array.from(
      { length: config.groups },
      (_, i) => setup.spec.trainSeeds.start + 5000 + 97 * (k * config.groups + i),
    );
  // The tied embedding holds ~98% of the gradient's squared norm (the output logits of the move tokens),
  // so cosines are also given without it: the transformer body, where reading the board happens.
  const named = [...policy.namedVariables()].filter(([n]) => !n.startsWith('optimizer/'));
  const bodyMask = new Uint8Array(named.reduce((a, [, v]) => a + v.size, 0));
  let at = 0;
  for (const [name, v] of named) {
    if (name !== 'tok_emb') bodyMask.fill(1, at, at + v.size);
    at += v.size;
  }
  const body = (g: Float32Array) => g.filter((_, i) => bodyMask[i] === 1);
  const expertBody = body(expert);
  const report = async (label: string, seedsOf: (k: number) => number[]) => {
    const gs: Float32Array[] = [];
    for (let k = 0; k < K; k++) {
      const { g, success } = await policyGradient(setup, policy, seedsOf(k), 7000 + k);
      gs.push(g);
      console.log(
        `${label} batch ${k}: rollout success ${success.toFixed(3)}, cos with imitation ${cosine(g, expert).toFixed(3)} ` +
          `(body ${cosine(body(g), expertBody).toFixed(3)})`,
      );
    }
    const pair: number[] = [];
    const pairBody: number[] = [];
    for (let i = 0; i < K; i++)
      for (let j = i + 1; j < K; j++) {
        pair.push(cosine(gs[i], gs[j]));
        pairBody.push(cosine(body(gs[i]), body(gs[j])));
      }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const sum = gs.reduce((acc, g) => acc.map((x, i) => x + g[i]), new Float32Array(gs[0].length));
    console.log(
      `${label}: mean cos between batches ${mean(pair).toFixed(3)} (min ${Math.min(...pair).toFixed(3)}, max ${Math.max(...pair).toFixed(3)}); ` +
        `mean cos with imitation ${mean(gs.map((g) => cosine(g, expert))).toFixed(3)}; ` +
        `sum of the ${K} batches: cos with imitation ${cosine(sum, expert).toFixed(3)}`,
    );
    console.log(
      `${label}, body only: mean cos between batches ${mean(pairBody).toFixed(3)} (min ${Math.min(...pairBody).toFixed(3)}, max ${Math.max(...pairBody).toFixed(3)}); ` +
        `mean cos with imitation ${mean(gs.map((g) => cosine(body(g), expertBody))).toFixed(3)}; ` +
        `sum: ${cosine(body(sum), expertBody).toFixed(3)}`,
    );
  };
  const first = await policyGradient(setup, policy, levels(0), 7000);
  console.log(`share of the squared gradient norm by parameter (batch 0): ${normShares(policy, first.g)}`);
  await report('different levels', levels);
  await report('same levels', () => levels(0));
  policy.dispose();
}

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  gradientProbe(JSON.parse(args[0] ?? '{}') as RunConfigInput, Number(args[1] ?? 6)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
