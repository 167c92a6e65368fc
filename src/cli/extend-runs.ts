import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { istarExtend } from '../../workflows/extend';
import { settleRow, type SweepRow } from '../../workflows/sweep';
import type { ArtifactStore } from '../storage/store';
import { iterationKey } from '../storage/keys';
import { storedRow } from '../experiments/results';
import { SEARCH_ATTRIBUTE_KEYS, type TrainingResult } from '../../workflows/training';
import { finishedIteration } from './sweep';

/** A running workflow other than `except` that trains `experimentId` (its search attribute), if any. */
export async function runningOn(
  client: Client,
  experimentId: string,
  except: string,
): Promise<string | undefined> {
  const query = `${SEARCH_ATTRIBUTE_KEYS.experiment.name} = ${JSON.stringify(experimentId)} AND ExecutionStatus = "Running"`;
  for await (const execution of client.workflow.list({ query }))
    if (execution.workflowId !== except) return execution.workflowId;
  return undefined;
}

/** The workflow id of the extension of a sweep's run to `n` iterations: `<run's workflow id>-to<n>`. */
export const extensionId = (row: SweepRow, n: number) => `${row.workflowId}-to${n}`;

/**
 * `npm run experiments -- <suite> --extend-to n`: each row's run goes on training in place to `n` iterations in all
 * (`istarExtend`, workflow id `extensionId`), at most `maxConcurrent` at a time. An extension that has completed is
 * read back, a running one attached to, and one that failed or was stopped starts again from what its run has
 * recorded, so that the command can be run again after an interruption. A run whose storage already holds `n`
 * iterations without that extension (extended by another workflow, e.g. `istar extend --id <other>`) is read from
 * its stored metrics instead (`storedRow`); one that another workflow is training is an error naming it. Returns
 * the rows as the extensions ended (a failed one is a failed row) and the wall time of the extensions, from the
 * first start to the last end.
 */
export async function extendRows(
  client: Client,
  rows: readonly SweepRow[],
  n: number,
  opts: {
    maxConcurrent: number;
    taskQueue: string;
    rolloutTaskQueue?: string;
    print: (line: string) => void;
    /** Where the runs' iterations are stored. */
    store: ArtifactStore;
    /** How often a running extension's iteration is printed (default 30 s). */
    everyMs?: number;
  },
): Promise<{ rows: SweepRow[]; wallSeconds: number; end: Date }> {
  const out: SweepRow[] = new Array(rows.length);
  let first: Date | undefined;
  let last: Date | undefined;
  let next = 0;
  const extendOne = async (row: SweepRow): Promise<SweepRow> => {
    const workflowId = extensionId(row, n);
    // The extension continues as istarTraining under the same id: the handle follows it to the end.
    const handle = client.workflow.getHandle<typeof istarExtend>(workflowId);
    const existing = await handle.describe().catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    });
    const status = existing?.status.name;
    if (status === 'COMPLETED' || status === 'RUNNING')
      opts.print(
        `${status === 'RUNNING' ? 'attached to' : 'read'} ${workflowId} (${row.experimentId} to ${n})`,
      );
    else {
      const busy = await runningOn(client, row.experimentId, workflowId);
      if (busy)
        throw new Error(
          `--extend-to ${n}: ${row.experimentId} is being trained by the running workflow ${busy}; wait for it to end (or istar stop ${busy}), then run this again`,
        );
      // The iterations the run has recorded (metrics written; an iteration still in progress has none).
      const metrics = new Map<number, Record<string, number>>();
      for (const it of await opts.store.listIterations(row.experimentId)) {
        const key = iterationKey(row.experimentId, it, 'metrics.json');
        if (await opts.store.exists(key))
          metrics.set(it, await opts.store.getJson<Record<string, number>>(key));
      }
      if (Math.max(0, ...metrics.keys()) >= n) {
        const read = storedRow(row, n, metrics);
        opts.print(
          `${row.experimentId}: ${n} iterations stored already (extended by another workflow), read from storage: held-out success ${read.finalSuccess?.toFixed(3) ?? '-'}`,
        );
        return read;
      }
      await client.workflow.start(istarExtend, {
        taskQueue: opts.taskQueue,
        workflowId,
        args: [{ experimentId: row.experimentId, iterations: n, rolloutTaskQueue: opts.rolloutTaskQueue }],
        memo: { startedBy: 'npm run experiments --extend-to' },
      });
      opts.print(`started ${workflowId}: ${row.experimentId} from ${row.iterations} to ${n} iterations`);
    }
    let done = false;
    const result = (handle.result() as unknown as Promise<TrainingResult>).finally(() => (done = true));
    const settled = result.catch(() => undefined);
    let shown: number | undefined;
    while (!done) {
      await Promise.race([settled, new Promise((r) => setTimeout(r, opts.everyMs ?? 30_000))]);
      if (done) break;
      const at = await handle
        .describe()
        .then(finishedIteration)
        .catch(() => undefined);
      if (at !== undefined && at !== shown) opts.print(`${row.experimentId}: iteration ${at}/${n} done`);
      shown = at ?? shown;
    }
    const settledRow = await settleRow({ ...row, workflowId }, result);
    // The last run of the chain (istarTraining) is nearly all of the extension's time.
    const { startTime, closeTime } = await handle.describe();
    if (!first || startTime < first) first = startTime;
    const end = closeTime ?? new Date();
    if (!last || end > last) last = end;
    opts.print(
      settledRow.status === 'completed'
        ? `${row.experimentId}: held-out success ${settledRow.finalSuccess?.toFixed(3) ?? '-'} after ${settledRow.iterations} iterations`
        : `${row.experimentId}: extension failed: ${settledRow.error}`,
    );
    return settledRow;
  };
  const worker = async () => {
    while (next < rows.length) {
      const i = next++;
      out[i] = await extendOne(rows[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.maxConcurrent, rows.length) }, worker));
  const end = last ?? new Date();
  return { rows: out, wallSeconds: first ? (end.getTime() - first.getTime()) / 1000 : 0, end };
}
