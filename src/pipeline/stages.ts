import type { AdvantageOutput, RolloutBatch, StepValues } from '../algo';
import {
  collectRollouts,
  contextBudget,
  demonstrationPairs,
  summarizeBatch,
  type EpisodeSummary,
} from '../agent';
import { sft, TransformerLM, type SftEpochMetrics } from '../model';
import { anchorImage, stepValuesOf, tokenLogProbsOf } from './rows';
import { evaluationSeeds, iterationLevelSeeds, mixSeed, shardGroups, type RunSetup } from './setup';

/**
 * The non-looping stages of an iteration (DESIGN.md section 3) as plain functions of the run setup and
 * models; activities load their inputs from S3, call these and store the outputs.
 */

/** A fresh policy of the run's size (seeded by the run seed). */
export function initialPolicy(setup: RunSetup): TransformerLM {
  return TransformerLM.create(setup.modelConfig, setup.config.seed, setup.tokenizer);
}

/**
 * The base policy: SFT on noisy expert demonstrations (DESIGN.md section 5), epochs from `startEpoch`
 * (a resumed attempt restores the model saved after the previous epoch). Returns with the optimizer
 * state reset: the RL policy and the PRM start from the base with fresh AdamW moments.
 */
export async function sftBasePolicy(
  setup: RunSetup,
  model: TransformerLM,
  options: {
    startEpoch?: number;
    onEpoch?: (epoch: number, metrics: SftEpochMetrics) => Promise<void> | void;
    /** Awaited after every optimizer step with (step within the epoch, steps per epoch, epoch from 1): heartbeat, cancellation, yielding. */
    onStep?: (step: number, steps: number, epoch: number) => Promise<void> | void;
    /** Keep SFT's AdamW moments (probes that compare carrying them into RL); default: reset them. */
    keepOptimizerState?: boolean;
  } = {},
): Promise<{ metrics: Record<string, number> }> {
  const { config } = setup;
  const demos = demonstrationPairs(setup.spec, setup.tokenizer, {
    episodes: config.sft.episodes,
    randomActionFraction: config.sft.randomActionFraction,
    invalidActionFraction: config.sft.invalidActionFraction,
    labels: config.sft.labels,
    seed: mixSeed(config.seed, 101),
    historyLength: config.historyLength,
    historyObservations: config.historyObservations,
    instruction: config.promptInstruction,
    maxContextTokens: contextBudget(model, setup.maxActionTokens),
    maxActionTokens: setup.maxActionTokens,
    image: setup.modelConfig.image ? anchorImage : undefined,
  });
  let last: SftEpochMetrics | undefined;
  for (let epoch = options.startEpoch ?? 0; epoch < config.sft.epochs; epoch++) {
    [last] = await sft(model, demos.train, demos.heldOut, {
      epochs: 1,
      batchSize: config.sft.batchSize,
      lr: config.sft.lr,
      maxGradNorm: config.maxGradNorm,
      seed: mixSeed(config.seed, 103, epoch),
      accuracyItems: demos.trainExpert,
      onStep: (step, steps) => options.onStep?.(step, steps, epoch + 1),
    });
    await options.onEpoch?.(epoch + 1, last);
  }
  // The RL policy and the PRM start from this base with fresh AdamW moments (see resetOptimizer).
  if (!options.keepOptimizerState) model.resetOptimizer();
  const metrics: Record<string, number> = {
    'sft/demonstrations': demos.train.length,
    'sft/demonstrator_success': demos.demonstratorSuccess,
  };
  if (last) for (const [k, v] of Object.entries(last)) if (k !== 'epoch') metrics[k] = v;
  return { metrics };
}

