import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { workflowsPath } from '../../workers/paths';
import { registerExperiment } from '../../workflows';
import { testStore, testTemporal } from '../helpers/stack';

describe('a workflow and activity through a real worker, Temporal and MinIO', () => {
  let connection: Connection;
  let nativeConnection: NativeConnection;
  let client: Client;
  beforeAll(async () => {
    const { address, namespace } = testTemporal();
    connection = await Connection.connect({ address });
    nativeConnection = await NativeConnection.connect({ address });
    client = new Client({ connection, namespace });
  });
  afterAll(async () => {
    await connection?.close();
    await nativeConnection?.close();
  });

  it('writes the experiment config to MinIO and returns its key; bad ids fail without retries', async () => {
    const store = testStore();
    const taskQueue = `test-${randomUUID()}`;
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: testTemporal().namespace,
      taskQueue,
      workflowsPath,
      activities: createActivities({ store }),
    });
    await worker.runUntil(async () => {
      const key = await client.workflow.execute(registerExperiment, {
        taskQueue,
        workflowId: `register-${randomUUID()}`,
        args: [{ experimentId: 'wf-smoke', config: { algorithm: 'istar', alpha: 1 } }],
      });
      expect(key).toBe('experiments/wf-smoke/config.json');
      expect(await store.getJson(key)).toEqual({ algorithm: 'istar', alpha: 1 });

      const handle = await client.workflow.start(registerExperiment, {
        taskQueue,
        workflowId: `register-${randomUUID()}`,
        args: [{ experimentId: '../escape', config: {} }],
      });
      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause?.cause as Error & {
        nonRetryable?: boolean;
        type?: string;
      };
      expect(cause.message).toMatch(/invalid experiment id "..\/escape": it contains a path separator/);
      expect(cause.nonRetryable).toBe(true);
      const history = await handle.fetchHistory();
      const attempts = history
        .events!.filter((e) => e.activityTaskStartedEventAttributes)
        .map((e) => e.activityTaskStartedEventAttributes!.attempt);
      expect(attempts).toEqual([1]);
    });
  });
});
