import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it, vi } from 'vitest';
import { createTrainingActivities } from '../../activities/training';
import { parseRunConfig } from '../../src/config/run-config';
import { checkpointPrefix } from '../../src/storage/keys';
import { testStore } from '../helpers/stack';
import { tinyConfig, uniqueQueues } from '../helpers/workers';

describe('sftBasePolicy against a real MinIO', () => {
  const store = testStore();
  const activities = createTrainingActivities({ store });
  const run = (config: ReturnType<typeof parseRunConfig>) =>
    new MockActivityEnvironment().run(activities.sftBasePolicy, { config, iteration: 0 }) as ReturnType<
      typeof activities.sftBasePolicy
    >;

  it('reuses the base an experiment already stored with the same settings, and trains again when they differ', async () => {
    const experimentId = `sft-reuse-${randomUUID().slice(0, 8)}`;
    const config = parseRunConfig({ ...tinyConfig(uniqueQueues()), experimentId });
    const policyPrefix = checkpointPrefix(experimentId, 'policy', 0);

    const first = await run(config);
    expect(first.metrics['sft/reused']).toBeUndefined();
    const weights = async () => (await store.readManifest(policyPrefix)).blob.sha256;
    const trained = await weights();
    const writes = vi.spyOn(store, 'putCheckpoint');

    // Run again (a sweep started again after it was stopped): the stored base, its SFT metrics, nothing written.
    const again = await run(config);
    expect(again).toEqual({
      policyKey: first.policyKey,
      prmKey: first.prmKey,
      metrics: { ...first.metrics, 'sft/reused': 1 },
    });
    expect(writes).not.toHaveBeenCalled();

    // Other SFT settings: trained again over the stored base.
    const other = parseRunConfig({
      ...tinyConfig(uniqueQueues()),
      experimentId,
      sft: { episodes: 10, epochs: 2 },
    });
    const retrained = await run(other);
    expect(retrained.metrics['sft/reused']).toBeUndefined();
    expect(writes).toHaveBeenCalledTimes(2); // policy and PRM
    expect(await weights()).not.toBe(trained);
    // And that base is the one reused next time with those settings.
    expect((await run(other)).metrics['sft/reused']).toBe(1);
  });
});
