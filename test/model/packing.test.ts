import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildActionBatch, initBackend, Prng, type TransformerLM } from '../../src/model';
import {
  blockCausalMask,
  hidden,
  type KvCache,
  packedHidden,
  packSequences,
  prepare,
} from '../../src/model/forward';
import { maxAbsDiff, TINY, tinyModel } from './helpers';

beforeAll(async () => {
  await initBackend('wasm');
});

/** Rows of random contexts and actions (lengths 3..14), reproducible. */
function randomItems(n: number, seed: number, vocab = TINY.vocabSize) {
  const rng = new Prng(seed);
  const ids = (k: number) => Array.from({ length: k }, () => 3 + Math.floor(rng.next() * (vocab - 3)));
  return Array.from({ length: n }, () => ({
    context: [1, ...ids(1 + Math.floor(rng.next() * 10))],
    action: [...ids(1 + Math.floor(rng.next() * 2)), 2],
  }));
}

/** Gradients of `f` with respect to every parameter of `model`, as plain arrays by name. */
function grads(model: TransformerLM, f: () => tf.Scalar): Map<string, Float32Array> {
  const vars = [...model.namedVariables()].filter(([n]) => !n.startsWith('optimizer/'));
  const { value, grads: g } = tf.variableGrads(
    f,
    vars.map(([, v]) => v),
  );
  value.dispose();
  const out = new Map(vars.map(([n, v]) => [n, g[v.name].dataSync() as Float32Array]));
  tf.dispose(Object.values(g));
  return out;
}

