import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import * as Minio from 'minio';
import type { S3Settings } from '../config/connection';
import { s3SettingsFromEnv } from '../config/connection';
import {
  CheckpointCorruptError,
  contentFromVerifiedBuffer,
  encodeCheckpoint,
  validateManifest,
  type CheckpointContent,
  type CheckpointManifest,
} from './checkpoint-format';
import { checkpointPrefix, experimentPrefix, iterationOfKey, type CheckpointKind } from './keys';

/** A key that should exist does not: a checkpoint without its manifest, an artifact never written. */
export class ArtifactMissingError extends Error {
  override name = 'ArtifactMissingError';
}

/** Errors that retrying will not fix (activities map them to non-retryable failures). */
export function isPermanentStorageError(err: unknown): boolean {
  return err instanceof CheckpointCorruptError || err instanceof ArtifactMissingError;
}

const MANIFEST = 'manifest.json';
const WEIGHTS = 'weights.bin';
/** Part size for multipart uploads of streams: 16 MiB keeps memory flat for large checkpoints. */
const PART_SIZE = 16 * 1024 * 1024;

/**
 * A pooled keep-alive connection the server closed while this process was busy (a synchronous tfjs step
 * longer than MinIO's idle timeout keeps the event loop from seeing the close), or a reset in flight. The
 * request never reached the server's handler or is idempotent here (whole-object puts of deterministic
 * keys, gets, lists, deletes), so it is retried at once on a fresh connection.
 */
export function isStaleConnectionError(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'UND_ERR_SOCKET' ||
    (err instanceof Error && /socket hang up/i.test(err.message))
  );
}

/** Attempts of one store request on stale connections before the error reaches the caller. */
const STALE_CONNECTION_ATTEMPTS = 3;

/**
 * Run `request` after one turn of the event loop (expired or closed pooled sockets are dropped first) and
 * again, up to STALE_CONNECTION_ATTEMPTS times, when it fails on a stale connection. Other errors (MinIO
 * down, not found, access denied) go to the caller at once: activities retry those with backoff.
 */
export async function withFreshConnection<T>(request: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      return await request();
    } catch (err) {
      if (attempt >= STALE_CONNECTION_ATTEMPTS || !isStaleConnectionError(err)) throw err;
    }
  }
}

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchObject';
}

/**
 * Artifacts and checkpoints in any S3-compatible store (MinIO locally). Keys come from ./keys; values are
 * JSON, bytes or streams. Checkpoints are written blobs first and manifest last, so a reader that finds a
 * manifest finds complete weights; reads verify the weights' sha256 against the manifest.
 */
export class ArtifactStore {
  constructor(
    readonly client: Minio.Client,
    readonly bucket: string,
  ) {}

  static fromSettings(s3: S3Settings): ArtifactStore {
    const url = new URL(s3.endpoint);
    const useSSL = url.protocol === 'https:';
    const client = new Minio.Client({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : useSSL ? 443 : 80,
      useSSL,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      region: s3.region,
      partSize: PART_SIZE,
    });
    return new ArtifactStore(client, s3.bucket);
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env): ArtifactStore {
    return ArtifactStore.fromSettings(s3SettingsFromEnv(env));
  }

