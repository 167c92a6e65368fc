import {
  episodeEstimator,
  outcomeRewards,
  rocAuc,
  stepAdvantage,
  type RolloutBatch,
  type StepValues,
} from '../src/algo';
import { parseRunConfig, type RunConfigInput } from '../src/config/run-config';
import { SokobanEnv, solve } from '../src/envs/sokoban';
import { QUICKSTART } from '../src/experiments/suites';
import { initBackend } from '../src/model';
import {
  collectInProcess,
  computeAdvantages,
  iterationInProcess,
  runSetup,
  trainPolicy,
  type RunSetup,
} from '../src/pipeline';
import { heldoutGain, type IterateFn } from './heldout-gain';
import { cachedBase } from './learn-probe';
import { isMain } from './util';

/**
 * How well does each method's credit single out the good steps? On Sokoban the solver knows: a valid step is
 * optimal when it brings the room one move closer to solved (the BFS distance drops by exactly 1); any other
 * valid step from a solvable state (a wall bumped into, a detour, a push into a dead corner) is not. Every
 * iteration of an in-process run (`npm start`'s config with the JSON overrides, from the cached SFT base)
 * replays its rollouts, labels every step, and prints the area under the ROC curve with which each credit
 * signal separates optimal from other steps: iStar's implicit step reward r_t (eq. 1), its step advantage
 * A_S (eq. 4), the advantage the policy was trained on (A_E + alpha A_S for iStar), and RLOO's episode
 * advantage A_E of the same batch; pooled over the batch and averaged over the groups that have both kinds of
 * step (what a group-relative update can use). 0.5 = no information.
 * `npx tsx bench/credit-probe.ts '<run config JSON>'`, e.g. '{"iterations":6}'; with `oracle [levels] [against]`
 * after the JSON, the oracle run below (`against` as in bench/heldout-gain.ts).
 */
export interface StepLabels {
  /** [G][N][S_i]: true = optimal, false = not, null = not labelled (invalid action or unsolvable state). */
  optimal: (boolean | null)[][][];
}

const distance = (env: SokobanEnv, memo: Map<string, number | null>): number | null => {
  const key = env.anchor();
  if (!memo.has(key)) memo.set(key, solve(env.currentRoom())?.length ?? null);
  return memo.get(key)!;
};

/** Replays every trajectory of a Sokoban batch and labels its steps (see above). */
export function labelSteps(setup: RunSetup, batch: RolloutBatch): StepLabels {
  const memo = new Map<string, number | null>();
  const optimal = batch.groups.map((g) =>
    g.trajectories.map((t) => {
      const env = setup.spec.create() as SokobanEnv;
      const first = env.reset(g.taskSeed);
      if (t.steps[0]?.observationText !== undefined && !t.steps[0].observationText.includes(first.trim()))
        throw new Error(`credit-probe: the replay of level ${g.taskSeed} does not match its rollout`);
      return t.steps.map((s) => {
        const before = distance(env, memo);
        env.step(s.actionText ?? '');
        if (!s.valid || before === null) return null;
        return distance(env, memo) === before - 1;
      });
    }),
  );
  return { optimal };
}

/** AUC of `values` pooled over the batch and averaged over the groups with both labels. */
export function creditAuc(values: StepValues, labels: StepLabels): { pooled: number; withinGroup: number } {
  const pooledScores: number[] = [];
  const pooledLabels: boolean[] = [];
  const groupAucs: number[] = [];
  values.forEach((group, gi) => {
    const scores: number[] = [];
    const ls: boolean[] = [];
    group.forEach((traj, ti) =>
      traj.forEach((v, si) => {
        const l = labels.optimal[gi][ti][si];
        if (l === null) return;
        scores.push(v);
        ls.push(l);
      }),
    );
    pooledScores.push(...scores);
    pooledLabels.push(...ls);
    const auc = rocAuc(scores, ls);
    if (!Number.isNaN(auc)) groupAucs.push(auc);
  });
  const withinGroup = groupAucs.length ? groupAucs.reduce((a, b) => a + b, 0) / groupAucs.length : NaN;
  return { pooled: rocAuc(pooledScores, pooledLabels), withinGroup };
}

