import {
  ApplicationFailure,
  defineQuery,
  executeChild,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { RunConfigError } from '../src/config/run-config';
import { parseSweep, sweepCells, type SweepCell, type SweepInput } from '../src/config/sweep-config';
import { istarTraining } from './training';

/** One row of a sweep's results table. */
export interface SweepRow {
  name: string;
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
}

export const sweepProgressQuery = defineQuery<SweepProgress>('progress');

function validSweep(input: SweepInput | null | undefined): { cells: SweepCell[]; maxConcurrent: number } {
  try {
    const sweep = parseSweep(input ?? {});
    const prefix = sweep.experimentPrefix ?? workflowInfo().workflowId.replace(/[^A-Za-z0-9._-]/g, '-');
    return { cells: sweepCells(sweep, prefix), maxConcurrent: sweep.maxConcurrent };
  } catch (err) {
    if (err instanceof RunConfigError)
      throw ApplicationFailure.create({ message: err.message, type: 'RunConfigError', nonRetryable: true });
    throw err;
  }
}

/**
 * `istarSweep`: child istarTraining runs over a grid (algorithms x alpha x beta x seeds), at most
 * `maxConcurrent` at a time; returns the results table. A failed child is a failed row, not a failed sweep.
 */
export async function istarSweep(input?: SweepInput | null): Promise<SweepRow[]> {
  const { cells, maxConcurrent } = validSweep(input);
  const rows: SweepRow[] = [];
  const running = new Set<string>();
  setHandler(sweepProgressQuery, () => ({
    total: cells.length,
    running: [...running],
    done: rows.length,
    rows,
  }));
  let next = 0;
  const worker = async () => {
    while (next < cells.length) {
      const cell = cells[next++];
      const workflowId = `${workflowInfo().workflowId}-${cell.name}`;
      running.add(cell.name);
      const row: SweepRow = {
        name: cell.name,
        algorithm: cell.algorithm,
        alpha: cell.alpha,
        beta: cell.beta,
        seed: cell.seed,
        workflowId,
        experimentId: cell.config.experimentId!,
        status: 'completed',
      };
      try {
        const result = await executeChild(istarTraining, { workflowId, args: [cell.config] });
        Object.assign(row, {
          iterations: result.iterations,
          finalSuccess: result.finalMetrics['eval/success_rate'] ?? null,
          bestSuccess: result.bestSuccess,
        });
      } catch (err) {
        Object.assign(row, {
          status: 'failed',
          error: ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message,
        });
      }
      running.delete(cell.name);
      rows.push(row);
    }
  };
  await Promise.all(Array.from({ length: Math.min(maxConcurrent, cells.length) }, worker));
  const order = new Map(cells.map((c, i) => [c.name, i]));
  return rows.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
}
