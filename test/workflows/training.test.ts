import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALGORITHM_NAMES } from '../../src/config/run-config';
import { checkpointPrefix, iterationKey } from '../../src/storage/keys';
import { istarTraining, progressQuery } from '../../workflows';
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

describe('istarTraining end to end on the real stack', () => {
  it.each(ALGORITHM_NAMES)(
    '%s runs 2 iterations and stores every artifact under the documented keys',
    async (algorithm) => {
      const queues = uniqueQueues();
      const store = testStore();
      const experimentId = `e2e-${algorithm.replace(/\+/g, 'p')}-${randomUUID().slice(0, 6)}`;
      const workers = await testWorkers(t, queues);
      const result = await withWorkers(workers, async () => {
        const handle = await t.client.workflow.start(istarTraining, {
          taskQueue: queues.workflow,
          workflowId: experimentId,
          args: [tinyConfig(queues, { algorithm, experimentId })],
        });
        const result = await handle.result();
        const progress = await handle.query(progressQuery);
        expect(progress.stage).toBe('completed');
        expect(progress.iteration).toBe(2);
        return result;
      });
      expect(result.iterations).toBe(2);
      expect(result.history.map((h) => h.iteration)).toEqual([0, 1, 2]);
      expect(result.finalMetrics['eval/success_rate']).toBeGreaterThanOrEqual(0);
      expect(result.policyKey).toBe(checkpointPrefix(experimentId, 'policy', 2));
      const keys = await store.list(`experiments/${experimentId}/`);
      expect(keys).toContain(`experiments/${experimentId}/config.json`);
      for (const it of [1, 2]) {
        expect(keys).toContain(iterationKey(experimentId, it, 'rollouts/shard-000.bin'));
        expect(keys).toContain(iterationKey(experimentId, it, 'rollouts/shard-001.bin'));
        expect(keys).toContain(iterationKey(experimentId, it, 'advantages.json.gz'));
        expect(keys).toContain(iterationKey(experimentId, it, 'metrics.json'));
        expect(keys).toContain(`${checkpointPrefix(experimentId, 'policy', it)}manifest.json`);
        expect(keys).toContain(`${checkpointPrefix(experimentId, 'policy', it)}weights.bin`);
      }
      expect(keys.filter((k) => k.includes('/partial/'))).toEqual([]);
      if (algorithm === 'istar') expect(keys).toContain(iterationKey(experimentId, 1, 'pairs.json.gz'));
      const metrics = await store.getJson<Record<string, number>>(
        iterationKey(experimentId, 2, 'metrics.json'),
      );
      expect(metrics.iteration).toBe(2);
      expect(metrics['rollout/episodes']).toBe(8);
      expect(Number.isFinite(metrics['policy/loss'])).toBe(true);
      expect(await store.listCheckpoints(experimentId, 'policy')).toEqual([0, 1, 2]);
      // The run's report, written at its end: the results table names this algorithm.
      const html = (await store.getBytes(`experiments/${experimentId}/report/index.html`)).toString('utf8');
      expect(html).toMatch(/^<!doctype html>/i);
      expect(html).toContain(experimentId);
    },
  );

  it("prmInit 'policy': each iteration's PRM starts at pi_old (with a PRM lr of 1e-12 its step rewards are 0)", async () => {
    const queues = uniqueQueues();
    const store = testStore();
    const experimentId = `e2e-prminit-${randomUUID().slice(0, 6)}`;
    const workers = await testWorkers(t, queues);
    await withWorkers(workers, async () => {
      const handle = await t.client.workflow.start(istarTraining, {
        taskQueue: queues.workflow,
        workflowId: experimentId,
        args: [
          tinyConfig(queues, {
            algorithm: 'istar',
            experimentId,
            prmInit: 'policy',
            prmLr: 1e-12,
            policyLr: 1e-2,
            temperature: 1.5,
          }),
        ],
      });
      await handle.result();
    });
    for (const it of [1, 2]) {
      const out = JSON.parse(
        gunzipSync(await store.getBytes(iterationKey(experimentId, it, 'advantages.json.gz'))).toString(
          'utf8',
        ),
      ) as { stepRewards: number[][][] };
      const rewards = out.stepRewards.flat(2);
      expect(rewards.length).toBeGreaterThan(0);
      expect(Math.max(...rewards.map(Math.abs))).toBeLessThan(1e-5);
    }
  });
});
