import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extendRows, runningOn } from '../../src/cli/extend-runs';
import { iterationKey } from '../../src/storage/keys';
import { istarExtend } from '../../workflows/extend';
import { SEARCH_ATTRIBUTE_KEYS, istarTraining, type TrainingResult } from '../../workflows/training';
import type { SweepRow } from '../../workflows/sweep';
import { testStore } from '../helpers/stack';
import {
  connectTestTemporal,
  testWorkers,
  tinyConfig,
  uniqueQueues,
  withWorkers,
  type TestTemporal,
} from '../helpers/workers';

let t: TestTemporal;
beforeAll(async () => {
  t = await connectTestTemporal();
});
afterAll(async () => t?.close());

/** A completed sweep row of 1 iteration, as `npm run experiments` tables it. */
const row = (experimentId: string): SweepRow => ({
  name: 'rloo-s0',
  variant: 'rloo',
  algorithm: 'rloo',
  seed: 0,
  workflowId: experimentId,
  experimentId,
  status: 'completed',
  iterations: 1,
  finalSuccess: 0,
  bestSuccess: 0,
});

describe('--extend-to on runs that another workflow extended or is training (real Temporal and MinIO)', () => {
  it('reads a run extended by another id from storage, extends the others, and refuses a run being trained', async () => {
    const queues = uniqueQueues();
    const store = testStore();
    const tag = randomUUID().slice(0, 6);
    const [custom, plain, busy] = ['custom', 'plain', 'busy'].map((n) => `ext-rows-${n}-${tag}`);
    const lines: string[] = [];
    const opts = {
      maxConcurrent: 2,
      taskQueue: queues.workflow,
      rolloutTaskQueue: queues.rollout,
      store,
      everyMs: 500,
      print: (line: string) => lines.push(line),
    };
    const workers = await testWorkers(t, queues);
    await withWorkers(workers, async () => {
      const run = (experimentId: string) =>
        t.client.workflow.execute(istarTraining, {
          taskQueue: queues.workflow,
          workflowId: experimentId,
          args: [tinyConfig(queues, { experimentId, algorithm: 'rloo', iterations: 1, evalEvery: 1 })],
        });
      await Promise.all([run(custom), run(plain), run(busy)]);
      // `istar extend <custom> --iterations 2 --id <other>`: storage holds 2 iterations, under another workflow id.
      const other = (await t.client.workflow.execute(istarExtend, {
        taskQueue: queues.workflow,
        workflowId: `${custom}-other`,
        args: [{ experimentId: custom, iterations: 2, rolloutTaskQueue: queues.rollout }],
      })) as unknown as TrainingResult;
      expect(other.iterations).toBe(2);

      const extended = await extendRows(t.client, [row(custom), row(plain)], 2, opts);
      // The run extended by the other workflow is its stored iteration 2, and no `-to2` extension was started.
      const stored = await store.getJson<Record<string, number>>(iterationKey(custom, 2, 'metrics.json'));
      expect(extended.rows[0]).toMatchObject({
        experimentId: custom,
        status: 'completed',
        iterations: 2,
        finalSuccess: stored['eval/success_rate'],
        bestSuccess: other.bestSuccess,
      });
      expect(lines).toContain(
        `${custom}: 2 iterations stored already (extended by another workflow), read from storage: held-out success ${stored['eval/success_rate'].toFixed(3)}`,
      );
      await expect(t.client.workflow.getHandle(`${custom}-to2`).describe()).rejects.toBeInstanceOf(
        WorkflowNotFoundError,
      );
      // The other run was extended by its own `-to2` workflow.
      expect(lines).toContain(`started ${plain}-to2: ${plain} from 1 to 2 iterations`);
      expect(extended.rows[1]).toMatchObject({ experimentId: plain, status: 'completed', iterations: 2 });
      expect(extended.wallSeconds).toBeGreaterThan(0);

      // A workflow that is training the run (here one no worker serves) is named, and nothing is started.
      const blocker = await t.client.workflow.start(istarTraining, {
        taskQueue: `nobody-${tag}`,
        workflowId: `${busy}-blocker`,
        args: [tinyConfig(queues, { experimentId: busy })],
        typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.experiment, value: busy }],
      });
      try {
        for (let i = 0; i < 50 && (await runningOn(t.client, busy, `${busy}-to2`)) === undefined; i++)
          await new Promise((r) => setTimeout(r, 200)); // visibility catches up with the start
        await expect(extendRows(t.client, [row(busy)], 2, opts)).rejects.toThrow(
          `--extend-to 2: ${busy} is being trained by the running workflow ${busy}-blocker; wait for it to end (or istar stop ${busy}-blocker), then run this again`,
        );
        await expect(t.client.workflow.getHandle(`${busy}-to2`).describe()).rejects.toBeInstanceOf(
          WorkflowNotFoundError,
        );
      } finally {
        await blocker.terminate('test done');
      }
    });
  }, 300_000);
});
