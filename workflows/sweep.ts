import {
  ApplicationFailure,
  defineQuery,
  executeChild,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { RunConfigError, type RunConfig } from '../src/config/run-config';
import {
  launchOrder,
  parseSweep,
  sharedBaseConfig,
  sweepCells,
  sweepPrefix,
  type SweepCell,
  type SweepInput,
} from '../src/config/sweep-config';
import { describeFailure } from './failures';
import { istarTraining, stageActivities, type TrainingResult } from './training';

/** One row of a sweep's results table. */
export interface SweepRow {
  name: string;
  /** The variant (or algorithm) of the run; `sft-base` for a shared base. */
  variant: string;
  algorithm: string;
  alpha?: number;
  beta?: number;
  seed: number;
  workflowId: string;
  experimentId: string;
  status: 'completed' | 'failed';
  iterations?: number;
  finalSuccess?: number | null;
  bestSuccess?: number | null;
  error?: string;
}

export interface SweepProgress {
  total: number;
  running: string[];
  done: number;
  rows: SweepRow[];
  /**
   * How far each running run has got, `[iterations finished, iterations]` by run name: read from the runs'
   * recorded metrics in S3 by the CLI (the workflow's own query leaves it out).
   */
  finished?: Record<string, [number, number]>;
  /**
   * What the running shared base is doing (`SFT epoch 3/6: step 614/1201`, `held-out evaluation`): its pending
   * activity and last heartbeat, read from the server by the CLI.
   */
  base?: string;
}

/** The row of a sweep's run `cell` (child workflow `workflowId`) before it ends. */
export function runRow(cell: SweepCell, workflowId: string): SweepRow {
  return {
    name: cell.name,
    variant: cell.variant,
    algorithm: cell.algorithm,
    alpha: cell.alpha,
    beta: cell.beta,
    seed: cell.seed,
    workflowId,
    experimentId: cell.config.experimentId!,
    status: 'completed',
  };
}

/** `row` filled in with how its run ended: its iterations and held-out success, or the failure in one line. */
export async function settleRow(row: SweepRow, run: Promise<TrainingResult>): Promise<SweepRow> {
  try {
    const result = await run;
    Object.assign(row, {
      iterations: result.iterations,
      finalSuccess: result.finalMetrics['eval/success_rate'] ?? null,
      bestSuccess: result.bestSuccess,
    });
  } catch (err) {
    Object.assign(row, { status: 'failed', error: describeFailure(err) });
  }
  return row;
}

export const sweepProgressQuery = defineQuery<SweepProgress>('progress');

function validSweep(input: SweepInput | null | undefined): {
  cells: SweepCell[];
  maxConcurrent: number;
  base?: RunConfig;
  baseFrom?: string;
} {
  try {
    const sweep = parseSweep(input ?? {});
    const prefix = sweepPrefix(sweep, workflowInfo().workflowId);
    return {
      cells: sweepCells(sweep, prefix),
      maxConcurrent: sweep.maxConcurrent,
      base: sweep.sharedBase ? sharedBaseConfig(sweep, prefix) : undefined,
      baseFrom: sweep.baseFrom,
    };
  } catch (err) {
    if (err instanceof RunConfigError)
      throw ApplicationFailure.create({ message: err.message, type: 'RunConfigError', nonRetryable: true });
    throw err;
  }
}

/**
 * The shared SFT base of a sweep: the SFT activity (or a copy of experiment `copyFrom`'s stored base) and the
 * base's held-out evaluation (recorded as the base experiment's iteration 0), so every child starts from, and
 * is compared with, the same policy.
 */
async function trainSharedBase(config: RunConfig, copyFrom?: string): Promise<SweepRow> {
  const { trainer, rollout, quick } = stageActivities(config);
  const experimentId = config.experimentId!;
  await quick.writeExperimentConfig({ experimentId, config });
  const sft = await trainer.sftBasePolicy(
    copyFrom === undefined ? { config, iteration: 0 } : { config, iteration: 0, copyFrom },
  );
  const evaluation = await rollout.evaluate({ config, iteration: 0, policyKey: sft.policyKey });
  await quick.recordIteration({
    experimentId,
    iteration: 0,
    metrics: { ...sft.metrics, ...evaluation.metrics },
  });
  const success = evaluation.metrics['eval/success_rate'] ?? null;
  return {
    name: 'base',
    variant: 'sft-base',
    algorithm: 'sft',
    seed: config.seed,
    workflowId: workflowInfo().workflowId,
    experimentId,
    status: 'completed',
    iterations: 0,
    finalSuccess: success,
    bestSuccess: success,
  };
}

/**
 * `istarSweep`: child istarTraining runs over a grid (algorithms or named variants x alpha x beta x seeds), at
 * most `maxConcurrent` at a time, optionally all from one shared SFT base (its row first); returns the
 * results table. A failed child is a failed row, not a failed sweep.
 */
export async function istarSweep(input?: SweepInput | null): Promise<SweepRow[]> {
  const { cells, maxConcurrent, base, baseFrom } = validSweep(input);
  const rows: SweepRow[] = [];
  const running = new Set<string>();
  setHandler(sweepProgressQuery, () => ({
    total: cells.length,
    running: [...running],
    done: rows.length,
    rows,
  }));
  let baseRow: SweepRow | undefined;
  if (base) {
    running.add('base');
    baseRow = await trainSharedBase(base, baseFrom);
    running.delete('base');
  }
  // Seed by seed, so a sweep stopped part-way has comparable runs; sweeps started before this change keep
  // the grid's order when they replay.
  const launch = patched('sweep-seed-major') ? launchOrder(cells) : cells;
  let next = 0;
  const worker = async () => {
    while (next < launch.length) {
      const cell = launch[next++];
      const workflowId = `${workflowInfo().workflowId}-${cell.name}`;
      running.add(cell.name);
      const row = await settleRow(
        runRow(cell, workflowId),
        executeChild(istarTraining, { workflowId, args: [cell.config] }),
      );
      running.delete(cell.name);
      rows.push(row);
    }
  };
  await Promise.all(Array.from({ length: Math.min(maxConcurrent, cells.length) }, worker));
  const order = new Map(cells.map((c, i) => [c.name, i]));
  rows.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
  return baseRow ? [baseRow, ...rows] : rows;
}
