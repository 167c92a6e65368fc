import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointPrefix, iterationKey, iterationPrefix } from '../../src/storage/keys';
import { istarTraining, progressQuery, TASK_QUEUES, type TrainingResult } from '../../workflows';
import {
  activityAttempts,
  killSpawnedWorkers,
  pendingHeartbeat,
  restartServices,
  scheduledActivities,
  sleep,
  spawnWorkerProcess,
  startFaultStack,
  stopFaultStacks,
  stopService,
  waitFor,
  type FaultStack,
} from '../helpers/faults';
import {
  connectTestTemporal,
  testWorkers,
  tinyConfig,
  uniqueQueues,
  withWorkers,
  type TestTemporal,
} from '../helpers/workers';

/**
 * Fault tolerance (issue 6) on real servers: each fault test brings up its own Temporal + MinIO (the shared
 * test stack must never be stopped) and runs the worker as a child process on the default task queues, the
 * way `npm run worker` does.
 */

afterAll(async () => {
  await killSpawnedWorkers();
  await stopFaultStacks();
});

const FAULT_TIMEOUT = 240_000;

/** A 2-iteration tiny run on the private stack's default queues. */
function faultConfig(experimentId: string, overrides: Record<string, unknown> = {}) {
  return tinyConfig(TASK_QUEUES, { experimentId, iterations: 2, evalEvery: 2, ...overrides });
}

async function history(handle: WorkflowHandle) {
  return (await handle.fetchHistory()).events ?? [];
}

/** handle.result(), retried while the server is unreachable (the client sees UNAVAILABLE until it is back). */
async function resultThroughOutages(
  handle: WorkflowHandle<typeof istarTraining>,
  timeoutMs: number,
): Promise<TrainingResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await handle.result();
    } catch (err) {
      if (err instanceof WorkflowFailedError || Date.now() > deadline) throw err;
      await sleep(1_000);
    }
  }
}

/** Completed with every iteration exactly once (no iteration lost or repeated) and every artifact in MinIO. */
async function expectCompleteRun(
  f: FaultStack,
  handle: WorkflowHandle,
  result: TrainingResult,
  experimentId: string,
  iterations: number,
) {
  const once = Array.from({ length: iterations }, (_, i) => i + 1);
  const scheduled = scheduledActivities(await history(handle));
  for (const stage of ['computeStepAdvantages', 'trainPolicy']) {
    expect(
      scheduled.filter((a) => a.type === stage).map((a) => (a.input as { iteration: number }).iteration),
    ).toEqual(once);
  }
  expect(scheduled.filter((a) => a.type === 'sftBasePolicy')).toHaveLength(1);
  expect(result.iterations).toBe(iterations);
  expect(result.stopped).toBe(false);
  expect(result.history.map((h) => h.iteration)).toEqual(Array.from({ length: iterations + 1 }, (_, i) => i));
  expect(await f.store.listCheckpoints(experimentId, 'policy')).toEqual(
    Array.from({ length: iterations + 1 }, (_, i) => i),
  );
  const keys = await f.store.list(`experiments/${experimentId}/`);
  expect(keys.filter((k) => k.includes('/partial/'))).toEqual([]);
  for (let it = 1; it <= iterations; it++) {
    const metrics = await f.store.getJson<Record<string, number>>(
      iterationKey(experimentId, it, 'metrics.json'),
    );
    expect(metrics.iteration).toBe(it);
    expect(metrics['rollout/episodes']).toBe(8);
  }
}

/** Wait until iteration 1 is past its rollouts (the SFT base and its evaluation are done). */
async function waitForIterationOne(handle: WorkflowHandle<typeof istarTraining>, stages: string[]) {
  return waitFor(
    `iteration 1 to reach ${stages.join('/')}`,
    async () => {
      const p = await handle.query(progressQuery);
      return p.iteration === 0 && stages.includes(p.stage) ? p : undefined;
    },
    120_000,
    100,
  );
}

