import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { istarHome } from '../infra/paths';
import { parseRunConfig, type RunConfigInput } from '../src/config/run-config';
import { initBackend, modelFromCheckpoint, modelToCheckpoint, type TransformerLM } from '../src/model';
import {
  envOptionsIdentity,
  evaluatePolicy,
  initialPolicy,
  iterationInProcess,
  runSetup,
  type RunSetup,
  sftBasePolicy,
} from '../src/pipeline';
import { decodeCheckpoint, encodeCheckpoint, validateManifest } from '../src/storage/checkpoint-format';
import { SMALL_SOKOBAN } from '../src/experiments/suites';
import { isMain } from './util';

/**
 * Does RL learn? The pipeline stages in-process (no Temporal) from an SFT base cached under
 * .istar/cache (keyed by the SFT/model/prompt settings and the vocabulary, so variants of the RL settings share one base),
 * printing per iteration the rollout success, episode length, invalid-action rate, PRM pair accuracy,
 * policy entropy and approx-KL, and the held-out success every evalEvery iterations.
 * `npx tsx bench/learn-probe.ts '<run config JSON>'`, e.g. '{"stepWeighting":"per-trajectory"}'.
 */
export const LEARN_PROBE_DEFAULTS: RunConfigInput = {
  promptInstruction: false,
  historyLength: 0,
  iterations: 12,
  evalEvery: 4,
  evalEpisodes: 96,
  policyLr: 3e-4,
  prmLr: 3e-4,
  model: SMALL_SOKOBAN.model,
  sft: SMALL_SOKOBAN.sft,
};

/** The seed of the probes' shared SFT base: the run config's default, the seed of the experiments suites' base. */
export const BASE_SEED = 0;

/**
 * Where the SFT base of `input` is cached: keyed by the SFT/model/prompt settings and the vocabulary, not the
 * RL settings or the run's seed (the base's seed is always BASE_SEED, in the key so that entries cached before
 * it, of whichever seed, are not read), so variants and seeds of a probe share one base.
 */
export function baseCacheFile(input: RunConfigInput): { file: string; setup: RunSetup } {
  const config = parseRunConfig({ ...input, seed: BASE_SEED });
  const setup = runSetup(config);
  const key = JSON.stringify([
    config.seed,
    config.env,
    config.sft,
    config.model,
    config.promptInstruction,
    config.historyLength,
    // The vocabulary too: a tokenizer change makes a new base, not a checkpoint that fails to load.
    setup.tokenizer.vocab,
    ...envOptionsIdentity(config),
  ]);
  const digest = createHash('sha256').update(key).digest('hex').slice(0, 32);
  return { file: path.join(istarHome(), 'cache', `sft-${digest}`), setup };
}

/**
 * The SFT base for `input`'s SFT/model/prompt settings, from .istar/cache or trained and cached. It is
 * trained with seed BASE_SEED whatever `input.seed` (SFT's initial weights, demonstrations and epoch order
 * follow the seed), as an experiments sweep's children share one base. The cache keeps SFT's AdamW
 * moments; they are reset (as the pipeline's SFT stage does) unless `carrySftOptimizer`.
 */
export async function cachedBase(
  input: RunConfigInput,
  { carrySftOptimizer = false }: { carrySftOptimizer?: boolean } = {},
): Promise<TransformerLM> {
  const { file, setup } = baseCacheFile(input);
  let base: TransformerLM;
  if (existsSync(`${file}.json`)) {
    const manifest = validateManifest(JSON.parse(readFileSync(`${file}.json`, 'utf8')), file);
    console.log(`SFT base from ${file}`);
    base = modelFromCheckpoint(
      decodeCheckpoint(manifest, readFileSync(`${file}.bin`), file),
      setup.modelConfig,
    );
  } else {
    base = initialPolicy(setup);
    const { metrics } = await sftBasePolicy(setup, base, { keepOptimizerState: true });
    console.log(`SFT: held-out action accuracy ${metrics['sft/heldout_action_accuracy'].toFixed(3)}`);
    const { manifest, chunks } = encodeCheckpoint(modelToCheckpoint(base, { step: 0 }));
    mkdirSync(path.dirname(file), { recursive: true });
    // Each file written aside and renamed, manifest last: a probe started meanwhile sees no entry or a whole one.
    const writeWhole = (target: string, data: string | Buffer) => {
      writeFileSync(`${target}.${process.pid}`, data);
      renameSync(`${target}.${process.pid}`, target);
    };
    writeWhole(`${file}.bin`, Buffer.concat(chunks));
    writeWhole(`${file}.json`, JSON.stringify(manifest));
  }
  if (!carrySftOptimizer) base.resetOptimizer();
  return base;
}

