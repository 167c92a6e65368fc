import { gunzipSync } from 'node:zlib';
import { decodeBatch } from '../algo/batch-codec';
import { mean } from '../algo/stats';
import {
  configKey,
  experimentPrefix,
  iterationKey,
  InvalidExperimentIdError,
  iterationOfKey,
  validateExperimentId,
} from '../storage/keys';
import type { ArtifactStore } from '../storage/store';
import { ArtifactMissingError } from '../storage/store';

/**
 * Everything a report shows of one experiment, read from its artifacts (README "Storage layout"):
 * config.json, iterations/<i>/metrics.json, the latest iterations/<i>/eval.json.gz and, when present, the
 * latest iteration's rollouts/shard-*.bin with advantages.json.gz for step-level rewards.
 */
export interface ExperimentData {
  id: string;
  /** The stored run config (parsed by the workflow when the run started; read as is). */
  config: Record<string, unknown>;
  env: string;
  algorithm: string;
  /** iStar ablation, when not the full method. */
  variant?: string;
  seed: number;
  /** Runs with the same label are seeds of one method: `algorithm`, or `istar/<variant>` for ablations. */
  label: string;
  /**
   * Iterations with a metrics.json, ascending. A run started from another run's checkpoint (`resumeFrom`, e.g. a
   * sweep's shared SFT base) records nothing at iteration 0: its iteration 0 is then the evaluation (`eval/*`)
   * stored at the checkpoint it started from, so every curve starts where the run did.
   */
  iterations: IterationMetrics[];
  /** The checkpoint a `resumeFrom` run started from, when its iteration 0 was read from there. */
  startedFrom?: { experimentId: string; iteration: number };
  /** The latest held-out evaluation with its episodes. */
  evaluation?: Evaluation;
  /** Training rollouts of the latest iteration with advantages, scored step by step. */
  training?: TrainingSample;
  /** What could not be read (the rest of the report is still built). */
  warnings: string[];
}

/** iterations/<i>/metrics.json as written by the recordIteration activity: `{iteration, ...metrics}`. */
export interface IterationMetrics {
  iteration: number;
  metrics: Record<string, number>;
}

export interface TrajectoryStep {
  observation: string;
  action: string;
  /** Env reward of the step. */
  reward: number;
  valid: boolean;
  /** Per-step reward the estimator used (iStar: implicit step reward, eq. (1)). */
  stepReward?: number;
  /** Mean advantage over the step's action tokens. */
  advantage?: number;
}

export interface Trajectory {
  seed: number;
  success: boolean;
  score: number;
  steps: TrajectoryStep[];
}

/** iterations/<i>/eval.json.gz as written by the evaluate activity (one episode per held-out level). */
export interface Evaluation {
  iteration: number;
  summary: Record<string, number>;
  episodes: Trajectory[];
}

/** The level seed and success of each held-out level of iteration `iteration`'s evaluation, in level order. */
export async function evaluationLevels(
  store: ArtifactStore,
  experimentId: string,
  iteration: number,
): Promise<{ seed: number | undefined; success: boolean }[]> {
  const raw = gunzipJson<{ episodes?: { seed?: unknown; success?: unknown }[] }>(
    await store.getBytes(iterationKey(experimentId, iteration, 'eval.json.gz')),
  );
  return (raw.episodes ?? []).map((e) => ({
    seed: typeof e.seed === 'number' ? e.seed : undefined,
    success: e.success === true,
  }));
}

/** Success of each held-out level of iteration `iteration`'s evaluation, in level order. */
export async function evaluationOutcomes(
  store: ArtifactStore,
  experimentId: string,
  iteration: number,
): Promise<boolean[]> {
  return (await evaluationLevels(store, experimentId, iteration)).map((e) => e.success);
}

export interface TrainingSample {
  iteration: number;
  trajectories: (Trajectory & { group: number; rollout: number; outcomeReward: number })[];
}

/** The experiment is missing or has nothing to report yet. */
export class ReportInputError extends Error {
  override name = 'ReportInputError';
}

export interface LoadOptions {
  /** Training trajectories kept for the viewer (best and worst of each group until this many). */
  maxTrainingTrajectories?: number;
}

const CONCURRENCY = 16;

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const gunzipJson = <T>(bytes: Uint8Array): T => JSON.parse(gunzipSync(bytes).toString('utf8')) as T;

