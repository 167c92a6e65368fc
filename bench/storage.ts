import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { startEphemeralStack } from '../infra/ephemeral';
import { ArtifactStore } from '../src/storage/store';
import { isMain } from './util';

const MB = 1024 * 1024;

/** Store put/get MB/s against a real MinIO next to plain local-disk write MB/s, measured in one run. */
export async function benchStorage(sizeMb = 256): Promise<Record<string, number | string>> {
  const stack = await startEphemeralStack();
  const chunk = randomBytes(MB);
  const chunks = function* () {
    for (let i = 0; i < sizeMb; i++) yield chunk;
  };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'istar-bench-disk-'));
  try {
    const store = ArtifactStore.fromSettings(stack.s3);
    await store.ensureBucket();
    const results: Record<string, number | string> = {};
    // Local disk: the same bytes, written and fsynced.
    let t = performance.now();
    const fh = await open(path.join(dir, 'blob.bin'), 'w');
    for (const c of chunks()) await fh.write(c);
    await fh.sync();
    await fh.close();
    const diskWrite = sizeMb / ((performance.now() - t) / 1000);

    t = performance.now();
    await store.putStream('bench/blob.bin', Readable.from(chunks()), sizeMb * MB);
    const put = sizeMb / ((performance.now() - t) / 1000);

    t = performance.now();
    let bytes = 0;
    for await (const c of await store.getStream('bench/blob.bin')) bytes += (c as Buffer).byteLength;
    const get = sizeMb / ((performance.now() - t) / 1000);
    if (bytes !== sizeMb * MB) throw new Error(`read back ${bytes} bytes, expected ${sizeMb * MB}`);

    results['storage/object_mb'] = sizeMb;
    results['storage/local_disk_write_mb_s'] = round(diskWrite);
    results['storage/s3_put_mb_s'] = round(put);
    results['storage/s3_get_mb_s'] = round(get);
    results['storage/put_vs_disk_ratio'] = round(put / diskWrite, 3);
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await stack.stop();
  }
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits));

if (isMain(import.meta.url)) {
  benchStorage()
    .then((r) => console.table(r))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
