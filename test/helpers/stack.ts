import { inject } from 'vitest';
import type { S3Settings, TemporalSettings } from '../../src/config/connection';
import { ArtifactStore } from '../../src/storage/store';

/** Connection settings of the real stack started by test/global-setup.ts. */
export function testTemporal(): TemporalSettings {
  return { address: inject('temporalAddress'), namespace: inject('temporalNamespace'), uiPort: 0 };
}

export function testS3(): S3Settings {
  return {
    endpoint: inject('s3Endpoint'),
    accessKey: inject('s3AccessKey'),
    secretKey: inject('s3SecretKey'),
    bucket: inject('s3Bucket'),
    region: 'us-east-1',
  };
}

export function testStore(): ArtifactStore {
  return ArtifactStore.fromSettings(testS3());
}

/** Environment variables that point library code (S3/Temporal from env) at the test stack. */
export function testEnv(): Record<string, string> {
  const s3 = testS3();
  return {
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: inject('temporalNamespace'),
    S3_ENDPOINT: s3.endpoint,
    S3_ACCESS_KEY: s3.accessKey,
    S3_SECRET_KEY: s3.secretKey,
    S3_BUCKET: s3.bucket,
  };
}