describe('packed forward (many sequences in one matrix)', () => {
  it('blockCausalMask is causal within each sequence and closed across them', () => {
    const m = blockCausalMask([2, 3]);
    const open = m.arraySync().map((row) => row.map((x) => (x === 0 ? 1 : 0)));
    m.dispose();
    expect(open).toEqual([
      [1, 0, 0, 0, 0],
      [1, 1, 0, 0, 0],
      [0, 0, 1, 0, 0],
      [0, 0, 1, 1, 0],
      [0, 0, 1, 1, 1],
    ]);
  });

  it('packSequences keeps order and the row budget; a longer sequence gets a pack of its own', () => {
    expect(packSequences([3, 4, 2, 9, 1, 1], 8)).toEqual([[0, 1], [2], [3], [4, 5]]);
    expect(packSequences([], 8)).toEqual([]);
  });

  it("equals each sequence's own forward pass, row for row (text and image models)", () => {
    for (const config of [TINY, { ...TINY, image: { height: 8, width: 8, channels: 3, patchSize: 4 } }]) {
      const model = tinyModel(config, 3);
      const params = new Map([...model.namedVariables()].filter(([n]) => !n.startsWith('optimizer/'))) as Map<
        string,
        tf.Tensor
      >;
      const rng = new Prng(9);
      const seqs = randomItems(5, 4).map((it) => ({
        tokens: [...it.context, ...it.action],
        image: config.image ? new Float32Array(8 * 8 * 3).map(() => rng.next()) : undefined,
      }));
      tf.tidy(() => {
        const prep = prepare(params, config);
        const packed = packedHidden(params, config, prep, seqs).arraySync();
        // Reference: each sequence alone through the sampler's KV-cache path (per-head attention).
        const stale: tf.Tensor[] = [];
        const caches: KvCache[] = seqs.map(() => ({ kT: [], v: [], n: 0 }));
        const alone = seqs.flatMap((s, b) =>
          hidden(params, config, prep, s.tokens, s.image, caches[b], stale).arraySync(),
        );
        tf.dispose([...stale, ...caches.flatMap((k) => [...k.kT.flat(), ...k.v.flat()])]);
        expect(packed).toHaveLength(alone.length);
        expect(maxAbsDiff(packed.flat(), alone.flat())).toBeLessThan(1e-5);
      });
      model.dispose();
    }
  });

  it('a batch spread over several packs gives the log-probs and gradients of its rows taken one by one', () => {
    // 70 rows of up to 15 positions fill several packs of model.packRows, so this crosses pack boundaries.
    const model = tinyModel(TINY, 7);
    const items = randomItems(70, 11);
    const batch = buildActionBatch(items);
    const positions = items.reduce((a, it) => a + it.context.length + it.action.length - 1, 0);
    expect(positions).toBeGreaterThan(2 * model.packRows);
    const together = model.actionLogProbs(batch);
    items.forEach((it, b) => {
      expect(maxAbsDiff(together[b], model.actionLogProbs(buildActionBatch([it]))[0])).toBeLessThan(1e-5);
    });
    const gBatch = grads(model, () => tf.sum(model.tokenLogProbs(batch)) as tf.Scalar);
    const gRows = items
      .slice(0, 6)
      .map((it) => grads(model, () => tf.sum(model.tokenLogProbs(buildActionBatch([it]))) as tf.Scalar));
    const gFirst6 = grads(
      model,
      () => tf.sum(model.tokenLogProbs(buildActionBatch(items.slice(0, 6)))) as tf.Scalar,
    );
    for (const [name, g] of gFirst6) {
      const sum = g.map((_, i) => gRows.reduce((s, r) => s + r.get(name)![i], 0));
      expect(maxAbsDiff(g, sum), name).toBeLessThan(1e-4);
    }
    // The gradient of the whole batch is not zero anywhere it should not be (every parameter is used).
    for (const [name, g] of gBatch) expect(Math.max(...g.map(Math.abs)), name).toBeGreaterThan(0);
    model.dispose();
  });

  it('tokenLogProbsAndEntropy is tokenLogProbs and entropy from one pass', () => {
    const model = tinyModel(TINY, 2);
    const batch = buildActionBatch(randomItems(9, 5));
    const both = model.tokenLogProbsAndEntropy(batch);
    const lp = model.tokenLogProbs(batch);
    const ent = model.entropy(batch);
    expect(maxAbsDiff(both.logProbs.dataSync(), lp.dataSync())).toBeLessThan(1e-6);
    expect(maxAbsDiff(both.entropy.dataSync(), ent.dataSync())).toBeLessThan(1e-6);
    expect(Math.max(...ent.dataSync())).toBeGreaterThan(0.1);
    tf.dispose([both.logProbs, both.entropy, lp, ent]);
    model.dispose();
  });

  it('scoring only the action positions equals scoring every position, in values and gradients (plain and copy head)', () => {
    for (const config of [TINY, { ...TINY, copyHead: true }]) {
      const model = tinyModel(config, 13);
      const batch = { ...buildActionBatch(randomItems(40, 17)), temperature: 0.7 };
      const both = (all: boolean) => {
        model.scoreAllPositions = all;
        const { logProbs, entropy } = model.tokenLogProbsAndEntropy(batch);
        const out = {
          logProbs: logProbs.dataSync().slice(),
          entropy: entropy.dataSync().slice(),
          greedy: model.greedyPredictions(batch),
          grads: grads(
            model,
            () =>
              tf.add(
                tf.sum(model.tokenLogProbs(batch)),
                tf.mul(tf.sum(model.entropy(batch)), 0.3),
              ) as tf.Scalar,
          ),
        };
        tf.dispose([logProbs, entropy]);
        return out;
      };
      const all = both(true);
      const actions = both(false);
      expect(maxAbsDiff(actions.logProbs, all.logProbs)).toBeLessThan(1e-5);
      expect(maxAbsDiff(actions.entropy, all.entropy)).toBeLessThan(1e-5);
      expect(actions.greedy).toEqual(all.greedy);
      // Positions that predict no action token are 0 either way, and the action positions are not.
      const flatMask = batch.actionMask.flatMap((row) => [0, ...row.slice(1)]);
      actions.logProbs.forEach((v, i) => expect(v === 0).toBe(flatMask[i] === 0));
      for (const [name, g] of all.grads)
        expect(maxAbsDiff(actions.grads.get(name)!, g), name).toBeLessThan(1e-5);
      model.dispose();
    }
  });
});
