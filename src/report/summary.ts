import { mean, std } from '../algo/stats';
import type { ExperimentData } from './load';

/** Metric names as the activities record them (activities/training.ts, src/algo). */
export const METRICS = {
  heldOutSuccess: 'eval/success_rate',
  rolloutSuccess: 'rollout/success_rate',
  rolloutReturn: 'rollout/return',
} as const;

/** Last recorded value of a metric in a run, with its iteration. */
export function lastValue(
  exp: ExperimentData,
  metric: string,
): { iteration: number; value: number } | undefined {
  for (let i = exp.iterations.length - 1; i >= 0; i--) {
    const value = exp.iterations[i].metrics[metric];
    if (value !== undefined) return { iteration: exp.iterations[i].iteration, value };
  }
  return undefined;
}

/**
 * A run's final held-out success: its last own evaluation. The iteration 0 a `resumeFrom` run borrows from the
 * checkpoint it started from (ExperimentData.startedFrom) is where it started, not a result of it.
 */
export function finalSuccess(exp: ExperimentData): { iteration: number; value: number } | undefined {
  const last = lastValue(exp, METRICS.heldOutSuccess);
  return last && !(exp.startedFrom && last.iteration === 0) ? last : undefined;
}

/** Best value of a metric over the run's own iterations (not the starting point a `resumeFrom` run borrowed). */
export function bestValue(exp: ExperimentData, metric: string): number | undefined {
  const own = exp.startedFrom ? exp.iterations.filter((r) => r.iteration > 0) : exp.iterations;
  const values = own.map((r) => r.metrics[metric]).filter((v): v is number => v !== undefined);
  return values.length ? Math.max(...values) : undefined;
}

/** The runs of each method x env (its seeds), in first-seen order. */
function byMethod(experiments: readonly ExperimentData[]): ExperimentData[][] {
  const cells = new Map<string, ExperimentData[]>();
  for (const exp of experiments) {
    const key = JSON.stringify([exp.label, exp.env]);
    cells.set(key, [...(cells.get(key) ?? []), exp]);
  }
  return [...cells.values()];
}

/** One row of the results table: final held-out success of every seed of a method on an env. */
export interface ResultRow {
  label: string;
  env: string;
  /** Runs (seeds) that have a held-out evaluation. */
  runs: string[];
  seeds: number[];
  values: number[];
  mean: number;
  /** Sample standard deviation over seeds (n - 1; 0 for a single seed). */
  std: number;
}

/** Final held-out success, mean +- std over seeds, per method x env; sorted by env, then by mean descending. */
export function resultsTable(experiments: readonly ExperimentData[]): ResultRow[] {
  const rows: ResultRow[] = [];
  for (const runs of byMethod(experiments)) {
    const scored = runs
      .map((exp) => ({ exp, final: finalSuccess(exp) }))
      .filter((r) => r.final !== undefined)
      // By seed, also when runs joined from several sweeps (--with) arrive in another order.
      .sort((a, b) => a.exp.seed - b.exp.seed);
    if (scored.length === 0) continue;
    const values = scored.map((r) => r.final!.value);
    rows.push({
      label: runs[0].label,
      env: runs[0].env,
      runs: scored.map((r) => r.exp.id),
      seeds: scored.map((r) => r.exp.seed),
      values,
      mean: mean(values),
      std: std(values, true),
    });
  }
  return rows.sort((a, b) => a.env.localeCompare(b.env) || b.mean - a.mean || a.label.localeCompare(b.label));
}

/** A metric of one run at one iteration. */
export interface RunPoint {
  run: string;
  label: string;
  iteration: number;
  value: number;
}

/** A metric over the seeds of one method at one iteration (seeds that recorded it there). */
export interface BandPoint {
  label: string;
  iteration: number;
  mean: number;
  min: number;
  max: number;
  n: number;
}

export function runPoints(experiments: readonly ExperimentData[], metric: string): RunPoint[] {
  return experiments.flatMap((exp) =>
    exp.iterations
      .filter((r) => r.metrics[metric] !== undefined)
      .map((r) => ({ run: exp.id, label: exp.label, iteration: r.iteration, value: r.metrics[metric] })),
  );
}

