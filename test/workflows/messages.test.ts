import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunConfig } from '../../src/config/run-config';
import { iterationKey, iterationPrefix } from '../../src/storage/keys';
import {
  istarTraining,
  pauseSignal,
  progressQuery,
  resumeSignal,
  setHyperparametersUpdate,
  stopSignal,
} from '../../workflows';
import { scheduledActivities, sleep, waitFor } from '../helpers/faults';
import { testStore } from '../helpers/stack';
import {
  connectTestTemporal,
  testWorkers,
  tinyConfig,
  uniqueQueues,
  withWorkers,
  type TestTemporal,
} from '../helpers/workers';

/** Signals, the update and the query of istarTraining on the shared real stack, with in-process workers. */

let t: TestTemporal;
beforeAll(async () => {
  t = await connectTestTemporal();
});
afterAll(async () => t?.close());

const ITERATION_STAGES = [
  'collectRollouts',
  'labelPreferences',
  'trainPrm',
  'computeStepAdvantages',
  'trainPolicy',
];

describe('istarTraining messages', () => {
  it('pause holds the run before its next iteration, setHyperparameters validates and applies, resume continues', async () => {
    const queues = uniqueQueues();
    const experimentId = `messages-pause-${randomUUID().slice(0, 6)}`;
    const workers = await testWorkers(t, queues);
    await withWorkers(workers, async () => {
      const handle = await t.client.workflow.start(istarTraining, {
        taskQueue: queues.workflow,
        workflowId: experimentId,
        // Explicit values, so the test does not depend on the defaults.
        args: [
          tinyConfig(queues, {
            experimentId,
            iterations: 1,
            evalEvery: 1,
            alpha: 1,
            beta: 0.05,
            policyLr: 1e-3,
            prmLr: 1e-3,
          }),
        ],
      });
      await handle.signal(pauseSignal);
      expect((await handle.query(progressQuery)).paused).toBe(true);
      // The SFT base policy finishes; the loop then waits before iteration 1.
      await waitFor(
        'the run to park in stage "paused"',
        async () => (await handle.query(progressQuery)).stage === 'paused',
        60_000,
      );
      const scheduledAtPause = scheduledActivities((await handle.fetchHistory()).events ?? []).length;
      await sleep(3_000);
      const held = await handle.query(progressQuery);
      expect(held).toMatchObject({ stage: 'paused', paused: true, iteration: 0, stopRequested: false });
      expect(held.history.map((h) => h.iteration)).toEqual([0]);
      expect(scheduledActivities((await handle.fetchHistory()).events ?? []).length).toBe(scheduledAtPause);

      // Invalid changes are rejected by the validator, naming the field, and leave the state alone.
      const before = held.hyperparameters;
      expect(before).toEqual({ alpha: 1, beta: 0.05, policyLr: 1e-3, prmLr: 1e-3 });
      const rejections: Array<[unknown, string]> = [
        [{ alpha: -1 }, 'alpha:'],
        [{}, 'give at least one of alpha, beta, policyLr, prmLr'],
        [{ foo: 1 }, 'unknown field "foo"'],
        [{ beta: 'big' }, 'beta:'],
      ];
      for (const [change, named] of rejections) {
        const err = await handle.executeUpdate(setHyperparametersUpdate, { args: [change as never] }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, JSON.stringify(change)).toBeInstanceOf(WorkflowUpdateFailedError);
        expect((err as WorkflowUpdateFailedError).cause?.message, JSON.stringify(change)).toContain(named);
      }
      expect((await handle.query(progressQuery)).hyperparameters).toEqual(before);

      const updated = await handle.executeUpdate(setHyperparametersUpdate, {
        args: [{ alpha: 0.5, beta: 0.1 }],
      });
      expect(updated).toEqual({ alpha: 0.5, beta: 0.1, policyLr: 1e-3, prmLr: 1e-3 });
      expect((await handle.query(progressQuery)).hyperparameters).toEqual(updated);
      expect((await handle.query(progressQuery)).stage).toBe('paused');

      await handle.signal(resumeSignal);
      const result = await handle.result();
      expect(result.iterations).toBe(1);
      expect(result.stopped).toBe(false);
      expect((await handle.query(progressQuery)).stage).toBe('completed');

      // Activities before the update got the old values, every one after it the new ones.
      const scheduled = scheduledActivities((await handle.fetchHistory()).events ?? []);
      const withConfig = scheduled.filter((a) => (a.input as { config?: RunConfig } | undefined)?.config);
      const values = (a: (typeof scheduled)[number]) => {
        const { config, iteration } = a.input as { config: RunConfig; iteration: number };
        return { type: a.type, iteration, alpha: config.alpha, beta: config.beta };
      };
      expect(
        withConfig.filter((a) => (a.input as { iteration: number }).iteration === 0).map(values),
      ).toEqual([
        { type: 'sftBasePolicy', iteration: 0, alpha: 1, beta: 0.05 },
        { type: 'evaluate', iteration: 0, alpha: 1, beta: 0.05 },
      ]);
      const after = withConfig.filter((a) => (a.input as { iteration: number }).iteration === 1).map(values);
      expect(after.map((a) => a.type)).toEqual(
        expect.arrayContaining(['collectRollouts', 'computeStepAdvantages', 'trainPolicy', 'evaluate']),
      );
      for (const a of after) expect(a).toMatchObject({ alpha: 0.5, beta: 0.1 });
    });
  });

  it('stop ends the run cleanly after the current iteration, with stopped: true and fewer iterations than configured', async () => {
    const queues = uniqueQueues();
    const experimentId = `messages-stop-${randomUUID().slice(0, 6)}`;
    const store = testStore();
    const workers = await testWorkers(t, queues);
    await withWorkers(workers, async () => {
      const handle = await t.client.workflow.start(istarTraining, {
        taskQueue: queues.workflow,
        workflowId: experimentId,
        args: [tinyConfig(queues, { experimentId, iterations: 3, evalEvery: 3 })],
      });
      const during = await waitFor(
        'iteration 1 to start',
        async () => {
          const p = await handle.query(progressQuery);
          return p.iteration === 0 && ITERATION_STAGES.includes(p.stage) ? p : undefined;
        },
        60_000,
        100,
      );
      await handle.signal(stopSignal);
      expect((await handle.query(progressQuery)).stopRequested).toBe(true);
      const result = await handle.result();
      expect(during.iterations).toBe(3);
      expect(result.stopped).toBe(true);
      expect(result.iterations).toBe(1);
      expect(result.history.map((h) => h.iteration)).toEqual([0, 1]);
      // A stopped run still evaluates its last iteration (evalEvery 3 would otherwise skip it).
      expect(result.finalMetrics['eval/success_rate']).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(result.finalMetrics['policy/loss'])).toBe(true);
      const progress = await handle.query(progressQuery);
      expect(progress).toMatchObject({ stage: 'stopped', iteration: 1, stopRequested: true });
      expect(await store.listCheckpoints(experimentId, 'policy')).toEqual([0, 1]);
      expect(await store.exists(iterationKey(experimentId, 1, 'metrics.json'))).toBe(true);
      expect(await store.list(iterationPrefix(experimentId, 2))).toEqual([]);
      expect((await handle.describe()).status.name).toBe('COMPLETED');
    });
  });
});
