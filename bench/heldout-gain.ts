import { parseRunConfig, type RunConfigInput } from '../src/config/run-config';
import { pairedGain, pairedText } from '../src/cli/follow';
import { QUICKSTART } from '../src/experiments/suites';
import { initBackend, type TransformerLM } from '../src/model';
import { evaluatePolicy, iterationInProcess, runSetup, type RunSetup } from '../src/pipeline';
import { cachedBase } from './learn-probe';
import { isMain } from './util';

/**
 * Does RL end above its SFT base on held-out levels, and by how much? `npm start`'s run (QUICKSTART, with
 * the JSON overrides) in-process from the cached SFT base, evaluated before and every `evalEvery`
 * iterations on `levels` held-out levels (default 1,024), compared with the base on the same levels
 * (levels gained, lost, McNemar z). The learning numbers equal npm start's: the stages are the same and
 * deterministic. `npx tsx bench/heldout-gain.ts '<run config JSON>' [levels]`, e.g. '{"algorithm":"rloo"}'.
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
): Promise<void> {
  await initBackend();
  const input: RunConfigInput = { ...QUICKSTART, ...overrides, evalEpisodes: levels };
  const config = parseRunConfig(input);
  const setup = runSetup(config);
  // The iterations' own evaluation (every evalEvery and the last) on one level: the comparison below does it.
  const trainSetup = runSetup({ ...config, evalEpisodes: 1 });
  const policy = await cachedBase(input);
  const reference = policy.clone();
  const prm = policy.clone();
  const outcomes = async (iteration: number) =>
    (await evaluatePolicy(setup, policy, iteration)).batch.groups.map((g) => g.trajectories[0].success);
  const rate = (xs: boolean[]) => (xs.filter(Boolean).length / xs.length).toFixed(3);
  const base = await outcomes(0);
  console.log(`iteration 0: held-out success ${rate(base)} on ${levels} levels`);
  const start = performance.now();
  for (let it = 1; it <= config.iterations; it++) {
    const { metrics } = await iterate(trainSetup, { policy, prm, reference }, it);
    // The PRM's pair accuracy (iStar, PRIME): each group's pairs ranked by the PRM just before its step on them.
    if (metrics['prm/accuracy'] !== undefined)
      console.log(`iteration ${it}: PRM pair accuracy ${metrics['prm/accuracy'].toFixed(2)}`);
    if (it % config.evalEvery !== 0 && it !== config.iterations) continue;
    const after = await outcomes(it);
    console.log(
      `iteration ${it}: held-out success ${rate(after)}; ${pairedText(pairedGain(base, after))} ` +
        `(${((performance.now() - start) / 1000).toFixed(0)} s)`,
    );
  }
  [policy, reference, prm].forEach((m) => m.dispose());
}

if (isMain(import.meta.url)) {
  heldoutGain(JSON.parse(process.argv[2] ?? '{}') as RunConfigInput, Number(process.argv[3] ?? 1024)).catch(
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
