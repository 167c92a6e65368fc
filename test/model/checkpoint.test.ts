import { describe, expect, it } from 'vitest';
import { roundTripCheckpoint } from '../../src/storage/checkpoint-format';
import {
  buildActionBatch,
  initBackend,
  modelFromCheckpoint,
  modelToCheckpoint,
  Tokenizer,
  TransformerLM,
} from '../../src/model';
import { maxAbsDiff, TINY, tinyModel } from './helpers';

const batch = buildActionBatch([
  { context: [1, 4, 5, 6], action: [7, 8, 2] },
  { context: [1, 9], action: [10, 2] },
]);

describe('checkpoint bytes', () => {
  it('a policy without a value head loads into a PPO model with a fresh head (PPO from an SFT base)', async () => {
    await initBackend('wasm');
    const model = TransformerLM.create(TINY, 4);
    const content = roundTripCheckpoint(modelToCheckpoint(model, { step: 1 }));
    expect(content.tensors.some((t) => t.name.startsWith('value_head/'))).toBe(false);
    const ppo = modelFromCheckpoint(content, { ...TINY, valueHead: true });
    expect(ppo.config.valueHead).toBe(true);
    expect(ppo.actionLogProbs(batch)).toEqual(model.actionLogProbs(batch)); // the LM is untouched
    const values = ppo.values(batch).arraySync() as number[][];
    expect(values[0].every(Number.isFinite)).toBe(true);
    // A missing LM tensor is still an error.
    const broken = { ...content, tensors: content.tensors.filter((t) => t.name !== 'ln_f/gamma') };
    expect(() => modelFromCheckpoint(broken, { ...TINY, valueHead: true })).toThrow(
      /missing tensor "ln_f\/gamma"/,
    );
    [model, ppo].forEach((m) => m.dispose());
  });

  it('a save -> load round trip gives bit-identical log-probs, optimizer state, tokenizer and step', async () => {
    await initBackend('wasm');
    const tok = Tokenizer.fromTexts(['#_P', 'up down']);
    const model = TransformerLM.create({ ...TINY, vocabSize: tok.size }, 4, tok);
    const b = buildActionBatch([{ context: [1, 5, 6], action: [7, 2] }]);
    for (let i = 0; i < 3; i++) model.trainStep(() => model.actionNll(b), { lr: 1e-2 });
    const content = roundTripCheckpoint(modelToCheckpoint(model, { step: 42, meta: { iteration: 7 } }));
    expect(content.step).toBe(42);
    expect(content.meta?.iteration).toBe(7);
    expect(content.tensors.some((t) => t.name === 'optimizer/block0/mlp/w1/m')).toBe(true);
    const loaded = modelFromCheckpoint(content, { ...TINY, vocabSize: tok.size });
    expect(loaded.actionLogProbs(b)).toEqual(model.actionLogProbs(b)); // bit-identical
    expect(loaded.step).toBe(3);
    expect(loaded.tokenizer?.vocab).toEqual(tok.vocab);
    // Same optimizer state -> the next step is identical too.
    model.trainStep(() => model.actionNll(b), { lr: 1e-2 });
    loaded.trainStep(() => loaded.actionNll(b), { lr: 1e-2 });
    expect(loaded.actionLogProbs(b)).toEqual(model.actionLogProbs(b));
    model.dispose();
    loaded.dispose();
  });

  it('a config mismatch is an error naming each field', async () => {
    await initBackend('wasm');
    const model = TransformerLM.create(TINY, 0);
    const content = roundTripCheckpoint(modelToCheckpoint(model, { step: 1 }));
    expect(() => modelFromCheckpoint(content, { dModel: 32, nLayers: 3 })).toThrow(
      /dModel: checkpoint has 16, expected 32; nLayers: checkpoint has 2, expected 3/,
    );
    const missing = { ...content, tensors: content.tensors.filter((t) => t.name !== 'block1/mlp/w2') };
    expect(() => modelFromCheckpoint(missing)).toThrow(/missing tensor "block1\/mlp\/w2"/);
    const bent = {
      ...content,
      tensors: content.tensors.map((t) => (t.name === 'tok_emb' ? { ...t, shape: [16, 12] } : t)),
    };
    expect(() => modelFromCheckpoint(bent)).toThrow(
      /"tok_emb" is float32\[16,12\], expected float32\[12,16\]/,
    );
    model.dispose();
  });

  it('wasm and cpu backends agree to 1e-4 on the log-probs of the same weights', async () => {
    await initBackend('cpu');
    const onCpu = tinyModel();
    const cpuLp = onCpu.actionLogProbs(batch);
    const cpuEnt = onCpu.entropy(batch);
    const cpuEntData = cpuEnt.dataSync().slice();
    cpuEnt.dispose();
    const content = roundTripCheckpoint(modelToCheckpoint(onCpu, { step: 0 }));
    onCpu.dispose();
    const info = await initBackend('wasm');
    expect(info.backend).toBe('wasm');
    const onWasm = modelFromCheckpoint(content);
    const wasmLp = onWasm.actionLogProbs(batch);
    const ent = onWasm.entropy(batch);
    expect(maxAbsDiff(ent.dataSync(), cpuEntData)).toBeLessThan(1e-4);
    ent.dispose();
    cpuLp.forEach((row, b) => expect(maxAbsDiff(row, wasmLp[b])).toBeLessThan(1e-4));
    expect(Math.min(...cpuLp.flat())).toBeLessThan(-0.5); // real, non-trivial values
    onWasm.dispose();
  });
});

describe('initBackend', () => {
  it('is idempotent, and a missing backend is a clear error saying how to install it', async () => {
    const a = await initBackend('wasm');
    expect(await initBackend('wasm')).toBe(a);
    const pkg = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];
    const hasLibtensorflow = (
      await Promise.all(
        pkg.map((p) =>
          import(p).then(
            () => true,
            () => false,
          ),
        ),
      )
    ).some(Boolean);
    if (hasLibtensorflow) {
      expect((await initBackend('tensorflow')).backend).toBe('tensorflow');
    } else {
      await expect(initBackend('tensorflow')).rejects.toThrow(/npm install @tensorflow\/tfjs-node-gpu/);
      // auto falls back to wasm where libtensorflow is absent.
      expect((await initBackend('auto')).backend).toBe('wasm');
    }
    await expect(initBackend('gpu-please')).rejects.toThrow(/must be one of auto, tensorflow, wasm, cpu/);
  });
});
