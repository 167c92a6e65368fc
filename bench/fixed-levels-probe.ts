import { collectRollouts, summarizeBatch } from '../src/agent';
import { parseRunConfig, type RunConfigInput } from '../src/config/run-config';
import { initBackend } from '../src/model';
import {
  computeAdvantages,
  preferencePairs,
  rolloutSettings,
  runSetup,
  trainPolicy,
  trainPrm,
} from '../src/pipeline';
import { cachedBase, LEARN_PROBE_DEFAULTS } from './learn-probe';
import { isMain } from './util';

/**
 * Does an RL update raise on-policy success on the very levels it trains on? Generalisation aside, this is
 * the least an update must do. Every iteration samples groupSize rollouts on the same 8 training levels and
 * trains on them (the algorithm's stages in-process); every 4 iterations 32 samples per level at the rollout
 * temperature measure the success on those levels. From the learn-probe's cached SFT base.
 * `npx tsx bench/fixed-levels-probe.ts '<run config JSON>' [--carry-sft-optimizer]`, e.g.
 * '{"algorithm":"rloo","stepWeighting":"per-trajectory"}'; --carry-sft-optimizer keeps SFT's AdamW
 * moments in the policy (what the pipeline did before it reset them).
 */
export async function fixedLevelsProbe(overrides: RunConfigInput, carrySftOptimizer = false): Promise<void> {
  await initBackend();
  const input = {
    ...LEARN_PROBE_DEFAULTS,
    ...overrides,
    sft: { ...LEARN_PROBE_DEFAULTS.sft, ...overrides.sft },
  };
  const setup = runSetup(parseRunConfig(input));
  const { config } = setup;
  const policy = await cachedBase(input, { carrySftOptimizer });
  const reference = policy.clone();
  const prm = policy.clone();
  prm.resetOptimizer();
  const seeds = Array.from({ length: 8 }, (_, i) => setup.spec.trainSeeds.start + 1000 + 37 * i);
  const rollouts = (groupSize: number, samplingSeed: number) =>
    collectRollouts(policy, setup.tokenizer, {
      ...rolloutSettings(setup),
      seeds,
      groupIds: seeds.map((s) => `level-${s}`),
      groupSize,
      samplingSeed,
    });
  const start = performance.now();
  const measure = async (label: string) => {
    const batch = await rollouts(32, 999);
    const perLevel = batch.groups.map((g) => g.trajectories.filter((t) => t.success).length);
    console.log(
      `${label}: success on the 8 training levels ${summarizeBatch(batch).successRate.toFixed(3)} ` +
        `(successes of 32 per level: ${perLevel.join(', ')}; ${((performance.now() - start) / 1000).toFixed(0)} s)`,
    );
  };
  await measure('SFT base');
  const needs = setup.algorithm.stages;
  for (let it = 1; it <= config.iterations; it++) {
    const batch = await rollouts(config.groupSize, 100 + it);
    if (needs.needsPrm) {
      const { pairs } = preferencePairs(setup, batch);
      if (pairs.length) await trainPrm(setup, prm, batch, it, { pairs, reference });
    }
    const targets = await computeAdvantages(setup, batch, { prm, reference, policy });
    const { metrics } = await trainPolicy(setup, policy, batch, targets, it, { reference });
    console.log(
      `iteration ${it}: rollout success ${summarizeBatch(batch).successRate.toFixed(3)}, ` +
        `entropy ${metrics['policy/entropy']?.toFixed(3)}, approx-KL ${metrics['policy/approx_kl']?.toFixed(4)}`,
    );
    if (it % 4 === 0) await measure(`after iteration ${it}`);
  }
  [policy, reference, prm].forEach((m) => m.dispose());
}

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  const json = args.find((a) => !a.startsWith('--')) ?? '{}';
  fixedLevelsProbe(JSON.parse(json) as RunConfigInput, args.includes('--carry-sft-optimizer')).catch(
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
