import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createWorkers, installRuntime, type WorkerRole } from '../../workers/worker';
import { testStore, testTemporal } from './stack';

/** Unique task queues per test, so test files sharing the server never take each other's tasks. */
export function uniqueQueues() {
  const id = randomUUID().slice(0, 8);
  return { workflow: `istar-${id}`, rollout: `istar-rollout-${id}`, trainer: `istar-trainer-${id}` };
}

export interface TestTemporal {
  client: Client;
  nativeConnection: NativeConnection;
  close(): Promise<void>;
}

export async function connectTestTemporal(): Promise<TestTemporal> {
  installRuntime();
  const { address, namespace } = testTemporal();
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  return {
    client: new Client({ connection, namespace }),
    nativeConnection,
    async close() {
      await connection.close();
      await nativeConnection.close();
    },
  };
}

/** In-process workers of the given roles on the test stack. */
export function testWorkers(
  t: TestTemporal,
  queues: ReturnType<typeof uniqueQueues>,
  roles: WorkerRole[] = ['workflow', 'rollout', 'trainer'],
): Promise<Worker[]> {
  return createWorkers(roles, {
    connection: t.nativeConnection,
    namespace: testTemporal().namespace,
    store: testStore(),
    queues,
  });
}

/** Run `fn` while all `workers` poll; shut them down afterwards. */
export async function withWorkers<T>(workers: Worker[], fn: () => Promise<T>): Promise<T> {
  const running = workers.map((w) => w.run());
  try {
    return await fn();
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.all(running);
  }
}

/** A run config small enough for a test: a 1-layer model, 2 groups of 4, short SFT. */
export function tinyConfig(queues: ReturnType<typeof uniqueQueues>, overrides: Record<string, unknown> = {}) {
  return {
    groups: 2,
    groupSize: 4,
    iterations: 2,
    evalEvery: 2,
    evalEpisodes: 4,
    rolloutShards: 2,
    model: { dModel: 32, nLayers: 1, nHeads: 2, dFF: 64, contextLength: 160 },
    sft: { episodes: 10, epochs: 1 },
    rolloutTaskQueue: queues.rollout,
    trainerTaskQueue: queues.trainer,
    heartbeatTimeoutSeconds: 30,
    ...overrides,
  };
}
