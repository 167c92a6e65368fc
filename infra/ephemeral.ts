import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Settings, TemporalSettings } from '../src/config/connection';
import { findMinio, findTemporal, installAll } from './install';
import { istarHome } from './paths';
import { downStack, freePort, upStack } from './stack';

export interface EphemeralStack {
  home: string;
  temporal: TemporalSettings;
  s3: S3Settings;
  /** Process ids of the Temporal server and MinIO. */
  pids: number[];
  /** Environment variables pointing library code at this stack. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * A throw-away stack for tests and benchmarks: real Temporal and MinIO on free loopback ports, data in a
 * temporary folder, binaries from the project's install (installed first if missing).
 */
export async function startEphemeralStack(log: (line: string) => void = () => {}): Promise<EphemeralStack> {
  const projectHome = istarHome();
  if (!findTemporal(projectHome) || !findMinio(projectHome)) installAll(projectHome, log);
  const home = mkdtempSync(path.join(os.tmpdir(), 'istar-stack-'));
  const [temporalPort, uiPort, s3Port] = [await freePort(), await freePort(), await freePort()];
  const temporal: TemporalSettings = { address: `127.0.0.1:${temporalPort}`, namespace: 'default', uiPort };
  const s3: S3Settings = {
    endpoint: `http://127.0.0.1:${s3Port}`,
    accessKey: 'istar-test',
    secretKey: 'istar-test-secret',
    bucket: 'istar-test',
    region: 'us-east-1',
  };
  const saved = { ...process.env };
  process.env.ISTAR_TEMPORAL_BIN = findTemporal(projectHome);
  process.env.ISTAR_MINIO_BIN = findMinio(projectHome);
  let pids: number[] = [];
  try {
    const stack = await upStack({ home, temporal, s3, install: false, log });
    pids = stack.services.flatMap((s) => (s.pid === undefined ? [] : [s.pid]));
  } catch (err) {
    await downStack({ home, log });
    throw err;
  } finally {
    process.env = saved;
  }
  return {
    home,
    temporal,
    s3,
    pids,
    env: {
      ISTAR_HOME: home,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      S3_ENDPOINT: s3.endpoint,
      S3_ACCESS_KEY: s3.accessKey,
      S3_SECRET_KEY: s3.secretKey,
      S3_BUCKET: s3.bucket,
    },
    async stop() {
      await downStack({ home, log });
      rmSync(home, { recursive: true, force: true });
    },
  };
}
