import type { TestProject } from 'vitest/node';
import { startEphemeralStack } from '../infra/ephemeral';

/** Starts a real Temporal dev server and a real MinIO for the whole test run; stops them afterwards. */

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
  const stack = await startEphemeralStack((l) => console.log(`[stack] ${l}`));
  project.provide('temporalAddress', stack.temporal.address);
  project.provide('temporalNamespace', stack.temporal.namespace);
  project.provide('s3Endpoint', stack.s3.endpoint);
  project.provide('s3AccessKey', stack.s3.accessKey);
  project.provide('s3SecretKey', stack.s3.secretKey);
  project.provide('s3Bucket', stack.s3.bucket);
  project.provide('stackHome', stack.home);
  return () => stack.stop();
}
