import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { downStack, freePort, upStack } from '../infra/stack';
import { istarHome } from '../infra/paths';
import { findMinio, findTemporal, installAll } from '../infra/install';

/**
 * Starts a real Temporal dev server and a real MinIO on free loopback ports, with their data in a temporary
 * folder, for the whole test run; stops them afterwards. Binaries come from the project's install
 * (infra/install.ts), installed here if missing.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalNamespace: string;
    s3Endpoint: string;
    s3AccessKey: string;
    s3SecretKey: string;
    s3Bucket: string;
    stackHome: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const projectHome = istarHome();
  if (!findTemporal(projectHome) || !findMinio(projectHome)) installAll(projectHome);
  const home = mkdtempSync(path.join(os.tmpdir(), 'istar-test-'));
  const [temporalPort, uiPort, s3Port] = [await freePort(), await freePort(), await freePort()];
  const env = {
    ...process.env,
    ISTAR_HOME: home,
    ISTAR_TEMPORAL_BIN: findTemporal(projectHome),
    ISTAR_MINIO_BIN: findMinio(projectHome),
  };
  const temporal = { address: `127.0.0.1:${temporalPort}`, namespace: 'default', uiPort };
  const s3 = {
    endpoint: `http://127.0.0.1:${s3Port}`,
    accessKey: 'istar-test',
    secretKey: 'istar-test-secret',
    bucket: 'istar-test',
    region: 'us-east-1',
  };
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    await upStack({ home, temporal, s3, install: false, log: (l) => console.log(`[stack] ${l}`) });
  } finally {
    process.env = saved;
  }
  project.provide('temporalAddress', temporal.address);
  project.provide('temporalNamespace', temporal.namespace);
  project.provide('s3Endpoint', s3.endpoint);
  project.provide('s3AccessKey', s3.accessKey);
  project.provide('s3SecretKey', s3.secretKey);
  project.provide('s3Bucket', s3.bucket);
  project.provide('stackHome', home);
  return async () => {
    await downStack({ home, log: (l) => console.log(`[stack] ${l}`) });
    rmSync(home, { recursive: true, force: true });
  };
}
