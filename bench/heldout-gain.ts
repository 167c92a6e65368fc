import { parseRunConfig, type RunConfigInput } from '../src/config/run-config';
import { pairedGain, pairedText } from '../src/cli/follow';
import { QUICKSTART } from '../src/experiments/suites';
import { initBackend, modelFromCheckpoint, type TransformerLM } from '../src/model';
import { evaluatePolicy, iterationInProcess, runSetup, type RunSetup } from '../src/pipeline';
import { evaluationLevels } from '../src/report/load';
import { checkpointPrefix, configKey } from '../src/storage/keys';
import { ArtifactMissingError, ArtifactStore } from '../src/storage/store';
import { cachedBase } from './learn-probe';
import { isMain } from './util';

/**
 * Does RL end above its SFT base on held-out levels, and by how much? `npm start`'s run (QUICKSTART, with
 * the JSON overrides) in-process from the cached SFT base, evaluated before and every `evalEvery`
 * iterations on `levels` held-out levels (default 1,024), compared with the base on the same levels
 * (levels gained, lost, McNemar z). The learning numbers equal npm start's: the stages are the same and
 * deterministic. `npx tsx bench/heldout-gain.ts '<run config JSON>' [levels] [against]`, e.g. '{"algorithm":"rloo"}'.
 * With `against`, an experiment in the local stack's bucket (e.g. the RLOO run of a sweep from the same SFT base),
 * each checkpoint is also paired with that run's stored evaluation of the same iteration, level by level, and the
 * probe starts from the checkpoint that run started from (its `resumeFrom`: a sweep's shared or copied SFT base),
 * so that the pairing is exact whether or not the local cache holds that base.
 */
/** One training iteration of the models in place (default: the pipeline's, iterationInProcess). */
export type IterateFn = (
  setup: RunSetup,
  models: { policy: TransformerLM; prm: TransformerLM; reference: TransformerLM },
  iteration: number,
) => Promise<{ metrics: Record<string, number> }>;

export async function heldoutGain(
  overrides: RunConfigInput,
  levels: number,
  iterate: IterateFn = iterationInProcess,
  against?: string,
): Promise<void> {
  const pairing = against !== undefined ? { store: ArtifactStore.fromEnv(), id: against } : undefined;
  if (pairing && !(await pairing.store.exists(configKey(pairing.id))))
    throw new Error(
      `heldout-gain: no experiment "${pairing.id}" in bucket ${pairing.store.bucket} to pair with`,
    );
  await initBackend();
  const input: RunConfigInput = { ...QUICKSTART, ...overrides, evalEpisodes: levels };
  const config = parseRunConfig(input);
  const setup = runSetup(config);
  // The iterations' own evaluation (every evalEvery and the last) on one level: the comparison below does it.
  const trainSetup = runSetup({ ...config, evalEpisodes: 1 });
  const from = pairing ? await storedStart(pairing.store, pairing.id, config) : undefined;
  const policy = from
    ? modelFromCheckpoint(
        await pairing!.store.getCheckpoint(checkpointPrefix(from.experimentId, 'policy', from.iteration)),
        setup.modelConfig,
      )
    : await cachedBase(input);
  const reference = policy.clone();
  const prm = policy.clone();
  // Each checkpoint's outcomes, and its line against the stored run (printed after the checkpoint's own line).
  const evaluated = async (iteration: number) => {
    const held = (await evaluatePolicy(setup, policy, iteration)).batch.groups.map((g) => ({
      seed: g.taskSeed,
      success: g.trajectories[0].success,
    }));
    const vs = pairing
      ? `  vs ${await pairedWithStored(pairing.store, pairing.id, iteration, held)}`
      : undefined;
    return { outcomes: held.map((l) => l.success), vs };
  };
  const { outcomes: base, vs: baseVs } = await evaluated(0);
  console.log(`iteration 0: held-out success ${rate(base)} on ${levels} levels`);
  if (baseVs) console.log(baseVs);
  const start = performance.now();
  for (let it = 1; it <= config.iterations; it++) {
    const { metrics } = await iterate(trainSetup, { policy, prm, reference }, it);
    // The PRM's pair accuracy (iStar, PRIME): each group's pairs ranked by the PRM just before its step on them;
    // and how far the policy is from the reference (the KL anchor's k3 estimate).
    const line = [
      metrics['prm/accuracy'] !== undefined ? `PRM pair accuracy ${metrics['prm/accuracy'].toFixed(2)}` : '',
      metrics['policy/kl_ref'] !== undefined
        ? `KL to the reference ${metrics['policy/kl_ref'].toFixed(4)}`
        : '',
    ].filter(Boolean);
    if (line.length) console.log(`iteration ${it}: ${line.join(', ')}`);
    if (it % config.evalEvery !== 0 && it !== config.iterations) continue;
    const { outcomes: after, vs } = await evaluated(it);
    console.log(
      `iteration ${it}: held-out success ${rate(after)}; ${pairedText(pairedGain(base, after))} ` +
        `(${((performance.now() - start) / 1000).toFixed(0)} s)`,
    );
    if (vs) console.log(vs);
  }
  [policy, reference, prm].forEach((m) => m.dispose());
}