export async function creditProbe(overrides: RunConfigInput): Promise<void> {
  await initBackend();
  const input: RunConfigInput = { ...QUICKSTART, iterations: 6, ...overrides, evalEpisodes: 1 };
  const config = parseRunConfig(input);
  if (config.env !== 'sokoban') throw new Error('credit-probe: the solver labels Sokoban (text) steps only');
  const setup = runSetup(config);
  const policy = await cachedBase(input);
  const reference = policy.clone();
  const prm = policy.clone();
  const start = performance.now();
  const f = (x: number) => (Number.isNaN(x) ? '  -  ' : x.toFixed(3));
  console.log(
    'iteration | optimal steps | AUC pooled: r_t  A_S  trained-on  RLOO A_E | AUC within groups: A_S  trained-on  RLOO A_E | PRM pair accuracy',
  );
  for (let it = 1; it <= config.iterations; it++) {
    const { batch, metrics, targets } = await iterationInProcess(setup, { policy, prm, reference }, it);
    const labels = labelSteps(setup, batch);
    const flat = labels.optimal.flat(2).filter((l) => l !== null);
    const rloo = episodeEstimator('rloo')(outcomeRewards(batch));
    const episodeA: StepValues = batch.groups.map((g, gi) =>
      g.trajectories.map((t, ti) => t.steps.map(() => rloo[gi][ti])),
    );
    const trained: StepValues = targets.advantages.map((g) => g.map((t) => t.map((s) => s[0] ?? 0)));
    const r = targets.stepRewards;
    const aS = r?.map((g) => stepAdvantage(g));
    const auc = (v: StepValues | undefined) => (v ? creditAuc(v, labels) : { pooled: NaN, withinGroup: NaN });
    const [ar, aas, atr, ae] = [auc(r), auc(aS), auc(trained), auc(episodeA)];
    console.log(
      `${String(it).padStart(9)} | ${(flat.filter(Boolean).length / flat.length).toFixed(3)} of ${flat.length} | ` +
        `${f(ar.pooled)}  ${f(aas.pooled)}  ${f(atr.pooled)}  ${f(ae.pooled)} | ` +
        `${f(aas.withinGroup)}  ${f(atr.withinGroup)}  ${f(ae.withinGroup)} | ` +
        `${metrics['prm/accuracy']?.toFixed(2) ?? '-'} (${((performance.now() - start) / 1000).toFixed(0)} s)`,
    );
  }
  [policy, reference, prm].forEach((m) => m.dispose());
}

/**
 * The upper bound of step credit: RLOO's episode advantage plus alpha x a step advantage (eq. 4) from the
 * solver's labels instead of a PRM (step reward 1 for an optimal step, 0 for any other), trained and evaluated
 * as `bench/heldout-gain.ts` does. How much could iStar gain if its PRM were right about every step?
 */
export const oracleIterate: IterateFn = async (setup, { policy, reference }, iteration) => {
  const { config } = setup;
  const batch = await collectInProcess(setup, policy, iteration);
  const targets = await computeAdvantages(setup, batch, { policy, reference });
  const labels = labelSteps(setup, batch);
  labels.optimal.forEach((group, gi) => {
    const aS = stepAdvantage(group.map((t) => t.map((l) => (l ? 1 : 0))));
    targets.advantages[gi].forEach((t, ti) =>
      t.forEach((tokens, si) => tokens.forEach((a, k) => (tokens[k] = a + config.alpha * aS[ti][si]))),
    );
  });
  return trainPolicy(setup, policy, batch, targets, iteration, { reference });
};

if (isMain(import.meta.url)) {
  const overrides = JSON.parse(process.argv[2] ?? '{}') as RunConfigInput;
  (process.argv[3] === 'oracle'
    ? heldoutGain(
        { algorithm: 'rloo', ...overrides },
        Number(process.argv[4] ?? 1024),
        oracleIterate,
        process.argv[5],
      )
    : creditProbe(overrides)
  ).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