describe('fault tolerance on a private real stack', () => {
  it(
    'a worker SIGKILLed mid-trainPolicy: the attempt is retried on a new worker, resumes from its partial checkpoint, and the run completes',
    async () => {
      const f = await startFaultStack();
      // Partial checkpoint after every minibatch; 8-step minibatches give trainPolicy tens of steps.
      const env = { ISTAR_PARTIAL_CHECKPOINT_SECONDS: '0' };
      const overrides = { miniBatchSteps: 8, heartbeatTimeoutSeconds: 10 };
      const experimentId = `sigkill-${randomUUID().slice(0, 6)}`;
      const first = spawnWorkerProcess(f.stack, env);
      const handle = await f.client.workflow.start(istarTraining, {
        taskQueue: TASK_QUEUES.workflow,
        workflowId: experimentId,
        args: [faultConfig(experimentId, overrides)],
      });
      const partialPrefix = `${iterationPrefix(experimentId, 1)}partial/policy/`;

      // Kill only once the server holds a heartbeat naming the partial checkpoint, and the partial is in MinIO.
      const seen = await waitFor(
        'trainPolicy of iteration 1 to heartbeat a partial checkpoint',
        async () => {
          const p = await handle.query(progressQuery);
          if (p.iteration !== 0 || p.stage !== 'trainPolicy') return undefined;
          const pending = await pendingHeartbeat(handle, 'trainPolicy');
          const details = pending?.details as
            { partialPrefix?: string; step?: number; progress?: string } | undefined;
          if (details?.partialPrefix !== partialPrefix || !details.step) return undefined;
          const keys = await f.store.list(partialPrefix);
          if (!keys.includes(`${partialPrefix}manifest.json`)) return undefined;
          // Kill right after a whole, verified partial is in MinIO (partials are saved every step here, so a
          // kill can still land mid-save; that case is checked below too).
          const stored = await f.store.getCheckpoint(partialPrefix).catch(() => undefined);
          return stored && stored.step >= details.step ? details : undefined;
        },
        120_000,
        100,
      );
      first.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');
      // What the retried attempt will find: the last partial the dead worker completed (a save torn by the kill
      // between weights and manifest fails its hash and must make the retry start over instead).
      const partial = await f.store.getCheckpoint(partialPrefix).catch(() => undefined);
      const partialStep = partial?.step ?? 0;
      const total = Number(seen.progress?.split('/')[1]);
      expect(total).toBeGreaterThan(2);
      console.log(
        `[sigkill] killed worker ${first.pid} at trainPolicy ${seen.progress}; server heartbeat step ${seen.step}, partial step ${partialStep}`,
      );

      const started = Date.now();
      spawnWorkerProcess(f.stack, env);
      const result = await handle.result();
      console.log(
        `[sigkill] run completed ${((Date.now() - started) / 1000).toFixed(1)} s after the new worker started`,
      );

      await expectCompleteRun(f, handle, result, experimentId, 2);
      const policyAttempts = activityAttempts(await history(handle)).filter((a) => a.type === 'trainPolicy');
      expect(policyAttempts.map((a) => a.attempt)).toEqual([2, 1]);
      if (partial) {
        // Heartbeats are throttled, so the server's step may lag the partial's; the retry resumes at the partial's.
        expect(partialStep).toBeGreaterThanOrEqual(seen.step!);
        expect(partialStep).toBeGreaterThan(0);
      } else {
        // The kill tore the next save (weights written, manifest not): its hash fails, and the retry must start
        // over at step 0 (resumed_at_step below) and still end with the uninterrupted run's weights.
        console.log('[sigkill] the kill tore a partial save; the retried attempt starts over');
      }
      const m1 = await f.store.getJson<Record<string, number>>(iterationKey(experimentId, 1, 'metrics.json'));
      const m2 = await f.store.getJson<Record<string, number>>(iterationKey(experimentId, 2, 'metrics.json'));
      expect(m1['policy/resumed_at_step']).toBe(partialStep);
      expect(m1['policy/updates']).toBe(total);
      expect(m2['policy/resumed_at_step']).toBe(0);
      expect(result.history[1].metrics['policy/resumed_at_step']).toBe(partialStep);

      // Resuming reaches the weights (and AdamW moments) of an uninterrupted run of the same config.
      const reference = `${experimentId}-ref`;
      const refHandle = await f.client.workflow.start(istarTraining, {
        taskQueue: TASK_QUEUES.workflow,
        workflowId: reference,
        args: [faultConfig(reference, { ...overrides, iterations: 1 })],
      });
      await refHandle.result();
      const killed = await f.store.readManifest(checkpointPrefix(experimentId, 'policy', 1));
      const clean = await f.store.readManifest(checkpointPrefix(reference, 'policy', 1));
      expect(killed.blob.sha256).toBe(clean.blob.sha256);
      await f.stop();
    },
    FAULT_TIMEOUT,
  );

  it(
    'the Temporal server stopped and restarted mid-run (same home, ports and SQLite history): the run completes',
    async () => {
      const f = await startFaultStack();
      const experimentId = `temporal-restart-${randomUUID().slice(0, 6)}`;
      const worker = spawnWorkerProcess(f.stack);
      const handle = await f.client.workflow.start(istarTraining, {
        taskQueue: TASK_QUEUES.workflow,
        workflowId: experimentId,
        args: [faultConfig(experimentId)],
      });
      const before = await waitForIterationOne(handle, [
        'collectRollouts',
        'labelPreferences',
        'trainPrm',
        'computeStepAdvantages',
        'trainPolicy',
      ]);
      await stopService(f.stack, 'temporal');
      await sleep(5_000);
      const workerSurvivedOutage = worker.alive();
      await restartServices(f.stack);
      // The worker process reconnects by itself (its pollers retry UNAVAILABLE); give it a moment to show otherwise.
      await sleep(3_000);
      const workerSurvivedRestart = worker.alive();
      console.log(
        `[temporal-restart] stopped at stage ${before.stage}; worker alive during outage: ${workerSurvivedOutage}, after restart: ${workerSurvivedRestart}`,
      );
      if (!workerSurvivedRestart) spawnWorkerProcess(f.stack);

      const result = await resultThroughOutages(handle, 180_000);
      await expectCompleteRun(f, handle, result, experimentId, 2);
      const retried = activityAttempts(await history(handle)).filter((a) => a.attempt > 1);
      console.log(`[temporal-restart] activities retried across the outage: ${JSON.stringify(retried)}`);
      expect(workerSurvivedOutage).toBe(true);
      expect(workerSurvivedRestart).toBe(true);
      expect(worker.alive()).toBe(true);
      const progress = await handle.query(progressQuery);
      expect(progress.stage).toBe('completed');
      // The same run (history kept in the SQLite file), not a new one.
      expect((await handle.describe()).runId).toBe(handle.firstExecutionRunId);
      await f.stop();
    },
    FAULT_TIMEOUT,
  );

  it(
    'MinIO stopped for 30 s mid-run: the activities that hit it fail, are retried, and the run completes',
    async () => {
      const f = await startFaultStack();
      const experimentId = `minio-outage-${randomUUID().slice(0, 6)}`;
      const worker = spawnWorkerProcess(f.stack);
      const handle = await f.client.workflow.start(istarTraining, {
        taskQueue: TASK_QUEUES.workflow,
        workflowId: experimentId,
        args: [faultConfig(experimentId)],
      });
      await waitForIterationOne(handle, [
        'collectRollouts',
        'labelPreferences',
        'trainPrm',
        'computeStepAdvantages',
      ]);
      await stopService(f.stack, 'minio');
      const down = Date.now();
      // While MinIO is down, some activity attempt fails on it and waits for its retry.
      const failing = await waitFor(
        'an activity attempt to fail on the missing S3 endpoint',
        async () => {
          const { raw } = await handle.describe();
          return raw.pendingActivities?.find((a) => a.lastFailure?.message);
        },
        30_000,
        250,
      );
      console.log(
        `[minio-outage] ${failing.activityType?.name} attempt ${failing.attempt} failed: ${failing.lastFailure?.message}`,
      );
      await sleep(Math.max(0, 30_000 - (Date.now() - down)));
      expect((await handle.query(progressQuery)).iteration).toBeLessThan(2);
      await restartServices(f.stack);
      const started = Date.now();
      const result = await handle.result();
      console.log(
        `[minio-outage] run completed ${((Date.now() - started) / 1000).toFixed(1)} s after MinIO came back`,
      );

      await expectCompleteRun(f, handle, result, experimentId, 2);
      expect(worker.alive()).toBe(true);
      const retried = activityAttempts(await history(handle)).filter((a) => a.attempt >= 2);
      expect(retried.map((a) => a.type)).toContain(failing.activityType?.name);
      await f.stop();
    },
    FAULT_TIMEOUT,
  );
});