export async function learnProbe(overrides: RunConfigInput): Promise<void> {
  await initBackend();
  const input = {
    ...LEARN_PROBE_DEFAULTS,
    ...overrides,
    sft: { ...LEARN_PROBE_DEFAULTS.sft, ...overrides.sft },
  };
  const config = parseRunConfig(input);
  const setup = runSetup(config);
  const start = performance.now();
  const seconds = () => ((performance.now() - start) / 1000).toFixed(0);
  const policy = await cachedBase(input);
  const reference = policy.clone();
  const prm = policy.clone();
  console.log(
    `iteration 0: held-out success ${(await evaluatePolicy(setup, policy, 0)).summary.successRate.toFixed(3)}`,
  );
  for (let it = 1; it <= config.iterations; it++) {
    const { batch, metrics, targets, evaluation } = await iterationInProcess(
      setup,
      { policy, prm, reference },
      it,
    );
    const episodes = batch.groups.flatMap((g) => g.trajectories);
    const steps = episodes.flatMap((t) => t.steps);
    // Where the credit goes: mean step reward and advantage of moves that changed the state, of valid
    // actions that left it unchanged (Sokoban: walking or pushing into a wall) and of invalid actions.
    const byKind = (values: number[][][] | undefined) => {
      if (!values) return '-';
      const sums = { moved: [0, 0], 'no-op': [0, 0], invalid: [0, 0] };
      batch.groups.forEach((g, gi) =>
        g.trajectories.forEach((t, ti) =>
          t.steps.forEach((s, si) => {
            const next = t.steps[si + 1];
            if (s.valid && !next && !t.success) return; // the last step of a failure: its effect unknown
            const kind = !s.valid
              ? 'invalid'
              : next && next.observationText === s.observationText
                ? 'no-op'
                : 'moved';
            const cell = sums[kind];
            cell[0] += values[gi][ti][si];
            cell[1]++;
          }),
        ),
      );
      const mean = ([sum, n]: number[]) => (n ? (sum / n).toFixed(3) : '-');
      return Object.entries(sums)
        .map(([k, v]) => `${mean(v)} ${k}`)
        .join(' / ');
    };
    // Groups that give RLOO no signal on success (every episode succeeds or every one fails) and none at all
    // (every return equal up to rounding: every episode advantage 0).
    const uniform = batch.groups.filter((g) =>
      g.trajectories.every((t) => t.success === g.trajectories[0].success),
    );
    const flat = batch.groups.filter((g) =>
      g.trajectories.every((t) => Math.abs(t.outcomeReward - g.trajectories[0].outcomeReward) < 1e-6),
    );
    const stepAdvantage = targets.advantages.map((g) => g.map((t) => t.map((s) => s[0] ?? 0)));
    const heldOut = evaluation ? `, held-out success ${evaluation.successRate.toFixed(3)}` : '';
    console.log(
      `iteration ${it}: rollout success ${(episodes.filter((t) => t.success).length / episodes.length).toFixed(3)}, ` +
        `length ${(steps.length / episodes.length).toFixed(1)}, invalid ${(steps.filter((s) => !s.valid).length / steps.length).toFixed(3)}, ` +
        `PRM accuracy ${metrics['prm/accuracy']?.toFixed(2) ?? '-'}, entropy ${metrics['policy/entropy']?.toFixed(3) ?? '-'}, ` +
        `approx-KL ${metrics['policy/approx_kl']?.toFixed(4)}, grad norm ${metrics['policy/grad_norm']?.toFixed(3)}${heldOut} (${seconds()} s)`,
    );
    console.log(`  step reward ${byKind(targets.stepRewards)}; advantage ${byKind(stepAdvantage)}`);
    console.log(
      `  groups: ${uniform.length}/${batch.groups.length} all-success or all-failure, ${flat.length} with equal returns`,
    );
  }
  [policy, reference, prm].forEach((m) => m.dispose());
}

if (isMain(import.meta.url)) {
  learnProbe(JSON.parse(process.argv[2] ?? '{}') as RunConfigInput).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
