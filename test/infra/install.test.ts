import { describe, expect, it } from 'vitest';
import { installAll, findMinio, findTemporal } from '../../infra/install';
import { istarHome } from '../../infra/paths';
import { s3SettingsFromEnv, temporalSettingsFromEnv } from '../../src/config/connection';
import { stackStatus } from '../../infra/stack';
import { testS3, testTemporal } from '../helpers/stack';

describe('infra', () => {
  it('install is idempotent: a second run keeps the installed binaries and says so', () => {
    const lines: string[] = [];
    const bins = installAll(istarHome(), (l) => lines.push(l));
    expect(bins.temporal).toBe(findTemporal());
    expect(bins.minio).toBe(findMinio());
    expect(lines.filter((l) => l.includes('already installed'))).toHaveLength(2);
    expect(lines.some((l) => l.startsWith('$ '))).toBe(false);
  });

  it('reports the running test stack as healthy', async () => {
    const status = await stackStatus({ temporal: testTemporal(), s3: testS3() });
    expect(status.temporal.healthy).toBe(true);
    expect(status.s3.healthy).toBe(true);
  });

  it('rejects malformed connection settings by name', () => {
    expect(() => temporalSettingsFromEnv({ TEMPORAL_ADDRESS: 'http://x:7233' })).toThrow(
      /TEMPORAL_ADDRESS must be host:port/,
    );
    expect(() => temporalSettingsFromEnv({ ISTAR_UI_PORT: 'abc' })).toThrow(
      /ISTAR_UI_PORT must be a port number/,
    );
    expect(() => s3SettingsFromEnv({ S3_ENDPOINT: 'minio:9000' })).toThrow(
      /S3_ENDPOINT must start with http/,
    );
    expect(() => s3SettingsFromEnv({ S3_ENDPOINT: 'not a url' })).toThrow(/S3_ENDPOINT must be a URL/);
    expect(s3SettingsFromEnv({})).toMatchObject({ endpoint: 'http://127.0.0.1:9000', bucket: 'istar' });
    expect(temporalSettingsFromEnv({ TEMPORAL_ADDRESS: 'temporal.example:7233' })).toMatchObject({
      uiPort: 8233,
      namespace: 'default',
    });
  });
});
