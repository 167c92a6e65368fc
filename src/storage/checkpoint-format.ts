import { createHash } from 'node:crypto';

/**
 * The checkpoint format of the store (DESIGN.md section 6): one `weights.bin` blob holding every tensor's
 * bytes back to back, and a `manifest.json` naming each tensor's shape, dtype and byte range plus the
 * sha256 of the blob. A reader trusts only a manifest and verifies the hash before decoding.
 * Pure: no I/O here; src/storage/checkpoint-store.ts moves the bytes.
 */

export const CHECKPOINT_FORMAT = 'istar-checkpoint/1';

export type DType = 'float32' | 'int32';

export interface NamedTensor {
  /** Unique name, e.g. `block0/attn/wq` or `optimizer/block0/attn/wq/m`. */
  name: string;
  shape: number[];
  dtype: DType;
  data: Float32Array | Int32Array;
}

/** What a model hands to the store and gets back. `config` and `meta` must be JSON-serialisable. */
export interface CheckpointContent {
  tensors: NamedTensor[];
  /** Optimizer/training step (or iteration) this checkpoint was taken at. */
  step: number;
  /** The model config (and anything a loader must match against). */
  config: unknown;
  /** Free-form JSON: tokenizer, optimizer hyper-parameters, iteration, metrics. */
  meta?: Record<string, unknown>;
}

export interface TensorEntry {
  name: string;
  shape: number[];
  dtype: DType;
  offset: number;
  byteLength: number;
}

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  step: number;
  config: unknown;
  meta: Record<string, unknown>;
  tensors: TensorEntry[];
  blob: { name: 'weights.bin'; byteLength: number; sha256: string };
}

/** Raised for anything wrong with stored checkpoint bytes; never worth retrying. */
export class CheckpointCorruptError extends Error {
  override name = 'CheckpointCorruptError';
}

const BYTES_PER_ELEMENT: Record<DType, number> = { float32: 4, int32: 4 };

function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Lay out the tensors and hash them. Returns the manifest and the blob as a list of chunks that are views
 * over the tensors' own memory (no copy), so a large checkpoint can be streamed to storage.
 */
export function encodeCheckpoint(content: CheckpointContent): {
  manifest: CheckpointManifest;
  chunks: Uint8Array[];
} {
  const seen = new Set<string>();
  const hash = createHash('sha256');
  const tensors: TensorEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of content.tensors) {
    if (seen.has(t.name)) throw new Error(`checkpoint has two tensors named "${t.name}"`);
    seen.add(t.name);
    const expected = elementCount(t.shape);
    if (t.data.length !== expected) {
      throw new Error(
        `tensor "${t.name}": shape [${t.shape}] needs ${expected} values, data has ${t.data.length}`,
      );
    }
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    hash.update(bytes);
    chunks.push(bytes);
    tensors.push({ name: t.name, shape: [...t.shape], dtype: t.dtype, offset, byteLength: bytes.byteLength });
    offset += bytes.byteLength;
  }
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    step: content.step,
    config: content.config,
    meta: content.meta ?? {},
    tensors,
    blob: { name: 'weights.bin', byteLength: offset, sha256: hash.digest('hex') },
  };
  return { manifest, chunks };
}

/** Check that parsed JSON is a manifest this code can read; names the first problem found. */
export function validateManifest(value: unknown, where: string): CheckpointManifest {
  const fail = (why: string): never => {
    throw new CheckpointCorruptError(`checkpoint manifest ${where} is invalid: ${why}`);
  };
  if (typeof value !== 'object' || value === null) fail('not a JSON object');
  const m = value as Partial<CheckpointManifest>;
  if (m.format !== CHECKPOINT_FORMAT)
    fail(`format is ${JSON.stringify(m.format)}, expected "${CHECKPOINT_FORMAT}"`);
  if (typeof m.step !== 'number') fail('step is missing');
  if (!Array.isArray(m.tensors)) fail('tensors is missing');
  if (!m.blob || typeof m.blob.sha256 !== 'string' || typeof m.blob.byteLength !== 'number')
    fail('blob is missing');
  let end = 0;
  for (const t of m.tensors!) {
    if (!(t.dtype in BYTES_PER_ELEMENT))
      fail(`tensor "${t.name}" has unknown dtype ${JSON.stringify(t.dtype)}`);
    if (t.offset !== end) fail(`tensor "${t.name}" starts at ${t.offset}, expected ${end}`);
    if (t.byteLength !== elementCount(t.shape) * BYTES_PER_ELEMENT[t.dtype]) {
      fail(`tensor "${t.name}" byteLength ${t.byteLength} does not match shape [${t.shape}]`);
    }
    end += t.byteLength;
  }
  if (end !== m.blob!.byteLength)
    fail(`tensors cover ${end} bytes but blob.byteLength is ${m.blob!.byteLength}`);
  return m as CheckpointManifest;
}

/** Verify the blob against the manifest (length, sha256) and cut it into tensors. */
export function decodeCheckpoint(
  manifest: CheckpointManifest,
  blob: Uint8Array,
  where = '',
): CheckpointContent {
  if (blob.byteLength !== manifest.blob.byteLength) {
    throw new CheckpointCorruptError(
      `checkpoint ${where} is corrupt: weights.bin has ${blob.byteLength} bytes, manifest says ${manifest.blob.byteLength}`,
    );
  }
  const sha = createHash('sha256').update(blob).digest('hex');
  if (sha !== manifest.blob.sha256) {
    throw new CheckpointCorruptError(
      `checkpoint ${where} is corrupt: weights.bin sha256 ${sha} does not match the manifest's ${manifest.blob.sha256}`,
    );
  }
  // Copy into an aligned buffer once; tensors are views into it.
  const aligned = new ArrayBuffer(blob.byteLength);
  new Uint8Array(aligned).set(blob);
  return contentFromVerifiedBuffer(manifest, aligned);
}

/** Cut an already verified, 4-byte aligned weights buffer into tensors (views, no copy). */
export function contentFromVerifiedBuffer(
  manifest: CheckpointManifest,
  aligned: ArrayBuffer,
): CheckpointContent {
  const tensors: NamedTensor[] = manifest.tensors.map((t) => ({
    name: t.name,
    shape: [...t.shape],
    dtype: t.dtype,
    data:
      t.dtype === 'float32'
        ? new Float32Array(aligned, t.offset, t.byteLength / 4)
        : new Int32Array(aligned, t.offset, t.byteLength / 4),
  }));
  return { tensors, step: manifest.step, config: manifest.config, meta: manifest.meta };
}

/** Encode then decode in memory: what a save -> load through the store gives, without the store. */
export function roundTripCheckpoint(content: CheckpointContent): CheckpointContent {
  const { manifest, chunks } = encodeCheckpoint(content);
  const blob = Buffer.concat(chunks);
  return decodeCheckpoint(
    validateManifest(JSON.parse(JSON.stringify(manifest)), 'in-memory'),
    blob,
    'in-memory',
  );
}
