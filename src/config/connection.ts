/**
 * Connection settings read from the environment, shared by infra, workers, the CLI and activities.
 * Local defaults point at the stack that `infra/` starts on loopback.
 */

export interface TemporalSettings {
  /** host:port of the Temporal frontend (TEMPORAL_ADDRESS). */
  address: string;
  /** Namespace (TEMPORAL_NAMESPACE). */
  namespace: string;
  /** Temporal Cloud / cluster API key (TEMPORAL_API_KEY), enables TLS. */
  apiKey?: string;
  /** mTLS client certificate and key paths (TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY), enable TLS. */
  tlsCertPath?: string;
  tlsKeyPath?: string;
  /** Port of the Web UI of a local dev server (ISTAR_UI_PORT). */
  uiPort: number;
}

export interface S3Settings {
  /** Full URL of the S3 endpoint (S3_ENDPOINT), e.g. http://127.0.0.1:9000. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
}

export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';
export const DEFAULT_S3_ENDPOINT = 'http://127.0.0.1:9000';

function nonEmpty(value: string | undefined): string | undefined {
  return value && value.trim() !== '' ? value.trim() : undefined;
}

export function temporalSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const address = nonEmpty(env.TEMPORAL_ADDRESS) ?? DEFAULT_TEMPORAL_ADDRESS;
  if (!/^[^\s:/]+:\d{1,5}$/.test(address)) {
    throw new Error(`TEMPORAL_ADDRESS must be host:port, got ${JSON.stringify(address)}`);
  }
  const port = Number(address.split(':').pop());
  const uiPort = Number(nonEmpty(env.ISTAR_UI_PORT) ?? port + 1000);
  if (!Number.isInteger(uiPort) || uiPort <= 0 || uiPort > 65535) {
    throw new Error(`ISTAR_UI_PORT must be a port number, got ${JSON.stringify(env.ISTAR_UI_PORT)}`);
  }
  return {
    address,
    namespace: nonEmpty(env.TEMPORAL_NAMESPACE) ?? 'default',
    apiKey: nonEmpty(env.TEMPORAL_API_KEY),
    tlsCertPath: nonEmpty(env.TEMPORAL_TLS_CERT),
    tlsKeyPath: nonEmpty(env.TEMPORAL_TLS_KEY),
    uiPort,
  };
}

export function s3SettingsFromEnv(env: NodeJS.ProcessEnv = process.env): S3Settings {
  const endpoint = nonEmpty(env.S3_ENDPOINT) ?? DEFAULT_S3_ENDPOINT;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(
      `S3_ENDPOINT must be a URL such as http://127.0.0.1:9000, got ${JSON.stringify(endpoint)}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`S3_ENDPOINT must start with http:// or https://, got ${JSON.stringify(endpoint)}`);
  }
  return {
    endpoint,
    accessKey: nonEmpty(env.S3_ACCESS_KEY) ?? 'istar',
    secretKey: nonEmpty(env.S3_SECRET_KEY) ?? 'istar-secret-key',
    bucket: nonEmpty(env.S3_BUCKET) ?? 'istar',
    region: nonEmpty(env.S3_REGION) ?? 'us-east-1',
  };
}

/** True when the Temporal address points at this machine, so the project may start a dev server for it. */
export function isLoopback(hostOrUrl: string): boolean {
  const host = hostOrUrl.includes('://') ? new URL(hostOrUrl).hostname : hostOrUrl.split(':')[0];
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);
}
