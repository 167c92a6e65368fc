import { parseRunConfig, type RunConfigInput } from '../src/config/run-config';
import { initBackend } from '../src/model';
import { evaluatePolicy, initialPolicy, runSetup, sftBasePolicy } from '../src/pipeline';
import { SMALL_SOKOBAN } from '../src/experiments/suites';
import { isMain } from './util';

/**
 * How well the SFT base learns: per-epoch loss and teacher-forced held-out action accuracy, then the
 * held-out success of the base policy. `npx tsx bench/sft-probe.ts '<run config JSON>'`, e.g.
 * '{"promptInstruction":false,"historyLength":0,"sft":{"labels":"expert","episodes":300,"epochs":5}}'.
 * Defaults: the quick start's model and SFT settings. A second argument adds evaluations at other
 * temperatures, e.g. '0.01' (near-greedy) next to the run config's evalTemperature.
 */
export const SFT_PROBE_DEFAULTS: RunConfigInput = {
  evalEpisodes: 96,
  promptInstruction: SMALL_SOKOBAN.promptInstruction,
  historyLength: SMALL_SOKOBAN.historyLength,
  model: SMALL_SOKOBAN.model,
  sft: SMALL_SOKOBAN.sft,
};

export async function sftProbe(overrides: RunConfigInput, extraTemperatures: number[] = []): Promise<void> {
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
  for (const temperature of [config.evalTemperature, ...extraTemperatures]) {
    const { summary } = await evaluatePolicy(
      { ...setup, config: { ...config, evalTemperature: temperature } },
      policy,
      0,
    );
    console.log(
      `base policy: held-out success ${summary.successRate.toFixed(3)} on ${config.evalEpisodes} levels at temperature ${temperature}, invalid actions ${summary.invalidActionRate.toFixed(3)}, mean length ${summary.meanLength.toFixed(2)} (${seconds()} s)`,
    );
  }
  policy.dispose();
}

if (isMain(import.meta.url)) {
  const temperatures = (process.argv[3] ?? '').split(',').filter(Boolean).map(Number);
  if (temperatures.some((t) => !(t > 0)))
    throw new Error(`extra evaluation temperatures must be positive numbers, got "${process.argv[3]}"`);
  sftProbe(JSON.parse(process.argv[2] ?? '{}') as RunConfigInput, temperatures).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
