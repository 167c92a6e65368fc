import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelConfigFor, tokenizerFor } from '../../src/agent';
import { sokobanSpec } from '../../src/envs';
import { buildActionBatch, initBackend, type ModelConfig, TransformerLM } from '../../src/model';
import { hidden, type KvCache, layoutIndices, packedHidden, prepare } from '../../src/model/forward';
import { maxAbsDiff, TINY, tinyModel } from './helpers';

beforeAll(async () => {
  await initBackend('wasm');
});

const NL = 5;
const LAYOUT: ModelConfig = { ...TINY, layout: { newlineId: NL, rows: 3, cols: 4 } };

describe('line/column positions (ModelConfig.layout)', () => {
  it('layoutIndices: a newline ends its line, other tokens move one column right, both clipped', () => {
    // <bos> a b \n c \n d e f g h, with a 3-row x 4-column table.
    const tokens = [1, 6, 7, NL, 8, NL, 9, 10, 11, 6, 7];
    expect(layoutIndices(LAYOUT.layout!, tokens)).toEqual({
      rows: [0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2],
      cols: [0, 1, 2, 3, 0, 1, 0, 1, 2, 3, 3],
      next: { row: 2, col: 5 },
    });
    // Continuing a text: the same indices as taking it whole, and a third newline stays on the last row.
    const first = layoutIndices(LAYOUT.layout!, tokens.slice(0, 4));
    const rest = layoutIndices(LAYOUT.layout!, [...tokens.slice(4), NL, 6], first.next);
    expect([...first.rows, ...rest.rows]).toEqual([0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2]);
    expect(rest.next).toEqual({ row: 3, col: 1 });
  });

  it("the packed pass equals each sequence's KV-cache pass, for text and image models", () => {
    const image = { height: 8, width: 8, channels: 3, patchSize: 4 };
    for (const config of [LAYOUT, { ...LAYOUT, image }]) {
      const model = tinyModel(config, 4);
      const params = new Map([...model.namedVariables()].filter(([n]) => !n.startsWith('optimizer/'))) as Map<
        string,
        tf.Tensor
      >;
      const seqs = [
        [1, 6, NL, 7, 8, NL, 9, 2],
        [1, 7, 7, 7, 7, 7, NL, 6],
        [1, NL, NL, NL, 10],
      ].map((tokens, i) => ({
        tokens,
        image: config.image ? new Float32Array(8 * 8 * 3).map((_, j) => ((i + 1) * j) % 7) : undefined,
      }));
      tf.tidy(() => {
        const prep = prepare(params, config);
        const packed = packedHidden(params, config, prep, seqs).arraySync();
        const stale: tf.Tensor[] = [];
        const caches: KvCache[] = seqs.map(() => ({ kT: [], v: [], n: 0 }));
        // The sampler's path, fed in two pieces so the layout cursor carries over between calls.
        const alone = seqs.flatMap((s, b) => [
          ...hidden(params, config, prep, s.tokens.slice(0, 3), s.image, caches[b], stale).arraySync(),
          ...hidden(params, config, prep, s.tokens.slice(3), s.image, caches[b], stale).arraySync(),
        ]);
        tf.dispose([...stale, ...caches.flatMap((k) => [...k.kT.flat(), ...k.v.flat()])]);
        expect(maxAbsDiff(packed.flat(), alone.flat())).toBeLessThan(1e-5);
      });
      model.dispose();
    }
  });

  it('adds row_emb[line] + col_emb[column] to the absolute positions; sampled log-probs match teacher forcing', () => {
    const model = tinyModel(LAYOUT, 2, 0.3);
    const vars = model.namedVariables();
    const shared = new Map(
      [...vars]
        .filter(([n]) => !n.startsWith('optimizer/') && n !== 'row_emb' && n !== 'col_emb')
        .map(([n, v]) => [n, v.dataSync() as Float32Array]),
    );
    const withoutLayout = TransformerLM.fromValues(TINY, shared);
    const items = buildActionBatch([
      { context: [1, 6, NL, 7, 8], action: [9, 2] },
      { context: [1, 6, 7, NL, 8], action: [9, 2] },
    ]);
    const plain = withoutLayout.actionLogProbs(items);
    expect(maxAbsDiff(model.actionLogProbs(items).flat(), plain.flat())).toBeGreaterThan(1e-3);
    const saved = ['row_emb', 'col_emb'].map((n) => vars.get(n)!.dataSync().slice());
    for (const n of ['row_emb', 'col_emb']) tf.tidy(() => vars.get(n)!.assign(tf.zerosLike(vars.get(n)!)));
    expect(maxAbsDiff(model.actionLogProbs(items).flat(), plain.flat())).toBeLessThan(1e-5);
    ['row_emb', 'col_emb'].forEach((n, i) =>
      tf.tidy(() => vars.get(n)!.assign(tf.tensor(saved[i], vars.get(n)!.shape))),
    );
    // Sampling (prefill, then one decode step per token, generated newlines included) reports the
    // teacher-forced log-probs of what it generated.
    const contexts = [
      [1, 6, NL, 7],
      [1, NL, NL, 8, 9],
      [1, 6, 7, 8, 9, 10, 11],
    ];
    const seed = [...Array(50).keys()].find((s) =>
      model.sample(contexts, { temperature: 3, maxTokens: 8, seed: s }).tokens.flat().includes(NL),
    );
    expect(seed).toBeDefined();
    const sampled = model.sample(contexts, { temperature: 3, maxTokens: 8, seed });
    const teacher = model.actionLogProbs(
      buildActionBatch(contexts.map((context, i) => ({ context, action: sampled.tokens[i] }))),
    );
    sampled.logProbs.forEach((row, i) => expect(maxAbsDiff(row, teacher[i])).toBeLessThan(1e-4));
    model.dispose();
    withoutLayout.dispose();
  });

  it('the run config field model.layoutPositions gives the env tokenizer’s newline id and 32-entry tables', () => {
    const tokenizer = tokenizerFor(sokobanSpec);
    const config = modelConfigFor(sokobanSpec, tokenizer, { dModel: 32, layoutPositions: true });
    expect(config.layout).toEqual({ newlineId: tokenizer.id('\n'), rows: 32, cols: 32 });
    expect(config).not.toHaveProperty('layoutPositions');
    expect(modelConfigFor(sokobanSpec, tokenizer, { dModel: 32 }).layout).toBeUndefined();
  });
});
