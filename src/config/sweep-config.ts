import { z } from 'zod';
import {
  ALGORITHM_NAMES,
  experimentIdSchema,
  RunConfigError,
  crossFieldIssues,
  describeIssues,
  runConfigSchema,
  type RunConfig,
  type RunConfigInput,
} from './run-config';

/**
 * Input of the `istarSweep` workflow: a grid of algorithms x alpha x beta x seeds over a base run config,
 * run as child workflows with at most `maxConcurrent` at a time. Pure (zod only).
 */
export const sweepSchema = z
  .object({
    /** Run config shared by every run of the grid (every field optional, as for istarTraining). */
    base: z.record(z.string(), z.unknown()).default({}),
    algorithms: z.array(z.enum(ALGORITHM_NAMES)).min(1).default(['istar', 'rloo']),
    /**
     * Named run-config overrides (e.g. `{name: 'grpo+istar', config: {algorithm: 'istar', episodeEstimator:
     * 'grpo'}}`), used instead of `algorithms` when given: the paper's variants and ablations.
     */
    variants: z
      .array(
        z
          .object({
            name: z
              .string()
              .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/)
              .max(40),
            config: z.record(z.string(), z.unknown()).default({}),
          })
          .strict(),
      )
      .min(1)
      .optional(),
    /**
     * Train one SFT base (experiment `<prefix>-base`, evaluated as its iteration 0) and start every run from
     * it (resumeFrom), so that all algorithms and seeds share the same starting policy.
     */
    sharedBase: z.boolean().default(false),
    /**
     * Start from the SFT base another experiment stored (its iteration-0 policy and PRM checkpoints, e.g. an
     * earlier sweep's `<prefix>-base`) instead of training one: copied into this sweep's base experiment and
     * evaluated there. Implies sharedBase.
     */
    baseFrom: experimentIdSchema.optional(),
    alphas: z.array(z.number().finite().min(0)).min(1).optional(),
    betas: z.array(z.number().finite().positive()).min(1).optional(),
    seeds: z.array(z.number().int().min(0)).min(1).default([0]),
    /** Child runs at the same time. */
    maxConcurrent: z.number().int().min(1).max(64).default(2),
    /** Prefix of the children's experiment ids (default: the sweep's workflow id). */
    experimentPrefix: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)
      .max(80)
      .optional(),
  })
  .strict();

export type SweepInput = z.input<typeof sweepSchema>;
export type SweepConfig = z.output<typeof sweepSchema>;

export interface SweepCell {
  name: string;
  /** The variant's name (the algorithm's when the grid is over algorithms). */
  variant: string;
  algorithm: string;
  alpha?: number;
  beta?: number;
  seed: number;
  config: RunConfig;
}

/**
 * The order a sweep starts its cells in: seed by seed (every method's seed 0, then every method's seed 1, ...;
 * within a seed, the grid's order), so that a sweep stopped part-way has the same seeds of every method to
 * compare. `cells` as sweepCells gives them (variant-major); the sort is stable.
 */
export function launchOrder(cells: readonly SweepCell[]): SweepCell[] {
  const seedRank = new Map<number, number>();
  for (const c of cells) if (!seedRank.has(c.seed)) seedRank.set(c.seed, seedRank.size);
  return [...cells].sort((a, b) => seedRank.get(a.seed)! - seedRank.get(b.seed)!);
}

export function parseSweep(input: unknown): SweepConfig {
  const result = sweepSchema.safeParse(input ?? {});
  if (!result.success) {
    throw new RunConfigError(describeIssues(result.error));
  }
  // A base copied from elsewhere is still this sweep's shared base.
  return result.data.baseFrom ? { ...result.data, sharedBase: true } : result.data;
}

/** The prefix of a sweep's experiment ids: its `experimentPrefix`, else its workflow id made id-safe. */
export const sweepPrefix = (sweep: SweepConfig, workflowId: string) =>
  sweep.experimentPrefix ?? workflowId.replace(/[^A-Za-z0-9._-]/g, '-');

/** Experiment id of a sweep's shared SFT base. */
export const sharedBaseId = (prefix: string) => `${prefix}-base`.slice(0, 128);

/** The shared SFT base's run config: the sweep's base config under its own experiment id. */
export function sharedBaseConfig(sweep: SweepConfig, prefix: string): RunConfig {
  const parsed = runConfigSchema.safeParse({ ...sweep.base, experimentId: sharedBaseId(prefix) });
  if (!parsed.success) throw new RunConfigError(describeIssues(parsed.error, () => 'base'));
  const issues = crossFieldIssues(parsed.data);
  if (issues.length > 0) throw new RunConfigError(issues.map((i) => `base.${i}`));
  return parsed.data;
}

/** The grid's runs, each with a validated config (a bad base config names the field, prefixed `base.`). */
export function sweepCells(sweep: SweepConfig, prefix: string): SweepCell[] {
  if (sweep.baseFrom !== undefined && sweep.baseFrom === sharedBaseId(prefix))
    throw new RunConfigError([
      `baseFrom: ${sweep.baseFrom} is this sweep's own base experiment; name another experiment's base to copy`,
    ]);
  const cells: SweepCell[] = [];
  const variants =
    sweep.variants ?? sweep.algorithms.map((algorithm) => ({ name: algorithm, config: { algorithm } }));
  const names = new Set<string>();
  for (const v of variants) {
    if (names.has(v.name)) throw new RunConfigError([`variants: duplicate name ${v.name}`]);
    names.add(v.name);
  }
  for (const variant of variants)
    for (const alpha of sweep.alphas ?? [undefined])
      for (const beta of sweep.betas ?? [undefined])
        for (const seed of sweep.seeds) {
          const parts = [
            variant.name.replace(/\+/g, 'p'),
            alpha !== undefined ? `a${alpha}` : '',
            beta !== undefined ? `b${beta}` : '',
            `s${seed}`,
          ].filter(Boolean);
          const name = parts.join('-');
          const input: RunConfigInput = {
            ...(sweep.base as RunConfigInput),
            ...(variant.config as RunConfigInput),
            seed,
            experimentId: `${prefix}-${name}`.slice(0, 128),
          };
          if (sweep.sharedBase) input.resumeFrom = { experimentId: sharedBaseId(prefix), iteration: 0 };
          if (alpha !== undefined) input.alpha = alpha;
          if (beta !== undefined) input.beta = beta;
          const parsed = runConfigSchema.safeParse(input);
          if (!parsed.success)
            throw new RunConfigError(
              describeIssues(parsed.error, (i) =>
                i.path[0] !== undefined && i.path[0] in variant.config ? `variants.${variant.name}` : 'base',
              ),
            );
          const issues = crossFieldIssues(parsed.data);
          if (issues.length > 0)
            throw new RunConfigError(
              issues.map(
                (i) => `${i.split('.')[0] in variant.config ? `variants.${variant.name}.` : 'base.'}${i}`,
              ),
            );
          cells.push({
            name,
            variant: variant.name,
            algorithm: parsed.data.algorithm,
            alpha,
            beta,
            seed,
            config: parsed.data,
          });
        }
  return cells;
}
