import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Settings, TemporalSettings } from '../src/config/connection';
import { findMinio, findTemporal, installAll } from './install';
import { istarHome } from './paths';
import { downStack, freePorts, isPortInUse, upStack, type ListenHost } from './stack';

export interface EphemeralStack {
  home: string;
  temporal: TemporalSettings;
  s3: S3Settings;
  minioConsolePort: number;
  /** Process ids of the Temporal server and MinIO. */
  pids: number[];
  /** Environment variables pointing library code at this stack. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface EphemeralOptions {
  /**
   * Ports for attempt 1, 2, ...: Temporal frontend, Temporal UI, S3, MinIO console (default: free ports).
   * Tests use it to hand the first attempt a taken port.
   */
  choosePorts?: (attempt: number) => Promise<number[]>;
  /** Where the servers listen (default 127.0.0.1; 0.0.0.0 to be reachable on every interface). */
  listenHost?: ListenHost;
}

/**
 * A throw-away stack for tests and benchmarks: real Temporal and MinIO on free loopback ports, data in a
 * temporary folder, binaries from the project's install (installed first if missing).
 */
export async function startEphemeralStack(
  log: (line: string) => void = () => {},
  options: EphemeralOptions = {},
): Promise<EphemeralStack> {
  const choosePorts = options.choosePorts ?? (() => freePorts(4));
  const projectHome = istarHome();
  if (!findTemporal(projectHome) || !findMinio(projectHome)) installAll(projectHome, log);
  // Free ports can be taken by another process between choosing and binding them (parallel test files start
  // stacks of their own); a start that fails on a taken port is retried on fresh ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(projectHome, await choosePorts(attempt), log, options.listenHost ?? '127.0.0.1');
    } catch (err) {
      if (attempt >= PORT_ATTEMPTS || !isPortInUse(err)) throw err;
      log(`ephemeral stack: a port was taken while starting (attempt ${attempt}); retrying on fresh ports`);
    }
  }
}

const PORT_ATTEMPTS = 4;

async function startOn(
  projectHome: string,
  [temporalPort, uiPort, s3Port, minioConsolePort]: number[],
  log: (line: string) => void,
  listenHost: ListenHost,
): Promise<EphemeralStack> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'istar-stack-'));
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
    const stack = await upStack({ home, temporal, s3, minioConsolePort, listenHost, install: false, log });
    pids = stack.services.flatMap((s) => (s.pid === undefined ? [] : [s.pid]));
  } catch (err) {
    await downStack({ home, log });
    rmSync(home, { recursive: true, force: true });
    throw err;
  } finally {
    process.env = saved;
  }
  return {
    home,
    temporal,
    s3,
    minioConsolePort,
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