/** collectRollouts of one shard (a round-robin subset of the iteration's groups). */
export async function collectShard(
  setup: RunSetup,
  policy: TransformerLM,
  iteration: number,
  shard: number,
  shards: number,
  onStep?: (step: number, active: number) => Promise<void> | void,
): Promise<{ batch: RolloutBatch; summary: EpisodeSummary }> {
  const { config } = setup;
  const allSeeds = iterationLevelSeeds(setup, iteration);
  const mine = shardGroups(allSeeds.length, shard, shards);
  const batch = await collectRollouts(policy, setup.tokenizer, {
    ...rolloutSettings(setup),
    seeds: mine.map((g) => allSeeds[g]),
    groupIds: mine.map((g) => `it${iteration}-g${g}`),
    samplingSeed: mixSeed(config.seed, iteration, shard, 7),
    onStep,
  });
  return { batch, summary: summarizeBatch(batch) };
}

/** The run config's rollout settings (env, group size, sampling, prompt) for collectRollouts. */
export function rolloutSettings(setup: RunSetup) {
  const { config } = setup;
  return {
    spec: setup.spec,
    groupSize: config.groupSize,
    maxSteps: config.maxSteps,
    temperature: config.temperature,
    temperedLogProbs: config.temperedLogProbs,
    maxActionTokens: setup.maxActionTokens,
    historyLength: config.historyLength,
    historyObservations: config.historyObservations,
    instruction: config.promptInstruction,
  };
}

/** The shards' batches as one, groups in shard order. */
export function mergeBatches(batches: readonly RolloutBatch[]): RolloutBatch {
  return { groups: batches.flatMap((b) => b.groups) };
}

export interface AdvantageResult extends AdvantageOutput {
  oldValues?: StepValues;
}

/**
 * computeStepAdvantages: the models' per-token log-probs the algorithm needs (PRM for iStar/PRIME,
 * reference for PRIME, value head of pi_old for PPO), then the registry's advantage function.
 */
export async function computeAdvantages(
  setup: RunSetup,
  batch: RolloutBatch,
  models: { prm?: TransformerLM; reference?: TransformerLM; policy?: TransformerLM },
  onProgress?: (done: number, total: number) => Promise<void> | void,
  /** The PRM stage's prm/heldout_accuracy this iteration (iStar's alphaGate 'prm-accuracy'). */
  prmAccuracy?: number,
): Promise<AdvantageResult> {
  const { stages } = setup.algorithm;
  const need = (m: TransformerLM | undefined, what: string): TransformerLM => {
    if (!m) throw new Error(`computeAdvantages: algorithm ${setup.config.algorithm} needs the ${what} model`);
    return m;
  };
  const prmLogProbs = stages.needsPrm
    ? await tokenLogProbsOf(setup, need(models.prm, 'PRM'), batch, 32, onProgress)
    : undefined;
  const refLogProbs = stages.needsReference
    ? await tokenLogProbsOf(setup, need(models.reference, 'reference'), batch, 32, onProgress)
    : undefined;
  const values = stages.needsValueHead
    ? await stepValuesOf(setup, need(models.policy, 'policy'), batch, 32, onProgress)
    : undefined;
  const out = setup.algorithm.advantages({ batch, prmLogProbs, refLogProbs, values, prmAccuracy });
  return { ...out, oldValues: values };
}

/** Held-out evaluation at the evaluation temperature (paper 0.4), one episode per fixed held-out level. */
export async function evaluatePolicy(
  setup: RunSetup,
  policy: TransformerLM,
  iteration: number,
  onStep?: (step: number, active: number) => Promise<void> | void,
): Promise<{ summary: EpisodeSummary; batch: RolloutBatch }> {
  const { config } = setup;
  const batch = await collectRollouts(policy, setup.tokenizer, {
    spec: setup.spec,
    seeds: evaluationSeeds(setup),
    groupSize: 1,
    maxSteps: config.maxSteps,
    temperature: config.evalTemperature,
    maxActionTokens: setup.maxActionTokens,
    historyLength: config.historyLength,
    historyObservations: config.historyObservations,
    instruction: config.promptInstruction,
    samplingSeed: mixSeed(config.seed, iteration, 991),
    onStep,
  });
  return { summary: summarizeBatch(batch), batch };
}