function numericMetrics(raw: Record<string, unknown>): Record<string, number> {
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw))
    if (k !== 'iteration' && typeof v === 'number' && Number.isFinite(v)) metrics[k] = v;
  return metrics;
}

/** The method a run belongs to, for grouping seeds. */
export function methodLabel(algorithm: string, variant: string | undefined, estimator?: string): string {
  if (algorithm !== 'istar') return algorithm;
  // iStar on top of an episode estimator other than RLOO (the paper's default) is named after it: grpo+istar.
  const base = estimator && estimator !== 'rloo' ? `${estimator}+istar` : 'istar';
  return variant && variant !== 'istar' ? `${base}/${variant}` : base;
}

/** Ids of the experiments in the bucket (one listing of `experiments/`, not recursive), sorted. */
export async function listExperimentIds(store: ArtifactStore): Promise<string[]> {
  const ids: string[] = [];
  const stream = store.client.listObjectsV2(store.bucket, 'experiments/', false);
  for await (const item of stream as AsyncIterable<{ prefix?: string }>) {
    const m = item.prefix && /^experiments\/([^/]+)\/$/.exec(item.prefix);
    if (m) ids.push(m[1]);
  }
  return ids.sort();
}

export async function loadExperiment(
  store: ArtifactStore,
  id: string,
  options: LoadOptions = {},
): Promise<ExperimentData> {
  validateExperimentId(id);
  const where = `s3://${store.bucket}/${experimentPrefix(id)}`;
  let config: Record<string, unknown>;
  try {
    config = await store.getJson<Record<string, unknown>>(configKey(id));
  } catch (err) {
    if (!(err instanceof ArtifactMissingError)) throw err;
    throw new ReportInputError(
      `experiment "${id}" has no config.json at ${where}config.json: check the id (\`istar dashboard\` lists the stored experiments)`,
    );
  }
  const keys = await store.list(`${experimentPrefix(id)}iterations/`);
  const named = (name: string) =>
    keys
      .filter((k) => k.endsWith(`/${name}`))
      .map((k) => ({ key: k, iteration: iterationOfKey(k) }))
      .filter((x): x is { key: string; iteration: number } => x.iteration !== undefined)
      .sort((a, b) => a.iteration - b.iteration);
  const metricKeys = named('metrics.json');
  if (metricKeys.length === 0)
    throw new ReportInputError(
      `experiment "${id}" has no iterations/<n>/metrics.json under ${where}: nothing to report until its run records an iteration`,
    );
  const iterations = await mapLimit(metricKeys, CONCURRENCY, async ({ key, iteration }) => ({
    iteration,
    metrics: numericMetrics(await store.getJson<Record<string, unknown>>(key)),
  }));

  const warnings: string[] = [];
  const startedFrom = await startingPoint(store, config, iterations, warnings);
  const algorithm = String(config.algorithm ?? 'istar');
  const variant = typeof config.variant === 'string' ? config.variant : undefined;
  const data: ExperimentData = {
    id,
    config,
    env: String(config.env ?? 'sokoban'),
    algorithm,
    variant: variant && variant !== 'istar' ? variant : undefined,
    seed: typeof config.seed === 'number' ? config.seed : 0,
    label: methodLabel(
      algorithm,
      variant,
      typeof config.episodeEstimator === 'string' ? config.episodeEstimator : undefined,
    ),
    iterations,
    ...(startedFrom ? { startedFrom } : {}),
    warnings,
  };

  const lastEval = named('eval.json.gz').at(-1);
  if (lastEval) {
    try {
      const raw = gunzipJson<{ summary?: Record<string, unknown>; episodes?: Trajectory[] }>(
        await store.getBytes(lastEval.key),
      );
      data.evaluation = {
        iteration: lastEval.iteration,
        summary: numericMetrics(raw.summary ?? {}),
        episodes: (raw.episodes ?? []).map((e) => ({ ...e, steps: e.steps ?? [] })),
      };
    } catch (err) {
      data.warnings.push(`${lastEval.key} could not be read: ${(err as Error).message}`);
    }
  }

  const lastAdvantages = named('advantages.json.gz').at(-1);
  if (lastAdvantages) {
    const shards = keys.filter((k) =>
      k.startsWith(lastAdvantages.key.replace(/advantages\.json\.gz$/, 'rollouts/shard-')),
    );
    if (shards.length > 0) {
      try {
        data.training = await loadTrainingSample(
          store,
          lastAdvantages.iteration,
          lastAdvantages.key,
          shards,
          options.maxTrainingTrajectories ?? 12,
        );
      } catch (err) {
        data.warnings.push(
          `training rollouts of iteration ${lastAdvantages.iteration} could not be read: ${(err as Error).message}`,
        );
      }
    }
  }
  return data;
}

