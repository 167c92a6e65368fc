import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildActionBatch, initBackend, TransformerLM } from '../../src/model';
import { TINY, tinyModel } from './helpers';

beforeAll(async () => {
  await initBackend('cpu');
});

/** Central finite differences of a float32 loss against the analytic (custom matmul) gradients. */
describe('gradient check (cpu backend)', () => {
  it('matches finite differences on every kind of parameter', () => {
    // Token 5 is a newline for the line/column tables, so the second row's tokens sit on line 1.
    const model: TransformerLM = tinyModel(
      { ...TINY, valueHead: true, layout: { newlineId: 5, rows: 3, cols: 4 } },
      2,
      0.3,
    );
    const batch = buildActionBatch([
      { context: [1, 4, 5], action: [6, 7, 2] },
      { context: [1, 8], action: [9, 2] },
    ]);
    const weights = tf.tensor2d([
      [0, 0, 0, 1.0, -0.5, 0.7],
      [0, 0, 0.3, 0.9, 0, 0],
    ]);
    const loss = () =>
      tf.tidy(() => {
        const lp = tf.sum(tf.mul(model.tokenLogProbs(batch), weights));
        const ent = tf.mul(tf.sum(model.entropy(batch)), 0.3);
        const v = tf.mul(tf.sum(tf.square(model.values(batch))), 0.5);
        return tf.add(tf.add(lp, ent), v) as tf.Scalar;
      });
    const vars = model.namedVariables();
    const names = [
      'tok_emb',
      'pos_emb',
      'row_emb',
      'col_emb',
      'block0/attn/wq',
      'block0/attn/wk_t',
      'block1/attn/wv',
      'block1/attn/wo',
      'block0/ln1/gamma',
      'block1/mlp/w1',
      'block0/mlp/b1',
      'block1/mlp/w2',
      'ln_f/beta',
      'value_head/w',
    ];
    const { value, grads } = tf.variableGrads(
      loss,
      names.map((n) => vars.get(n)!),
    );
    value.dispose();
    // 1e-3: small enough that ReLU kinks are rarely crossed, large enough for float32 round-off.
    const eps = 1e-3;
    let checked = 0;
    for (const name of names) {
      const v = vars.get(name)!;
      const g = grads[v.name].dataSync();
      const orig = v.dataSync().slice();
      // Largest-gradient entries plus a fixed spread, so the check never looks only at zeros.
      const order = [...g.keys()].sort((a, b) => Math.abs(g[b]) - Math.abs(g[a]));
      const idx = [...new Set([order[0], order[1], Math.floor(orig.length / 3), orig.length - 1])];
      for (const i of idx) {
        const at = (delta: number) => {
          const data = orig.slice();
          data[i] += delta;
          tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
          const l = loss();
          const x = l.dataSync()[0];
          l.dispose();
          return x;
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        tf.tidy(() => v.assign(tf.tensor(orig, v.shape)));
        expect(Math.abs(numeric - g[i]), `${name}[${i}] numeric ${numeric} analytic ${g[i]}`).toBeLessThan(
          2e-3 + 2e-2 * Math.abs(g[i]),
        );
        checked++;
      }
      expect(Math.max(...Array.from(g, Math.abs)), `${name} has a zero gradient`).toBeGreaterThan(1e-4);
    }
    expect(checked).toBeGreaterThanOrEqual(names.length * 3);
    tf.dispose(grads);
    weights.dispose();
    model.dispose();
  });
});