describe('bad input fails fast with the field named (shared stack)', () => {
  let t: TestTemporal;
  beforeAll(async () => {
    t = await connectTestTemporal();
  });
  afterAll(async () => t?.close());

  const cases: Array<{ name: string; input: Record<string, unknown>; fields: string[] }> = [
    { name: 'negative size', input: { groups: -1 }, fields: ['groups:'] },
    { name: 'unknown env', input: { env: 'minecraft' }, fields: ['env:'] },
    { name: 'unknown algorithm', input: { algorithm: 'dqn' }, fields: ['algorithm:'] },
    { name: 'wrong type', input: { iterations: 'ten' }, fields: ['iterations:'] },
    {
      name: 'path traversal in the experiment id',
      input: { experimentId: '../x' },
      fields: ['experimentId:'],
    },
    { name: 'unknown field', input: { foo: 1 }, fields: ['unknown field "foo"'] },
    {
      name: 'an env option of another env',
      input: { envOptions: { productIds: 'per-episode' } },
      fields: ['envOptions.productIds: only the webshop env has product ids (env is sokoban)'],
    },
    {
      name: 'every bad field at once',
      input: {
        groups: -1,
        env: 'minecraft',
        algorithm: 'dqn',
        iterations: 'ten',
        experimentId: '../x',
        foo: 1,
        model: { nHeads: 0 },
      },
      fields: [
        'groups:',
        'env:',
        'algorithm:',
        'iterations:',
        'experimentId:',
        'unknown field "foo"',
        'model.nHeads:',
      ],
    },
  ];

  it('fails with a non-retryable RunConfigError naming each bad field, before any activity is scheduled', async () => {
    const queues = uniqueQueues();
    const workers = await testWorkers(t, queues, ['workflow']);
    await withWorkers(workers, async () => {
      await Promise.all(
        cases.map(async ({ name, input, fields }) => {
          const started = Date.now();
          const handle = await t.client.workflow.start(istarTraining, {
            taskQueue: queues.workflow,
            workflowId: `bad-input-${randomUUID().slice(0, 8)}`,
            args: [{ ...input, rolloutTaskQueue: queues.rollout, trainerTaskQueue: queues.trainer } as never],
          });
          const err = await handle.result().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err, name).toBeInstanceOf(WorkflowFailedError);
          const cause = (err as WorkflowFailedError).cause;
          expect(cause, name).toBeInstanceOf(ApplicationFailure);
          const failure = cause as ApplicationFailure;
          expect(failure.type, name).toBe('RunConfigError');
          expect(failure.nonRetryable, name).toBe(true);
          for (const field of fields) expect(failure.message, name).toContain(field);
          expect(Date.now() - started, name).toBeLessThan(10_000);
          const events = await history(handle);
          expect(
            events.filter((e) => e.activityTaskScheduledEventAttributes),
            name,
          ).toEqual([]);
          // Failed in its first workflow task: started, task scheduled/started/completed, failed.
          expect(events.length, name).toBe(5);
          expect(events.at(-1)?.workflowExecutionFailedEventAttributes, name).toBeTruthy();
        }),
      );
    });
  });
});