  async ensureBucket(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) {
      try {
        await this.client.makeBucket(this.bucket);
      } catch (err) {
        // Another process may have created it between the check and the call.
        if ((err as { code?: string }).code !== 'BucketAlreadyOwnedByYou') throw err;
      }
    }
  }

  async putBytes(key: string, bytes: Uint8Array, contentType = 'application/octet-stream'): Promise<string> {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    await withFreshConnection(() =>
      this.client.putObject(this.bucket, key, buf, buf.byteLength, { 'Content-Type': contentType }),
    );
    return key;
  }

  /**
   * Upload a stream without holding it in memory (multipart, PART_SIZE at a time). A stream cannot be
   * replayed, so only the first event-loop turn of withFreshConnection applies; a stale connection fails
   * the call (callers with the bytes at hand use putChunks).
   */
  async putStream(
    key: string,
    stream: Readable,
    size?: number,
    contentType = 'application/octet-stream',
  ): Promise<string> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.client.putObject(this.bucket, key, stream, size, { 'Content-Type': contentType });
    return key;
  }

  /** Upload chunks already in memory as one object, streamed (no concatenated copy) and retried when stale. */
  async putChunks(
    key: string,
    chunks: readonly Uint8Array[],
    contentType = 'application/octet-stream',
  ): Promise<string> {
    const size = chunks.reduce((n, c) => n + c.byteLength, 0);
    await withFreshConnection(() =>
      this.client.putObject(
        this.bucket,
        key,
        Readable.from(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))),
        size,
        { 'Content-Type': contentType },
      ),
    );
    return key;
  }

  async putJson(key: string, value: unknown): Promise<string> {
    return this.putBytes(key, Buffer.from(JSON.stringify(value)), 'application/json');
  }

  async putText(key: string, text: string, contentType = 'text/plain; charset=utf-8'): Promise<string> {
    return this.putBytes(key, Buffer.from(text, 'utf8'), contentType);
  }

  /** The object's body; a missing key is ArtifactMissingError. No retry: callers wrap it in withFreshConnection. */
  private async openObject(key: string): Promise<Readable> {
    try {
      return await this.client.getObject(this.bucket, key);
    } catch (err) {
      if (isNotFound(err)) throw new ArtifactMissingError(`no object at s3://${this.bucket}/${key}`);
      throw err;
    }
  }

  async getStream(key: string): Promise<Readable> {
    return withFreshConnection(() => this.openObject(key));
  }

  async getBytes(key: string): Promise<Buffer> {
    return withFreshConnection(async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of await this.openObject(key)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    });
  }

  async getJson<T = unknown>(key: string): Promise<T> {
    const bytes = await this.getBytes(key);
    try {
      return JSON.parse(bytes.toString('utf8')) as T;
    } catch (err) {
      throw new CheckpointCorruptError(
        `s3://${this.bucket}/${key} is not valid JSON: ${(err as Error).message}`,
      );
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await withFreshConnection(() => this.client.statObject(this.bucket, key));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Every key under a prefix (recursive), sorted. */
  async list(prefix: string): Promise<string[]> {
    return withFreshConnection(async () => {
      const keys: string[] = [];
      const stream = this.client.listObjectsV2(this.bucket, prefix, true);
      for await (const item of stream as AsyncIterable<{ name?: string }>)
        if (item.name) keys.push(item.name);
      return keys.sort();
    });
  }

  async deletePrefix(prefix: string): Promise<number> {
    const keys = await this.list(prefix);
    if (keys.length > 0) await withFreshConnection(() => this.client.removeObjects(this.bucket, keys));
    return keys.length;
  }

  /** Iterations of an experiment that have any artifact stored, ascending. */
  async listIterations(experimentId: string): Promise<number[]> {
    const keys = await this.list(`${experimentPrefix(experimentId)}iterations/`);
    return [...new Set(keys.map(iterationOfKey).filter((i): i is number => i !== undefined))].sort(
      (a, b) => a - b,
    );
  }

  /** Iterations of an experiment with a complete checkpoint (a manifest) of this kind, ascending. */
  async listCheckpoints(experimentId: string, kind: CheckpointKind): Promise<number[]> {
    const keys = await this.list(`${experimentPrefix(experimentId)}checkpoints/${kind}/`);
    return keys
      .filter((k) => k.endsWith(`/${MANIFEST}`))
      .map(iterationOfKey)
      .filter((i): i is number => i !== undefined)
      .sort((a, b) => a - b);
  }

  /** Write a checkpoint under `prefix` (ending in "/"): weights streamed first, manifest last. */
  async putCheckpoint(prefix: string, content: CheckpointContent): Promise<string> {
    if (!prefix.endsWith('/'))
      throw new Error(`checkpoint prefix must end with "/", got ${JSON.stringify(prefix)}`);
    const { manifest, chunks } = encodeCheckpoint(content);
    await this.putChunks(`${prefix}${WEIGHTS}`, chunks);
    await this.putJson(`${prefix}${MANIFEST}`, manifest);
    return prefix;
  }

  async readManifest(prefix: string): Promise<CheckpointManifest> {
    let raw: unknown;
    try {
      raw = await this.getJson(`${prefix}${MANIFEST}`);
    } catch (err) {
      if (err instanceof ArtifactMissingError) {
        throw new ArtifactMissingError(
          `checkpoint s3://${this.bucket}/${prefix} has no ${MANIFEST}: it was never completed or was deleted (a checkpoint is valid only once its manifest is written)`,
        );
      }
      throw err;
    }
    return validateManifest(raw, `s3://${this.bucket}/${prefix}${MANIFEST}`);
  }

  /**
   * The checkpoints a run resumed from `{experimentId, iteration}` starts with: that iteration's policy (which
   * must be complete) and its PRM, or the policy when the iteration stored no PRM.
   */
  async locateCheckpoints(from: {
    experimentId: string;
    iteration: number;
  }): Promise<{ policyKey: string; prmKey: string }> {
    const policyKey = checkpointPrefix(from.experimentId, 'policy', from.iteration);
    await this.readManifest(policyKey);
    const prmKey = checkpointPrefix(from.experimentId, 'prm', from.iteration);
    return { policyKey, prmKey: (await this.exists(`${prmKey}${MANIFEST}`)) ? prmKey : policyKey };
  }

  /** Read and verify a checkpoint: the weights are streamed into one buffer while their sha256 is computed. */
  async getCheckpoint(prefix: string): Promise<CheckpointContent> {
    const manifest = await this.readManifest(prefix);
    const where = `s3://${this.bucket}/${prefix}`;
    const aligned = new ArrayBuffer(manifest.blob.byteLength);
    const view = new Uint8Array(aligned);
    // Read from the start on every attempt (a connection reset mid-body retries the whole read).
    const sha = await withFreshConnection(async () => {
      const hash = createHash('sha256');
      let offset = 0;
      let stream: Readable;
      try {
        stream = await this.openObject(`${prefix}${WEIGHTS}`);
      } catch (err) {
        if (err instanceof ArtifactMissingError)
          throw new CheckpointCorruptError(`checkpoint ${where} has a manifest but no ${WEIGHTS}`);
        throw err;
      }
      for await (const chunk of stream) {
        const c = chunk as Buffer;
        if (offset + c.byteLength > view.byteLength) {
          stream.destroy();
          throw new CheckpointCorruptError(
            `checkpoint ${where} is corrupt: ${WEIGHTS} is longer than the manifest's ${manifest.blob.byteLength} bytes`,
          );
        }
        view.set(c, offset);
        hash.update(c);
        offset += c.byteLength;
      }
      if (offset !== manifest.blob.byteLength) {
        throw new CheckpointCorruptError(
          `checkpoint ${where} is corrupt: ${WEIGHTS} has ${offset} bytes, manifest says ${manifest.blob.byteLength}`,
        );
      }
      return hash.digest('hex');
    });
    if (sha !== manifest.blob.sha256) {
      throw new CheckpointCorruptError(
        `checkpoint ${where} is corrupt: ${WEIGHTS} sha256 ${sha} does not match the manifest's ${manifest.blob.sha256}`,
      );
    }
    return contentFromVerifiedBuffer(manifest, aligned);
  }

  /** Convenience: checkpoint of an experiment's policy/PRM at an iteration. */
  putModelCheckpoint(
    experimentId: string,
    kind: CheckpointKind,
    iteration: number,
    content: CheckpointContent,
  ): Promise<string> {
    return this.putCheckpoint(checkpointPrefix(experimentId, kind, iteration), content);
  }

  getModelCheckpoint(
    experimentId: string,
    kind: CheckpointKind,
    iteration: number,
  ): Promise<CheckpointContent> {
    return this.getCheckpoint(checkpointPrefix(experimentId, kind, iteration));
  }
}