/**
 * A `resumeFrom` run's starting point: the evaluation metrics stored at the checkpoint it started from, put
 * first in `iterations` as iteration 0 (mutated). Nothing when the run has its own iteration 0 or the source
 * has no evaluation there; a source that is gone is a warning, not a failure.
 */
async function startingPoint(
  store: ArtifactStore,
  config: Record<string, unknown>,
  iterations: IterationMetrics[],
  warnings: string[],
): Promise<{ experimentId: string; iteration: number } | undefined> {
  const from = config.resumeFrom as { experimentId?: unknown; iteration?: unknown } | undefined;
  if (typeof from?.experimentId !== 'string' || typeof from.iteration !== 'number') return undefined;
  if (iterations.some((i) => i.iteration === 0)) return undefined;
  const source = { experimentId: from.experimentId, iteration: from.iteration };
  let raw: Record<string, unknown>;
  try {
    validateExperimentId(source.experimentId);
    raw = await store.getJson<Record<string, unknown>>(
      iterationKey(source.experimentId, source.iteration, 'metrics.json'),
    );
  } catch (err) {
    if (!(err instanceof ArtifactMissingError) && !(err instanceof InvalidExperimentIdError)) throw err;
    warnings.push(
      `started from ${source.experimentId} iteration ${source.iteration}, whose metrics.json could not be read (${(err as Error).message}); its curves start at iteration 1`,
    );
    return undefined;
  }
  const evaluation = Object.fromEntries(
    Object.entries(numericMetrics(raw)).filter(([k]) => k.startsWith('eval/')),
  );
  if (Object.keys(evaluation).length === 0) return undefined;
  iterations.unshift({ iteration: 0, metrics: evaluation });
  return source;
}

/**
 * The rollouts of one iteration joined with the advantage stage's output. Shards are merged in shard order,
 * as the workflow does before computeStepAdvantages, so `stepRewards[g][n][s]` indexes the merged groups.
 */
async function loadTrainingSample(
  store: ArtifactStore,
  iteration: number,
  advantagesKey: string,
  shardKeys: string[],
  maxTrajectories: number,
): Promise<TrainingSample> {
  const [targets, ...batches] = await Promise.all([
    store
      .getBytes(advantagesKey)
      .then((b) => gunzipJson<{ advantages?: number[][][][]; stepRewards?: number[][][] }>(b)),
    ...shardKeys.map(async (k) => decodeBatch(await store.getBytes(k))),
  ]);
  const groups = batches.flatMap((b) => b.groups);
  if (targets.advantages && targets.advantages.length !== groups.length)
    throw new Error(`advantages have ${targets.advantages.length} groups, the rollouts ${groups.length}`);
  const picked: TrainingSample['trajectories'] = [];
  for (let g = 0; g < groups.length && picked.length < maxTrajectories; g++) {
    const ts = groups[g].trajectories;
    const order = ts.map((_, n) => n).sort((a, b) => ts[b].outcomeReward - ts[a].outcomeReward);
    for (const n of new Set([order[0], order[order.length - 1]])) {
      if (picked.length >= maxTrajectories) break;
      const t = ts[n];
      picked.push({
        group: g,
        rollout: n,
        seed: groups[g].taskSeed,
        success: t.success,
        score: t.score,
        outcomeReward: t.outcomeReward,
        steps: t.steps.map((s, si) => {
          const tokenAdvantages = targets.advantages?.[g]?.[n]?.[si];
          return {
            observation: s.observationText ?? '',
            action: s.actionText ?? '',
            reward: s.envReward,
            valid: s.valid,
            stepReward: targets.stepRewards?.[g]?.[n]?.[si],
            advantage: tokenAdvantages?.length ? mean(tokenAdvantages) : undefined,
          };
        }),
      });
    }
  }
  return { iteration, trajectories: picked };
}

/** Load several experiments; the first missing one fails the whole call with its id named. */
export async function loadExperiments(
  store: ArtifactStore,
  ids: readonly string[],
  options: LoadOptions = {},
): Promise<ExperimentData[]> {
  if (ids.length === 0) throw new ReportInputError('no experiment ids given');
  const unique = [...new Set(ids)];
  return mapLimit(unique, 4, (id) => loadExperiment(store, id, options));
}
