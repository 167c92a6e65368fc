import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  launchOrder,
  parseSweep,
  sweepCells,
  sweepPrefix,
  type SweepConfig,
  type SweepInput,
} from '../config/sweep-config';
import { TASK_QUEUES, type istarTraining } from '../../workflows/training';
import { istarSweep, runRow, settleRow, type SweepProgress, type SweepRow } from '../../workflows/sweep';
import type { withClient as WithClient } from './commands';
import { runConfigFromFlags } from './run-flags';

const list =
  <T>(parse: (s: string) => T) =>
  (v: string) =>
    v.split(',').map((x) => parse(x.trim()));

/** The input a sweep was started with (the first event of its history), parsed. */
export async function startedSweep(handle: WorkflowHandle): Promise<SweepConfig> {
  const history = await handle.fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  return parseSweep(payload ? (defaultPayloadConverter.fromPayload(payload as Payload) ?? {}) : {});
}

/**
 * A sweep's progress read from the server rather than asked of it (a query needs a worker): each run is the child
 * workflow `<sweep id>-<run name>`, counted when it started after the sweep did (an older one is an earlier
 * sweep's). The rows are the ended runs in launch order (seed by seed), without the shared base's.
 */
export async function sweepProgressFromServer(
  client: Client,
  id: string,
  sweep: SweepConfig,
  since: Date,
): Promise<SweepProgress> {
  const cells = launchOrder(sweepCells(sweep, sweepPrefix(sweep, id)));
  const rows: SweepRow[] = [];
  const running: string[] = [];
  for (const cell of cells) {
    const workflowId = `${id}-${cell.name}`;
    const child = client.workflow.getHandle<typeof istarTraining>(workflowId);
    const d = await child.describe().catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    });
    if (!d || d.startTime < since) continue;
    if (d.status.name === 'RUNNING') running.push(cell.name);
    else rows.push(await settleRow(runRow(cell, workflowId), child.result()));
  }
  return { total: cells.length, done: rows.length, running, rows };
}

/**
 * Start sweep `id`, or attach to it when it is running or has completed: a finished sweep's result is read
 * back (e.g. to rebuild its report) instead of running every cell again. Only a sweep that failed, was
 * cancelled or terminated starts afresh under the same id.
 */
export async function startOrAttachSweep(
  client: Client,
  id: string,
  input: SweepInput,
  taskQueue: string,
): Promise<{ handle: WorkflowHandle<typeof istarSweep>; state: 'started' | 'running' | 'completed' }> {
  try {
    const handle = await client.workflow.start(istarSweep, {
      taskQueue,
      workflowId: id,
      args: [input],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
    });
    return { handle, state: 'started' };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const handle = client.workflow.getHandle<typeof istarSweep>(id);
    const { status } = await handle.describe();
    return { handle, state: status.name === 'RUNNING' ? 'running' : 'completed' };
  }
}

/** The results table of a sweep, one row per run. */
export function sweepTable(rows: SweepRow[]): string {
  const f = (x: number | null | undefined) => (x === undefined || x === null ? '-' : x.toFixed(3));
  const header = [
    'run',
    'variant',
    'algorithm',
    'alpha',
    'beta',
    'seed',
    'iterations',
    'final success',
    'best success',
    'status',
  ];
  const body = rows.map((r) =>
    [
      r.name,
      r.variant,
      r.algorithm,
      r.alpha ?? '-',
      r.beta ?? '-',
      r.seed,
      r.iterations ?? '-',
      f(r.finalSuccess),
      f(r.bestSuccess),
      r.status === 'failed' ? `failed: ${r.error}` : 'ok',
    ].map(String),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [header, ...body].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n');
}

export function registerSweepCommand(program: Command, withClient: typeof WithClient): void {
  program
    .command('sweep')
    .description(
      'run istarTraining children over a grid (algorithms x alphas x betas x seeds) and print the results table',
    )
    .option('--algorithms <list>', 'comma-separated algorithms', list(String))
    .option('--alphas <list>', 'comma-separated alpha values', list(Number))
    .option('--betas <list>', 'comma-separated beta values', list(Number))
    .option('--seeds <list>', 'comma-separated seeds', list(Number))
    .option('--max-concurrent <n>', 'children at the same time', Number)
    .option('--shared-base', 'train one SFT base first and start every run from it')
    .option(
      '--base-from <experimentId>',
      "start every run from this experiment's stored SFT base (copied into the sweep's base; implies --shared-base)",
    )
    .option('-c, --config <json|file>', 'base run config for every child')
    .option('--id <workflowId>', 'workflow id of the sweep')
    .option('--task-queue <name>', 'workflow task queue', TASK_QUEUES.workflow)
    .option('--detach', 'start and return without following')
    .option('--json', 'machine-readable output')
    .action(async (opts) => {
      const base = opts.config ? runConfigFromFlags({ config: opts.config }).input : {};
      const input = {
        base,
        algorithms: opts.algorithms,
        alphas: opts.alphas,
        betas: opts.betas,
        seeds: opts.seeds,
        maxConcurrent: opts.maxConcurrent,
        sharedBase: opts.sharedBase === true,
        ...(opts.baseFrom !== undefined ? { baseFrom: opts.baseFrom } : {}),
      };
      const id = opts.id ?? `istar-sweep-${randomUUID().slice(0, 8)}`;
      sweepCells(parseSweep(input), id); // validate the whole grid before starting anything
      await withClient(async (client, uiUrl) => {
        const handle = await client.workflow.start(istarSweep, {
          taskQueue: opts.taskQueue,
          workflowId: id,
          args: [input],
        });
        if (opts.json) console.log(JSON.stringify({ type: 'started', workflowId: id, url: uiUrl(id) }));
        else console.log(`started sweep ${id}\n  UI: ${uiUrl(id)}`);
        if (opts.detach) return;
        let done = -1;
        let finished = false;
        const result = handle.result().finally(() => (finished = true));
        while (!finished) {
          const p = (await handle.query('progress').catch(() => undefined)) as SweepProgress | undefined;
          if (p && p.done !== done && !opts.json)
            console.log(`sweep: ${p.done}/${p.total} runs done, running: ${p.running.join(', ') || '-'}`);
          if (p) done = p.done;
          await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
        }
        const rows = await result;
        if (opts.json) console.log(JSON.stringify({ type: 'result', rows }));
        else console.log(sweepTable(rows));
      });
    });
}
