import type { RolloutBatch } from '../algo';
import type { EpisodeSummary } from '../agent';
import type { TransformerLM } from '../model';
import type { RunSetup } from './setup';
import {
  type AdvantageResult,
  collectShard,
  computeAdvantages,
  evaluatePolicy,
  mergeBatches,
} from './stages';
import { preferencePairs, trainPolicy, trainPrm } from './train';

export type StageName =
  'collectRollouts' | 'labelPreferences' | 'trainPrm' | 'computeStepAdvantages' | 'trainPolicy' | 'evaluate';

/** Runs one stage; a caller may wrap it (timing). */
export type StageRunner = <T>(stage: StageName, fn: () => Promise<T> | T) => Promise<T>;

const plain: StageRunner = async (_stage, fn) => fn();

export interface InProcessIteration {
  batch: RolloutBatch;
  metrics: Record<string, number>;
  /** The step advantages (and the step rewards they came from) the policy was trained on. */
  targets: AdvantageResult;
  /** The held-out evaluation, when this iteration has one (every evalEvery and the last). */
  evaluation?: EpisodeSummary;
}

/** The iteration's rollouts as the workflow collects them: every shard (its own sampling seed), merged. */
export async function collectInProcess(
  setup: RunSetup,
  policy: TransformerLM,
  iteration: number,
): Promise<RolloutBatch> {
  const shards = Math.min(setup.config.rolloutShards, setup.config.groups);
  const parts = [];
  for (let shard = 0; shard < shards; shard++)
    parts.push((await collectShard(setup, policy, iteration, shard, shards)).batch);
  return mergeBatches(parts);
}

/**
 * One iteration of the istarTraining workflow without Temporal or S3, stage for stage: the same rollout
 * shards (each shard has its own sampling seed), the PRM trained against `reference`, the PRM prmScoring
 * names, the same evaluation schedule. `policy` and `prm` are updated in place. For benchmarks and probes.
 */
export async function iterationInProcess(
  setup: RunSetup,
  models: { policy: TransformerLM; prm: TransformerLM; reference: TransformerLM },
  iteration: number,
  run: StageRunner = plain,
): Promise<InProcessIteration> {
  const { config } = setup;
  const { stages: needs } = setup.algorithm;
  const { policy, prm, reference } = models;
  const batch = await run('collectRollouts', () => collectInProcess(setup, policy, iteration));
  const pairs = needs.needsPreferences
    ? (await run('labelPreferences', () => preferencePairs(setup, batch))).pairs
    : undefined;
  let metrics: Record<string, number> = {};
  let previousPrm: TransformerLM | undefined;
  const restart = needs.needsPrm && config.prmInit === 'policy';
  const train = needs.needsPrm && pairs?.length !== 0;
  if ((restart || train) && config.prmScoring === 'previous') previousPrm = prm.clone();
  // prmInit 'policy': this iteration's PRM starts at pi_old (and stays there if there are no pairs).
  if (restart) prm.assignFrom(policy);
  if (train) {
    const trained = await run('trainPrm', () => trainPrm(setup, prm, batch, iteration, { pairs, reference }));
    metrics = { ...trained.metrics };
  }
  const targets = await run('computeStepAdvantages', () =>
    computeAdvantages(
      setup,
      batch,
      { prm: previousPrm ?? prm, reference, policy },
      undefined,
      metrics['prm/heldout_accuracy'],
    ),
  );
  previousPrm?.dispose();
  const updated = await run('trainPolicy', () =>
    trainPolicy(setup, policy, batch, targets, iteration, { reference }),
  );
  metrics = { ...metrics, ...updated.metrics };
  const evaluation =
    iteration % config.evalEvery === 0 || iteration === config.iterations
      ? (await run('evaluate', () => evaluatePolicy(setup, policy, iteration))).summary
      : undefined;
  return { batch, metrics, targets, evaluation };
}
