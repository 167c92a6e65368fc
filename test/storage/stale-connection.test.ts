import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findMinio } from '../../infra/install';
import { freePort } from '../../infra/stack';
import { ArtifactStore, isStaleConnectionError, withFreshConnection } from '../../src/storage/store';

/**
 * A long synchronous tfjs step keeps the event loop from seeing MinIO close an idle keep-alive connection;
 * the next request then goes out on the dead socket ("socket hang up"). Here a real MinIO of our own with a
 * 1 s idle timeout (the default is 30 s, too slow for a test) and a 3 s busy loop reproduce that.
 */
let minio: ChildProcess;
let dir: string;
let store: ArtifactStore;

const blockEventLoop = (ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
};

beforeAll(async () => {
  const bin = findMinio();
  if (!bin) throw new Error('MinIO is not installed: run `npx tsx infra/install.ts`');
  dir = mkdtempSync(path.join(os.tmpdir(), 'istar-stale-'));
  const port = await freePort();
  const env = { ...process.env, MINIO_ROOT_USER: 'stale-test', MINIO_ROOT_PASSWORD: 'stale-test-secret' };
  minio = spawn(
    bin,
    ['server', '--quiet', '--idle-timeout', '1s', '--address', `127.0.0.1:${port}`, path.join(dir, 'data')],
    {
      env,
      stdio: 'ignore',
    },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const up = await fetch(`${endpoint}/minio/health/live`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (i > 300) throw new Error('the stale-connection MinIO did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  store = ArtifactStore.fromSettings({
    endpoint,
    accessKey: 'stale-test',
    secretKey: 'stale-test-secret',
    bucket: 'stale',
    region: 'us-east-1',
  });
  await store.ensureBucket();
}, 60_000);

afterAll(() => {
  minio?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('store requests after the event loop was blocked past the server idle timeout', () => {
  it('the raw client fails on the dead pooled socket (the hazard is real)', async () => {
    await store.client.putObject(store.bucket, 'raw/a', Buffer.from('a'));
    blockEventLoop(3_000);
    await expect(store.client.putObject(store.bucket, 'raw/b', Buffer.from('b'))).rejects.toSatisfy(
      isStaleConnectionError,
    );
  });

  it('the store puts, gets, lists and round-trips a checkpoint anyway', async () => {
    await store.putText('fresh/a.txt', 'a');
    blockEventLoop(3_000);
    await store.putText('fresh/b.txt', 'b');
    blockEventLoop(3_000);
    expect((await store.getBytes('fresh/a.txt')).toString()).toBe('a');
    blockEventLoop(3_000);
    expect(await store.list('fresh/')).toEqual(['fresh/a.txt', 'fresh/b.txt']);
    blockEventLoop(3_000);
    const content = {
      step: 2,
      config: {},
      meta: {},
      tensors: [{ name: 'w', shape: [3], dtype: 'float32' as const, data: Float32Array.of(1, 2, 3) }],
    };
    await store.putCheckpoint('fresh/ckpt/', content);
    blockEventLoop(3_000);
    const back = await store.getCheckpoint('fresh/ckpt/');
    expect(Array.from(back.tensors[0].data)).toEqual([1, 2, 3]);
  }, 60_000);
});

describe('withFreshConnection', () => {
  const reset = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

  it('retries a stale connection and returns the second answer', async () => {
    let calls = 0;
    const out = await withFreshConnection(async () => {
      calls++;
      if (calls === 1) throw reset();
      return 42;
    });
    expect([out, calls]).toEqual([42, 2]);
  });

  it('gives up after 3 stale attempts with the last error', async () => {
    let calls = 0;
    await expect(
      withFreshConnection(async () => {
        calls++;
        throw reset();
      }),
    ).rejects.toThrow('socket hang up');
    expect(calls).toBe(3);
  });

  it('passes other errors (server down, not found) through at once', async () => {
    let calls = 0;
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    await expect(
      withFreshConnection(async () => {
        calls++;
        throw refused;
      }),
    ).rejects.toBe(refused);
    expect(calls).toBe(1);
  });
});
