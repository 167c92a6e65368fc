import { algorithms, type ResolvedAlgorithm } from '../algo';
import { modelConfigFor, tokenizerFor } from '../agent';
import { algorithmOptions } from '../config/algorithm-options';
import type { RunConfig } from '../config/run-config';
import { getEnvSpec, type EnvSpec } from '../envs';
import type { ModelConfig, Tokenizer } from '../model';

/** Everything a stage derives from the run config; deterministic, so every worker derives the same. */
export interface RunSetup {
  config: RunConfig;
  spec: EnvSpec;
  tokenizer: Tokenizer;
  modelConfig: ModelConfig;
  algorithm: ResolvedAlgorithm;
  /** Tokens the policy may generate per action: the run config's maxActionTokens or the env's default. */
  maxActionTokens: number;
}

export function runSetup(config: RunConfig): RunSetup {
  const spec = withEnvOptions(getEnvSpec(config.env), envCreateOptions(config));
  const tokenizer = tokenizerFor(spec);
  const algorithm = algorithms.resolve(config.algorithm, algorithmOptions(config));
  const modelConfig = modelConfigFor(spec, tokenizer, config.model, algorithm.stages.needsValueHead);
  const maxActionTokens = config.maxActionTokens ?? spec.maxActionTokens;
  if (maxActionTokens >= modelConfig.contextLength)
    throw new Error(
      `maxActionTokens ${maxActionTokens} leaves no room for contexts in the model's window (model.contextLength ${modelConfig.contextLength})`,
    );
  return { config, spec, tokenizer, modelConfig, algorithm, maxActionTokens };
}

/**
 * What every env of a run is created with: the run config's envOptions, and its maxSteps as the env's episode
 * budget (unset: the env's own, Sokoban 15, WebShop and Social 10).
 */
function envCreateOptions(config: RunConfig): Record<string, unknown> {
  return config.maxSteps === undefined
    ? config.envOptions
    : { ...config.envOptions, maxSteps: config.maxSteps };
}

/** The env spec whose envs are created with the given options (every rollout, demonstration, evaluation). */
function withEnvOptions(spec: EnvSpec, envOptions: Record<string, unknown>): EnvSpec {
  if (Object.keys(envOptions).length === 0) return spec;
  return { ...spec, create: (options) => spec.create({ ...envOptions, ...options }) };
}

/**
 * The run config's envOptions, episode budget (maxSteps) and non-default prompt options (historyObservations)
 * as part of an SFT base's identity: nothing when they are the defaults, so the identity of every base trained
 * before the fields existed stays the same.
 */
export function envOptionsIdentity(config: RunConfig): unknown[] {
  return [
    ...(Object.keys(config.envOptions).length === 0 ? [] : [config.envOptions]),
    // The budget bounds demonstrations and, with envOptions.minTrainMoves, which training levels qualify.
    ...(config.maxSteps === undefined ? [] : [{ maxSteps: config.maxSteps }]),
    // Only when not the default, so that the identities of bases stored before the field existed hold.
    ...(config.historyObservations ? [] : [{ historyObservations: false }]),
  ];
}

/** Deterministic 32-bit mix of integers (seeds of levels and sampling per run/iteration/shard). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  }
  return h >>> 0;
}

/** Train-level seeds of iteration `iteration`'s groups: G distinct draws from the env's train range. */
export function iterationLevelSeeds(setup: RunSetup, iteration: number): number[] {
  const { start, end } = setup.spec.trainSeeds;
  const span = end - start;
  const seeds: number[] = [];
  for (let g = 0; seeds.length < setup.config.groups; g++) {
    const s = start + (mixSeed(setup.config.seed, iteration, g) % span);
    if (!seeds.includes(s) || g > 10 * setup.config.groups) seeds.push(s);
  }
  return seeds;
}

/** The fixed held-out levels of evaluation: the first `evalEpisodes` seeds of the held-out range. */
export function evaluationSeeds(setup: RunSetup): number[] {
  const { start, end } = setup.spec.heldOutSeeds;
  const n = Math.min(setup.config.evalEpisodes, end - start);
  return Array.from({ length: n }, (_, i) => start + i);
}

/** Groups of shard `shard` of `shards`: round robin, so shards stay balanced. */
export function shardGroups(groups: number, shard: number, shards: number): number[] {
  return Array.from({ length: groups }, (_, g) => g).filter((g) => g % shards === shard);
}
