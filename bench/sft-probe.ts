import { parseRunConfig, type RunConfigInput } from '../src/config/run-config';
import { initBackend } from '../src/model';
import { evaluatePolicy, initialPolicy, runSetup, sftBasePolicy } from '../src/pipeline';
import { isMain } from './util';

/**
 * How well the SFT base learns: per-epoch loss and teacher-forced held-out action accuracy, then the
 * held-out success of the base policy. `npx tsx bench/sft-probe.ts '<run config JSON>'`, e.g.
 * '{"promptInstruction":false,"historyLength":0,"sft":{"labels":"expert","episodes":300,"epochs":5}}'.
 * Defaults: the quick start's model and SFT settings.
 */
export const SFT_PROBE_DEFAULTS: RunConfigInput = {
  evalEpisodes: 96,
  model: { dModel: 64, nLayers: 2, nHeads: 4, dFF: 256, contextLength: 192 },
  sft: { episodes: 150, epochs: 3, randomActionFraction: 0.5, lr: 3e-3, batchSize: 32 },
};

export async function sftProbe(overrides: RunConfigInput): Promise<void> {
  await initBackend();
  const config = parseRunConfig({
    ...SFT_PROBE_DEFAULTS,
    ...overrides,
    sft: { ...SFT_PROBE_DEFAULTS.sft, ...overrides.sft },
  });
  const setup = runSetup(config);
  const start = performance.now();
  const seconds = () => ((performance.now() - start) / 1000).toFixed(0);
  const policy = initialPolicy(setup);
  console.log(`policy parameters: ${policy.numParams()}`);
  await sftBasePolicy(setup, policy, {
    onEpoch: (epoch, m) =>
      console.log(
        `epoch ${epoch}: loss/token ${m['sft/loss'].toFixed(3)}, held-out action accuracy ${m['sft/heldout_action_accuracy'].toFixed(3)} (${seconds()} s)`,
      ),
  });
  const { summary } = await evaluatePolicy(setup, policy, 0);
  console.log(
    `base policy: held-out success ${summary.successRate.toFixed(3)} on ${config.evalEpisodes} levels (${seconds()} s)`,
  );
  policy.dispose();
}

if (isMain(import.meta.url)) {
  sftProbe(JSON.parse(process.argv[2] ?? '{}') as RunConfigInput).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
