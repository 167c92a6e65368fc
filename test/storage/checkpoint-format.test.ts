import { describe, expect, it } from 'vitest';
import {
  CheckpointCorruptError,
  decodeCheckpoint,
  encodeCheckpoint,
  roundTripCheckpoint,
  validateManifest,
} from '../../src/storage/checkpoint-format';

const content = {
  step: 2,
  config: { a: 1 },
  tensors: [
    { name: 'w', shape: [2, 2], dtype: 'float32' as const, data: Float32Array.of(1, 2, 3, 4) },
    { name: 'n', shape: [3], dtype: 'int32' as const, data: Int32Array.of(-1, 0, 1) },
  ],
};

describe('checkpoint format', () => {
  it('lays tensors out back to back and hashes them', () => {
    const { manifest, chunks } = encodeCheckpoint(content);
    expect(manifest.tensors).toEqual([
      { name: 'w', shape: [2, 2], dtype: 'float32', offset: 0, byteLength: 16 },
      { name: 'n', shape: [3], dtype: 'int32', offset: 16, byteLength: 12 },
    ]);
    expect(manifest.blob.byteLength).toBe(28);
    expect(chunks.map((c) => c.byteLength)).toEqual([16, 12]);
    expect([...roundTripCheckpoint(content).tensors[1].data]).toEqual([-1, 0, 1]);
  });

  it('refuses bad content and bad manifests by name', () => {
    expect(() => encodeCheckpoint({ ...content, tensors: [content.tensors[0], content.tensors[0]] })).toThrow(
      /two tensors named "w"/,
    );
    expect(() =>
      encodeCheckpoint({ step: 0, config: {}, tensors: [{ ...content.tensors[0], shape: [3] }] }),
    ).toThrow(/shape \[3\] needs 3 values, data has 4/);
    const { manifest } = encodeCheckpoint(content);
    expect(() => validateManifest({ ...manifest, format: 'v0' }, 'm')).toThrow(/format is "v0"/);
    expect(() =>
      validateManifest({ ...manifest, tensors: [{ ...manifest.tensors[0], dtype: 'float16' }] }, 'm'),
    ).toThrow(/unknown dtype/);
    expect(() => validateManifest({ ...manifest, tensors: [manifest.tensors[1]] }, 'm')).toThrow(
      /starts at 16, expected 0/,
    );
    expect(() => validateManifest(null, 'm')).toThrow(CheckpointCorruptError);
  });

  it('detects a flipped bit', () => {
    const { manifest, chunks } = encodeCheckpoint(content);
    const blob = Buffer.concat(chunks);
    blob[0] ^= 0x80;
    expect(() => decodeCheckpoint(manifest, blob, 'x')).toThrow(
      /checkpoint x is corrupt: weights.bin sha256/,
    );
  });
});
