import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { algorithms } from '../src/algo/registry';
import { algorithmOptions } from '../src/config/algorithm-options';
import {
  experimentIdFrom,
  parseHyperparameters,
  parseRunConfig,
  RunConfigError,
  type Hyperparameters,
  type RunConfig,
  type RunConfigInput,
} from '../src/config/run-config';

/**
 * `istarTraining`: one run = SFT warm start (unless resuming), then per iteration the activities
 * collectRollouts (sharded) -> labelPreferences -> trainPrm -> computeStepAdvantages -> trainPolicy
 * (DESIGN.md section 3; stages an algorithm does not need are skipped), held-out evaluation every K
 * iterations. State is keys and small metrics only; continue-as-new carries it.
 */

export const TASK_QUEUES = { workflow: 'istar', rollout: 'istar-rollout', trainer: 'istar-trainer' } as const;

// --- Messages ---------------------------------------------------------------------------------------
export interface IterationRecord {
  iteration: number;
  metrics: Record<string, number>;
}

export interface Progress {
  experimentId: string;
  algorithm: string;
  env: string;
  /** Last completed iteration (0 = SFT base only). */
  iteration: number;
  iterations: number;
  stage: string;
  paused: boolean;
  stopRequested: boolean;
  bestSuccess: number | null;
  policyKey?: string;
  prmKey?: string;
  hyperparameters: Hyperparameters;
  history: IterationRecord[];
}

export const progressQuery = defineQuery<Progress>('progress');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Finish the current iteration, then end cleanly. */
export const stopSignal = defineSignal('stop');
/** Change alpha, beta or learning rates from the next activity on; rejected with the bad field named. */
export const setHyperparametersUpdate = defineUpdate<Hyperparameters, [Partial<Hyperparameters>]>(
  'setHyperparameters',
);

export const SEARCH_ATTRIBUTE_KEYS = {
  experiment: defineSearchAttributeKey('experiment', SearchAttributeType.KEYWORD),
  algorithm: defineSearchAttributeKey('algorithm', SearchAttributeType.KEYWORD),
  environment: defineSearchAttributeKey('environment', SearchAttributeType.KEYWORD),
  iteration: defineSearchAttributeKey('iteration', SearchAttributeType.INT),
  bestSuccess: defineSearchAttributeKey('bestSuccess', SearchAttributeType.DOUBLE),
};

// --- Activities -------------------------------------------------------------------------------------
/** Activity timeouts; heartbeatTimeout bounds how long a dead worker's attempt is waited for. */
export function stageActivities(config: RunConfig) {
  const heartbeatTimeout = `${config.heartbeatTimeoutSeconds} seconds`;
  const retry = {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 20,
  };
  const rollout = proxyActivities<Activities>({
    taskQueue: config.rolloutTaskQueue,
    startToCloseTimeout: '4 hours',
    heartbeatTimeout,
    retry,
  });
  const trainer = proxyActivities<Activities>({
    taskQueue: config.trainerTaskQueue,
    startToCloseTimeout: '8 hours',
    heartbeatTimeout,
    retry,
  });
  const quick = proxyActivities<Activities>({
    taskQueue: config.rolloutTaskQueue,
    startToCloseTimeout: '2 minutes',
    retry,
  });
  const report = proxyActivities<Activities>({
    taskQueue: config.rolloutTaskQueue,
    startToCloseTimeout: '10 minutes',
    retry: { maximumAttempts: 3 },
  });
  return { rollout, trainer, quick, report };
}

// --- State ------------------------------------------------------------------------------------------
/** Everything carried across continue-as-new: keys and small metrics only. */
export interface TrainingState {
  config: RunConfig;
  iteration: number;
  policyKey: string;
  prmKey: string;
  /** pi_ref (the SFT base or the resumed checkpoint): PRIME's reference and the KL anchor. */
  referenceKey: string;
  bestSuccess: number | null;
  history: IterationRecord[];
  paused: boolean;
  stopRequested: boolean;
}

export interface TrainingResult {
  experimentId: string;
  iterations: number;
  stopped: boolean;
  policyKey: string;
  prmKey: string;
  bestSuccess: number | null;
  finalMetrics: Record<string, number>;
  history: IterationRecord[];
}

/** Iteration records a run keeps in its state (and its progress query). */
export const MAX_HISTORY = 500;

function invalidInput(err: unknown): never {
  if (err instanceof RunConfigError) {
    throw ApplicationFailure.create({
      message: err.message,
      type: 'RunConfigError',
      nonRetryable: true,
      details: [err.issues],
    });
  }
  throw err;
}