/** Mean and min-max band of a metric over the runs of each method, per iteration. */
export function bandPoints(points: readonly RunPoint[]): BandPoint[] {
  const cells = new Map<string, RunPoint[]>();
  for (const p of points) {
    const key = JSON.stringify([p.label, p.iteration]);
    cells.set(key, [...(cells.get(key) ?? []), p]);
  }
  return [...cells.values()]
    .map((ps) => {
      const values = ps.map((p) => p.value);
      return {
        label: ps[0].label,
        iteration: ps[0].iteration,
        mean: mean(values),
        min: Math.min(...values),
        max: Math.max(...values),
        n: values.length,
      };
    })
    .sort((a, b) => a.label.localeCompare(b.label) || a.iteration - b.iteration);
}

/** Method labels in a stable order, so every chart gives a method the same colour. */
export function methodLabels(experiments: readonly ExperimentData[]): string[] {
  return [...new Set(experiments.map((e) => e.label))].sort();
}

/**
 * One method against the reference method (RLOO, the paper's baseline) on the same held-out levels: the
 * runs of the two with the same seed and env evaluated the same levels, so their final evaluations pair
 * level by level. Gained/lost are pooled over those seeds; McNemar's z = (gained - lost) / sqrt(gained +
 * lost). `reachesReferenceAt`: the first evaluated iteration at which the method's mean held-out success
 * over its seeds is at least the reference's final mean (the paper's "reaches RLOO's final in half the steps").
 */
export interface PairedRow {
  label: string;
  env: string;
  reference: string;
  /** Seeds paired (both runs have a final evaluation with common levels). */
  seeds: number[];
  /** Level evaluations compared, summed over seeds. */
  levels: number;
  /** Levels the method solved and the reference did not, and the reverse. */
  gained: number;
  lost: number;
  z: number;
  /** Method's mean final success minus the reference's, over the paired levels. */
  difference: number;
  reachesReferenceAt?: number;
}

export function pairedTable(experiments: readonly ExperimentData[], reference = 'rloo'): PairedRow[] {
  const rows: PairedRow[] = [];
  for (const runs of byMethod(experiments)) {
    const { label, env } = runs[0];
    if (label === reference) continue;
    const refs = experiments.filter((e) => e.label === reference && e.env === env);
    if (refs.length === 0) continue;
    let gained = 0;
    let lost = 0;
    let levels = 0;
    const seeds: number[] = [];
    for (const run of runs) {
      const ref = refs.find((r) => r.seed === run.seed);
      if (!run.evaluation || !ref?.evaluation) continue;
      const refSuccess = new Map(ref.evaluation.episodes.map((e) => [e.seed, e.success]));
      const common = run.evaluation.episodes.filter((e) => refSuccess.has(e.seed));
      if (common.length === 0) continue;
      seeds.push(run.seed);
      levels += common.length;
      gained += common.filter((e) => e.success && !refSuccess.get(e.seed)).length;
      lost += common.filter((e) => !e.success && refSuccess.get(e.seed)).length;
    }
    if (seeds.length === 0) continue;
    // The reference's final mean over its seeds, and the method's seed-mean curve (points every seed has).
    const refFinal = mean(
      refs.map((r) => finalSuccess(r)?.value).filter((v): v is number => v !== undefined),
    );
    const curve = bandPoints(runPoints(runs, METRICS.heldOutSuccess)).filter((p) => p.n === runs.length);
    rows.push({
      label,
      env,
      reference,
      seeds,
      levels,
      gained,
      lost,
      z: gained + lost > 0 ? (gained - lost) / Math.sqrt(gained + lost) : 0,
      difference: (gained - lost) / levels,
      reachesReferenceAt: curve.find((p) => p.mean >= refFinal - 1e-12)?.iteration,
    });
  }
  return rows.sort((a, b) => a.env.localeCompare(b.env) || b.difference - a.difference);
}
