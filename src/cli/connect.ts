import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { temporalSettingsFromEnv, type TemporalSettings } from '../config/connection';

/** A Temporal client from the environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS / API key). */
export async function connectClient(
  settings: TemporalSettings = temporalSettingsFromEnv(),
): Promise<{ client: Client; settings: TemporalSettings; close(): Promise<void> }> {
  const tls =
    settings.tlsCertPath && settings.tlsKeyPath
      ? {
          clientCertPair: { crt: readFileSync(settings.tlsCertPath), key: readFileSync(settings.tlsKeyPath) },
        }
      : settings.apiKey
        ? true
        : undefined;
  let connection: Connection;
  try {
    connection = await Connection.connect({
      address: settings.address,
      tls,
      apiKey: settings.apiKey,
      connectTimeout: 5_000,
    });
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${settings.address} (${(err as Error).message}); start the local stack with \`istar infra up\` or set TEMPORAL_ADDRESS`,
    );
  }
  return {
    client: new Client({ connection, namespace: settings.namespace }),
    settings,
    close: () => connection.close(),
  };
}

/** Web UI link of a workflow run. */
export function workflowUrl(settings: TemporalSettings, workflowId: string): string {
  return `http://127.0.0.1:${settings.uiPort}/namespaces/${encodeURIComponent(settings.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
