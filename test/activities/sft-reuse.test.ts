import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { createTrainingActivities, sftIdentity } from '../../activities/training';
import { runSetup } from '../../src/pipeline';
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
    // Its heartbeats within an epoch say which epoch it is, and how far into it.
    const env = new MockActivityEnvironment();
    const progress: string[] = [];
    env.on('heartbeat', (d: { progress?: string }) => progress.push(d.progress ?? ''));
    const retrained = (await env.run(activities.sftBasePolicy, { config: other, iteration: 0 })) as Awaited<
      ReturnType<typeof activities.sftBasePolicy>
    >;
    const epochs = [
      ...new Set(progress.map((p) => /^epoch (\d\/\d): step \d+\/\d+$/.exec(p)?.[1]).filter(Boolean)),
    ];
    expect(epochs).toEqual(['1/2', '2/2']);
    expect(retrained.metrics['sft/reused']).toBeUndefined();
    expect(writes).toHaveBeenCalledTimes(2); // policy and PRM
    expect(await weights()).not.toBe(trained);
    // And that base is the one reused next time with those settings.
    expect((await run(other)).metrics['sft/reused']).toBe(1);
  });

  it("copies another experiment's stored base (baseFrom) weight for weight, and names a missing or mismatched one", async () => {
    const source = `sft-source-${randomUUID().slice(0, 8)}`;
    const target = `sft-copy-${randomUUID().slice(0, 8)}`;
    const queues = uniqueQueues();
    const trained = await run(parseRunConfig({ ...tinyConfig(queues), experimentId: source }));
    const copyInto = (experimentId: string, copyFrom: string, overrides: Record<string, unknown> = {}) =>
      new MockActivityEnvironment().run(activities.sftBasePolicy, {
        config: parseRunConfig({ ...tinyConfig(queues, overrides), experimentId }),
        iteration: 0,
        copyFrom,
      }) as ReturnType<typeof activities.sftBasePolicy>;

    const copied = await copyInto(target, source);
    expect(copied.policyKey).toBe(checkpointPrefix(target, 'policy', 0));
    expect(copied.prmKey).toBe(checkpointPrefix(target, 'prm', 0));
    expect(copied.metrics).toEqual({ ...trained.metrics, 'sft/copied': 1 });
    for (const kind of ['policy', 'prm'] as const) {
      const from = await store.readManifest(checkpointPrefix(source, kind, 0));
      const to = await store.readManifest(checkpointPrefix(target, kind, 0));
      expect(to.blob.sha256).toBe(from.blob.sha256);
      expect(to.meta.copiedFrom).toBe(source);
      expect(to.meta.sft).toBeUndefined();
    }
    // The copy carries no SFT identity: the same experiment run without baseFrom trains its own base.
    const own = await run(parseRunConfig({ ...tinyConfig(queues), experimentId: target }));
    expect(own.metrics['sft/reused']).toBeUndefined();
    expect(own.metrics['sft/copied']).toBeUndefined();

    await expect(
      copyInto(`sft-copy-${randomUUID().slice(0, 8)}`, `no-such-${randomUUID().slice(0, 8)}`),
    ).rejects.toThrow(/baseFrom no-such-.*: experiment has no stored SFT base/);
    await expect(
      copyInto(`sft-copy-${randomUUID().slice(0, 8)}`, source, {
        model: { dModel: 64, nLayers: 1, nHeads: 2, dFF: 64, contextLength: 160 },
      }),
    ).rejects.toThrow(
      /baseFrom sft-source-.*: checkpoint model config does not match the requested one: .*dModel/,
    );
  });

  it("an SFT base's identity includes the env's options, and only when there are any", () => {
    const fixed = runSetup(parseRunConfig({ env: 'webshop' }));
    const perEpisode = runSetup(
      parseRunConfig({ env: 'webshop', envOptions: { productIds: 'per-episode' } }),
    );
    expect(sftIdentity(perEpisode)).not.toBe(sftIdentity(fixed));
    // Without options the identity is what it was before envOptions existed (stored bases stay reusable).
    const { config } = fixed;
    const before = createHash('sha256')
      .update(
        JSON.stringify([
          config.env,
          config.sft,
          fixed.modelConfig,
          config.promptInstruction,
          config.historyLength,
          config.seed,
          fixed.maxActionTokens,
          fixed.tokenizer.vocab,
        ]),
      )
      .digest('hex');
    expect(sftIdentity(fixed)).toBe(before);
  });
});