export async function istarTraining(
  input?: RunConfigInput | null,
  carried?: TrainingState,
): Promise<TrainingResult> {
  let config: RunConfig;
  try {
    config = carried?.config ?? parseRunConfig(input ?? {});
  } catch (err) {
    invalidInput(err);
  }
  // Default experiment id: the workflow id plus the run's first 8 characters, unique per run (carried over continue-as-new).
  config = {
    ...config,
    experimentId:
      config.experimentId ??
      experimentIdFrom(`${workflowInfo().workflowId}-${workflowInfo().runId.slice(0, 8)}`),
  };
  const { stages } = algorithms.resolve(config.algorithm, algorithmOptions(config));
  let stage = carried ? 'resuming' : 'starting';
  const state: Partial<TrainingState> & { config: RunConfig; history: IterationRecord[] } = carried
    ? { ...carried }
    : { config, iteration: 0, bestSuccess: null, history: [], paused: false, stopRequested: false };
  const experimentId = config.experimentId!;

  setHandler(progressQuery, () => ({
    experimentId,
    algorithm: state.config.algorithm,
    env: state.config.env,
    iteration: state.iteration ?? 0,
    iterations: state.config.iterations,
    stage,
    paused: !!state.paused,
    stopRequested: !!state.stopRequested,
    bestSuccess: state.bestSuccess ?? null,
    policyKey: state.policyKey,
    prmKey: state.prmKey,
    hyperparameters: {
      alpha: state.config.alpha,
      beta: state.config.beta,
      policyLr: state.config.policyLr,
      prmLr: state.config.prmLr,
    },
    history: state.history,
  }));
  setHandler(pauseSignal, () => void (state.paused = true));
  setHandler(resumeSignal, () => void (state.paused = false));
  setHandler(stopSignal, () => void (state.stopRequested = true));
  setHandler(
    setHyperparametersUpdate,
    (change) => {
      state.config = { ...state.config, ...parseHyperparameters(change) };
      log.info('hyperparameters changed', { change });
      return {
        alpha: state.config.alpha,
        beta: state.config.beta,
        policyLr: state.config.policyLr,
        prmLr: state.config.prmLr,
      };
    },
    {
      validator: (change) => {
        try {
          parseHyperparameters(change);
        } catch (err) {
          throw new Error((err as Error).message);
        }
      },
    },
  );

  const { rollout, trainer, quick, report } = stageActivities(config);
  upsertSearchAttributes([
    { key: SEARCH_ATTRIBUTE_KEYS.experiment, value: experimentId },
    { key: SEARCH_ATTRIBUTE_KEYS.algorithm, value: config.algorithm },
    { key: SEARCH_ATTRIBUTE_KEYS.environment, value: config.env },
    { key: SEARCH_ATTRIBUTE_KEYS.iteration, value: state.iteration ?? 0 },
  ]);
  upsertMemo({ config });

  const record = async (iteration: number, metrics: Record<string, number>) => {
    if (metrics['eval/success_rate'] !== undefined) {
      state.bestSuccess = Math.max(state.bestSuccess ?? 0, metrics['eval/success_rate']);
      upsertSearchAttributes([{ key: SEARCH_ATTRIBUTE_KEYS.bestSuccess, value: state.bestSuccess }]);
    }
    state.history = [...state.history, { iteration, metrics }].slice(-MAX_HISTORY);
    await quick.recordIteration({ experimentId, iteration, metrics });
  };

  if (!carried) {
    stage = 'setup';
    await quick.writeExperimentConfig({ experimentId, config });
    if (config.resumeFrom) {
      stage = 'locateCheckpoints';
      const keys = await quick.locateCheckpoints(config.resumeFrom);
      Object.assign(state, keys, { referenceKey: keys.policyKey });
    } else {
      stage = 'sftBasePolicy';
      const base = await trainer.sftBasePolicy({ config, iteration: 0 });
      Object.assign(state, { policyKey: base.policyKey, prmKey: base.prmKey, referenceKey: base.policyKey });
      stage = 'evaluate';
      const evaluation = await rollout.evaluate({ config, iteration: 0, policyKey: base.policyKey });
      await record(0, { ...base.metrics, ...evaluation.metrics });
    }
  }

  const firstIteration = (state.iteration ?? 0) + 1;
  for (let it = firstIteration; it <= state.config.iterations; it++) {
    if (state.paused) {
      stage = 'paused';
      await condition(() => !state.paused || !!state.stopRequested);
    }
    if (state.stopRequested) break;
    const cfg = state.config;
    const stageInput = { config: cfg, iteration: it };
    const metrics: Record<string, number> = {};

    stage = 'collectRollouts';
    const shards = Math.min(cfg.rolloutShards, cfg.groups);
    const collected = await Promise.all(
      Array.from({ length: shards }, (_, shard) =>
        rollout.collectRollouts({ ...stageInput, policyKey: state.policyKey!, shard, shards }),
      ),
    );
    const rolloutKeys = collected.map((c) => c.key);
    const episodes = collected.reduce((a, c) => a + c.metrics['rollout/episodes'], 0);
    for (const key of Object.keys(collected[0].metrics)) {
      metrics[key] =
        collected.reduce((a, c) => a + c.metrics[key] * c.metrics['rollout/episodes'], 0) / episodes;
    }
    metrics['rollout/episodes'] = episodes;

    let pairsKey: string | undefined;
    let pairs = -1;
    if (stages.needsPreferences) {
      stage = 'labelPreferences';
      const labelled = await rollout.labelPreferences({ ...stageInput, rolloutKeys });
      pairsKey = labelled.key;
      pairs = labelled.pairs;
      Object.assign(metrics, labelled.metrics);
    }

    const previousPrmKey = state.prmKey!;
    // prmInit 'policy': this iteration's PRM starts at pi_old (and stays there if there are no pairs).
    if (stages.needsPrm && cfg.prmInit === 'policy') state.prmKey = state.policyKey!;
    if (stages.needsPrm && pairs !== 0) {
      stage = 'trainPrm';
      const prm = await trainer.trainPrm({
        ...stageInput,
        rolloutKeys,
        pairsKey,
        prmKey: state.prmKey!,
        referenceKey: state.referenceKey!,
      });
      state.prmKey = prm.prmKey;
      Object.assign(metrics, prm.metrics);
    }

    stage = 'computeStepAdvantages';
    const scoringPrmKey = cfg.prmScoring === 'previous' ? previousPrmKey : state.prmKey!;
    const advantages = await trainer.computeStepAdvantages({
      ...stageInput,
      rolloutKeys,
      prmKey: scoringPrmKey,
      referenceKey: state.referenceKey,
      policyKey: state.policyKey!,
      prmAccuracy: metrics['prm/heldout_accuracy'],
    });
    Object.assign(metrics, advantages.metrics);

    stage = 'trainPolicy';
    const policy = await trainer.trainPolicy({
      ...stageInput,
      rolloutKeys,
      advantagesKey: advantages.key,
      policyKey: state.policyKey!,
      referenceKey: state.referenceKey,
    });
    state.policyKey = policy.policyKey;
    Object.assign(metrics, policy.metrics);

    if (it % cfg.evalEvery === 0 || it === cfg.iterations || state.stopRequested) {
      stage = 'evaluate';
      const evaluation = await rollout.evaluate({ ...stageInput, policyKey: policy.policyKey });
      Object.assign(metrics, evaluation.metrics);
    }
    await record(it, metrics);
    state.iteration = it;
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTE_KEYS.iteration, value: it }]);

    const done = it >= state.config.iterations || state.stopRequested;
    if (
      !done &&
      (workflowInfo().continueAsNewSuggested || it - firstIteration + 1 >= cfg.continueAsNewEvery)
    ) {
      stage = 'continueAsNew';
      await condition(allHandlersFinished);
      await continueAsNew<typeof istarTraining>(null, state as TrainingState);
    }
  }

  // The run's HTML report in S3 (experiments/<id>/report/). A report that cannot be built never fails the
  // run it describes. Patched: histories recorded before the report existed replay without it.
  if (patched('write-report')) {
    stage = 'writeReport';
    try {
      await report.writeReport({ experimentId });
    } catch (err) {
      log.warn('the run report could not be written', { experimentId, error: String(err) });
    }
  }

  stage = state.stopRequested ? 'stopped' : 'completed';
  await condition(allHandlersFinished);
  return {
    experimentId,
    iterations: state.iteration ?? 0,
    stopped: !!state.stopRequested && (state.iteration ?? 0) < state.config.iterations,
    policyKey: state.policyKey!,
    prmKey: state.prmKey!,
    bestSuccess: state.bestSuccess ?? null,
    finalMetrics: state.history.at(-1)?.metrics ?? {},
    history: state.history,
  };
}