/** Run-config fields that must match for a probe to be paired with a stored run as the same experiment. */
const PAIRED_FIELDS = [
  'env',
  'envOptions',
  'model',
  'groups',
  'groupSize',
  'temperature',
  'klCoef',
  'seed',
] as const;

/**
 * The checkpoint the stored run `against` started from (its `resumeFrom`), or undefined when it trained its own
 * base. Prints where the probe starts and every field of PAIRED_FIELDS on which the probe's config differs from
 * the stored run's (the probe goes on: a deliberate difference, e.g. another temperature, is a valid probe).
 */
export async function storedStart(
  store: ArtifactStore,
  against: string,
  config: Record<string, unknown>,
): Promise<{ experimentId: string; iteration: number } | undefined> {
  const stored = await store.getJson<Record<string, unknown>>(configKey(against));
  const differ = PAIRED_FIELDS.filter(
    (f) => stored[f] !== undefined && JSON.stringify(stored[f]) !== JSON.stringify(config[f]),
  );
  if (differ.length)
    console.log(
      `note: the probe differs from ${against} in ${differ.map((f) => `${f} (${JSON.stringify(config[f])}, stored ${JSON.stringify(stored[f])})`).join(', ')}`,
    );
  const from = stored.resumeFrom as { experimentId?: unknown; iteration?: unknown } | undefined;
  if (typeof from?.experimentId !== 'string' || typeof from.iteration !== 'number') return undefined;
  console.log(`starting from ${from.experimentId} at iteration ${from.iteration}, where ${against} started`);
  return { experimentId: from.experimentId, iteration: from.iteration };
}

const rate = (xs: boolean[]) => (xs.filter(Boolean).length / xs.length).toFixed(3);

/**
 * The probe's held-out evaluation at `iteration` (`levels`: seed and success per level) paired with the stored
 * evaluation of experiment `against` at the same iteration, as one line; the line says why instead when the run
 * has no evaluation there or evaluated other levels (the probe goes on: its training is not lost).
 */
export async function pairedWithStored(
  store: ArtifactStore,
  against: string,
  iteration: number,
  levels: { seed: number; success: boolean }[],
): Promise<string> {
  let stored: Awaited<ReturnType<typeof evaluationLevels>>;
  try {
    stored = await evaluationLevels(store, against, iteration);
  } catch (err) {
    if (err instanceof ArtifactMissingError) return `${against}: no evaluation at iteration ${iteration}`;
    throw err;
  }
  if (stored.length !== levels.length)
    return (
      `${against}: not paired, its evaluation at iteration ${iteration} has ${stored.length} levels and the ` +
      `probe's ${levels.length} (pass the run's evalEpisodes as [levels])`
    );
  const other = stored.findIndex((l, i) => l.seed !== levels[i].seed);
  if (other >= 0)
    return (
      `${against}: not paired, its evaluation at iteration ${iteration} is on other levels (level ${other}: ` +
      `seed ${stored[other].seed}, the probe's ${levels[other].seed}; a different environment or held-out split)`
    );
  const theirs = stored.map((l) => l.success);
  const ours = levels.map((l) => l.success);
  return `${against} ${rate(theirs)}: ${pairedText(pairedGain(theirs, ours))}`;
}

if (isMain(import.meta.url)) {
  const [json, levels, against] = process.argv.slice(2);
  heldoutGain(
    JSON.parse(json ?? '{}') as RunConfigInput,
    Number(levels ?? 1024),
    iterationInProcess,
    against,
  ).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
