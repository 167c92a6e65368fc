import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointCorruptError, type CheckpointContent } from '../../src/storage/checkpoint-format';
import { checkpointPrefix, configKey, iterationKey } from '../../src/storage/keys';
import { ArtifactMissingError, ArtifactStore, isPermanentStorageError } from '../../src/storage/store';
import { testStore } from '../helpers/stack';

let store: ArtifactStore;
beforeAll(async () => {
  store = testStore();
  await store.ensureBucket();
});

function smallCheckpoint(step = 3): CheckpointContent {
  return {
    step,
    config: { dModel: 4, vocabSize: 3 },
    meta: { tokenizer: ['<pad>', 'up', 'down'] },
    tensors: [
      {
        name: 'embed',
        shape: [3, 4],
        dtype: 'float32',
        data: Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 1),
      },
      { name: 'step', shape: [1], dtype: 'int32', data: Int32Array.of(7) },
      { name: 'bias', shape: [4], dtype: 'float32', data: Float32Array.of(1e-8, -3.25, Number.MAX_VALUE, 0) },
    ],
  };
}

describe('ArtifactStore against a real MinIO', () => {
  it('round-trips JSON, bytes and text by key', async () => {
    const key = configKey('store-json');
    await store.putJson(key, { algorithm: 'istar', beta: 0.05, nested: { list: [1, 2, 3] } });
    expect(await store.getJson(key)).toEqual({ algorithm: 'istar', beta: 0.05, nested: { list: [1, 2, 3] } });
    const bytes = Uint8Array.from([0, 1, 2, 255, 128]);
    await store.putBytes('experiments/store-json/blob.bin', bytes);
    expect([...(await store.getBytes('experiments/store-json/blob.bin'))]).toEqual([0, 1, 2, 255, 128]);
    expect(await store.exists(key)).toBe(true);
    expect(await store.exists('experiments/store-json/nothing.json')).toBe(false);
  });

  it('lists the iterations of an experiment in numeric order', async () => {
    for (const it of [10, 2, 1]) await store.putJson(iterationKey('store-list', it, 'metrics.json'), { it });
    await store.putJson(iterationKey('store-list', 2, 'pairs'), { n: 0 });
    await store.putJson(iterationKey('store-list-other', 5, 'metrics.json'), {});
    expect(await store.listIterations('store-list')).toEqual([1, 2, 10]);
  });

  it('round-trips a checkpoint bit for bit and lists it only once its manifest exists', async () => {
    const content = smallCheckpoint();
    await store.putModelCheckpoint('store-ckpt', 'policy', 4, content);
    const back = await store.getModelCheckpoint('store-ckpt', 'policy', 4);
    expect(back.step).toBe(3);
    expect(back.config).toEqual({ dModel: 4, vocabSize: 3 });
    expect(back.meta).toEqual({ tokenizer: ['<pad>', 'up', 'down'] });
    expect(back.tensors.map((t) => [t.name, t.shape, t.dtype])).toEqual([
      ['embed', [3, 4], 'float32'],
      ['step', [1], 'int32'],
      ['bias', [4], 'float32'],
    ]);
    for (let i = 0; i < content.tensors.length; i++) {
      expect(
        Buffer.from(
          back.tensors[i].data.buffer,
          back.tensors[i].data.byteOffset,
          back.tensors[i].data.byteLength,
        ),
      ).toEqual(Buffer.from(content.tensors[i].data.buffer));
    }
    const manifest = await store.getJson<{ tensors: { offset: number }[] }>(
      `${checkpointPrefix('store-ckpt', 'policy', 4)}manifest.json`,
    );
    expect(manifest.tensors.map((t) => t.offset)).toEqual([0, 48, 52]);
    // A blob without a manifest (a crash between the two writes) is not a checkpoint.
    await store.putBytes(`${checkpointPrefix('store-ckpt', 'policy', 5)}weights.bin`, new Uint8Array(8));
    expect(await store.listCheckpoints('store-ckpt', 'policy')).toEqual([4]);
  });

  it('detects a corrupted weights blob with a clear, permanent error', async () => {
    const prefix = checkpointPrefix('store-corrupt', 'prm', 1);
    await store.putCheckpoint(prefix, smallCheckpoint());
    const weights = await store.getBytes(`${prefix}weights.bin`);
    weights[5] ^= 0x01; // one flipped bit
    await store.putBytes(`${prefix}weights.bin`, weights);
    const err = await store.getCheckpoint(prefix).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointCorruptError);
    expect(String(err)).toMatch(
      /store-corrupt\/checkpoints\/prm\/000001\/ is corrupt: weights.bin sha256 [0-9a-f]{64} does not match/,
    );
    expect(isPermanentStorageError(err)).toBe(true);

    await store.putBytes(`${prefix}weights.bin`, weights.subarray(0, 20));
    await expect(store.getCheckpoint(prefix)).rejects.toThrow(/weights.bin has 20 bytes, manifest says 68/);

    await store.putText(`${prefix}manifest.json`, '{"format": "istar-checkpoint/1", "step": ');
    await expect(store.getCheckpoint(prefix)).rejects.toThrow(/manifest.json is not valid JSON/);
  });

  it('refuses a checkpoint whose manifest is missing, naming the key', async () => {
    const prefix = checkpointPrefix('store-missing', 'policy', 9);
    await store.putBytes(`${prefix}weights.bin`, new Uint8Array(16));
    const err = await store.getCheckpoint(prefix).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactMissingError);
    expect(String(err)).toContain(
      'experiments/store-missing/checkpoints/policy/000009/ has no manifest.json',
    );
    expect(isPermanentStorageError(err)).toBe(true);
    await expect(store.getJson('experiments/store-missing/none.json')).rejects.toThrow(ArtifactMissingError);
  });

  it('refuses hostile experiment ids by name before touching storage', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['../x', /path separator/],
      ['/x', /path separator/],
      ['..', /path traversal/],
      ['a..b', /path traversal/],
      ['', /it is empty/],
      ['x'.repeat(129), /129 characters long, the limit is 128/],
      ['run 1', /character " " is not allowed/],
      ['run$1', /character "\$" is not allowed/],
      ['-run', /must start with a letter or digit/],
      [42, /must be a string/],
    ];
    for (const [id, message] of cases) {
      expect(() => checkpointPrefix(id as string, 'policy', 1), String(id)).toThrow(message);
      expect(() => configKey(id as string)).toThrow(/invalid experiment id/);
    }
    expect(configKey('sokoban_istar-seed.1')).toBe('experiments/sokoban_istar-seed.1/config.json');
    expect(configKey('x'.repeat(128))).toHaveLength('experiments/'.length + 128 + '/config.json'.length);
  });

  it('streams a 72 MB object up and down without corruption', async () => {
    const chunk = randomBytes(1024 * 1024);
    const total = 72;
    const sha = createHash('sha256');
    for (let i = 0; i < total; i++) sha.update(chunk);
    function* chunks() {
      for (let i = 0; i < total; i++) yield chunk;
    }
    const key = 'experiments/store-large/big.bin';
    await store.putStream(key, Readable.from(chunks()), total * chunk.byteLength);
    const down = createHash('sha256');
    let bytes = 0;
    for await (const c of await store.getStream(key)) {
      down.update(c as Buffer);
      bytes += (c as Buffer).byteLength;
    }
    expect(bytes).toBe(total * 1024 * 1024);
    expect(down.digest('hex')).toBe(sha.digest('hex'));
  });

  it('round-trips a 64 MB checkpoint through the streaming path', async () => {
    const n = 16 * 1024 * 1024; // 16 Mi float32 = 64 MiB
    const data = new Float32Array(n);
    for (let i = 0; i < n; i += 4096) data[i] = i / n;
    const prefix = checkpointPrefix('store-large', 'policy', 1);
    await store.putCheckpoint(prefix, {
      step: 1,
      config: {},
      tensors: [{ name: 'big', shape: [n], dtype: 'float32', data }],
    });
    const back = await store.getCheckpoint(prefix);
    expect(back.tensors[0].data.length).toBe(n);
    expect(back.tensors[0].data[4096 * 100]).toBeCloseTo((4096 * 100) / n, 7);
    expect(back.tensors[0].data[1]).toBe(0);
  });
});
