import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
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
import { SEARCH_ATTRIBUTE_KEYS, TASK_QUEUES, type istarTraining } from '../../workflows/training';
import { istarSweep, runRow, settleRow, type SweepProgress, type SweepRow } from '../../workflows/sweep';
import { describeFailure } from '../../workflows/failures';
import type { withClient as WithClient } from './commands';
import { runConfigFromFlags } from './run-flags';
import { pendingProgress } from './follow';

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
  // The shared base's pending activity, when it is the one running (the sweep's own activities are the base's).
  const base = sweep.sharedBase ? baseActivity(await client.workflow.getHandle(id).describe()) : undefined;
  if (base !== undefined) running.push('base');
  const finished: Record<string, [number, number]> = {};
  for (const cell of cells) {
    const workflowId = `${id}-${cell.name}`;
    const child = client.workflow.getHandle<typeof istarTraining>(workflowId);
    const d = await child.describe().catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    });
    if (!d || d.startTime < since) continue;
    if (d.status.name === 'RUNNING') {
      running.push(cell.name);
      finished[cell.name] = [finishedIteration(d) ?? 0, cell.config.iterations];
    } else rows.push(await settleRow(runRow(cell, workflowId), child.result()));
  }
  return { total: cells.length, done: rows.length, running, rows, finished, base };
}

const BASE_ACTIVITIES: Record<string, string> = {
  sftBasePolicy: 'SFT',
  evaluate: 'held-out evaluation',
  writeExperimentConfig: 'starting',
  recordIteration: 'recording',
};

/**
 * What a sweep's shared base is doing, from the sweep's pending activity (only the base's activities run in the
 * sweep itself; its runs are child workflows) and that activity's last heartbeat: `SFT epoch 3/6: step 614/1201`,
 * `held-out evaluation`; undefined when none is pending.
 */
export function baseActivity(description: Pick<WorkflowExecutionDescription, 'raw'>): string | undefined {
  const pending = pendingProgress(description).find((a) => BASE_ACTIVITIES[a.activity] !== undefined);
  if (!pending) return undefined;
  const label = BASE_ACTIVITIES[pending.activity];
  return pending.progress === undefined ? label : `${label} ${pending.progress}`;
}

/** The last iteration a run has finished, as it told the server (its `iteration` search attribute). */
export function finishedIteration(description: WorkflowExecutionDescription): number | undefined {
  return description.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.iteration);
}

/**
 * How far each of a sweep's running runs has got, `[iterations finished, iterations]` by run name, read from the
 * server (each child's `iteration` search attribute): progress that needs no worker to answer.
 */
export async function finishedIterations(
  client: Client,
  sweep: SweepConfig,
  id: string,
  running: readonly string[],
): Promise<Record<string, [number, number]>> {
  const finished: Record<string, [number, number]> = {};
  for (const cell of sweepCells(sweep, sweepPrefix(sweep, id)))
    if (running.includes(cell.name)) {
      const d = await client.workflow
        .getHandle(`${id}-${cell.name}`)
        .describe()
        .catch((err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return undefined; // the sweep is starting it
          throw err;
        });
      if (d) finished[cell.name] = [finishedIteration(d) ?? 0, cell.config.iterations];
    }
  return finished;
}

/** `rloo-s2 (iteration 7/8 done), grpo-s2 (...)`: a sweep's running runs, with how far each has got when known. */
export function runningText(progress: Pick<SweepProgress, 'running' | 'finished' | 'base'>): string {
  const text = progress.running.map((name) => {
    const f = progress.finished?.[name];
    if (name === 'base' && progress.base) return `base (${progress.base})`;
    return f ? `${name} (iteration ${f[0]}/${f[1]} done)` : name;
  });
  return text.join(', ') || '-';
}

/** How long a progress query may wait for a worker to answer (a live one answers in well under a second). */
const QUERY_DEADLINE_MS = 10_000;

/**
 * A workflow's `progress` query, failing after QUERY_DEADLINE_MS: a query waits for a worker, and without one the
 * server would hold it for about a minute.
 */
export function queryProgress<T>(client: Client, handle: WorkflowHandle): Promise<T> {
  return client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query<T>('progress'));
}

/**
 * Wait for a sweep's result, printing a progress line (`print`) whenever a run ends or a running run finishes an
 * iteration. Runs ending come from the sweep's progress query (polled every 5 s); when no worker answers it within
 * QUERY_DEADLINE_MS (a busy or restarting worker), from the server instead (`sweepProgressFromServer`), so the
 * lines go on either way. Iterations come from the runs' descriptions (every `everyMs`), so a long run shows
 * progress between its start and its end. A failed read only leaves that poll's line out.
 */
export async function followSweep(
  handle: WorkflowHandle<typeof istarSweep>,
  opts: {
    client: Client;
    sweep: SweepConfig;
    print: (progress: SweepProgress) => void;
    everyMs?: number;
  },
): Promise<SweepRow[]> {
  let shown = '';
  let finished: SweepProgress['finished'];
  let base: string | undefined;
  let readAt = 0;
  let done = false;
  const result = handle.result().finally(() => (done = true));
  // Handled from the start: the loop awaits a query before it first waits on the result, and a sweep that fails
  // at once must not leave its rejection unhandled meanwhile (Node would exit with a stack dump).
  const settled = result.catch(() => undefined);
  const fromServer = async (): Promise<SweepProgress | undefined> => {
    const { status, startTime } = await handle.describe();
    if (status.name !== 'RUNNING') return undefined; // it has ended: its result says how
    return sweepProgressFromServer(opts.client, handle.workflowId, opts.sweep, startTime);
  };
  while (!done) {
    const asked = await queryProgress<SweepProgress>(opts.client, handle).catch(() => undefined);
    const p = asked ?? (done ? undefined : await fromServer().catch(() => undefined));
    if (p) {
      if (!asked) {
        // The server read carries how far each running run has got.
        readAt = Date.now();
        finished = p.finished;
        base = p.base;
      } else if (
        Date.now() - readAt >= (opts.everyMs ?? 30_000) ||
        !p.running.every((n) => n === 'base' || finished?.[n])
      ) {
        readAt = Date.now();
        finished = await finishedIterations(opts.client, opts.sweep, handle.workflowId, p.running).catch(
          () => undefined,
        );
        base = p.running.includes('base')
          ? await handle
              .describe()
              .then(baseActivity)
              .catch(() => undefined)
          : undefined;
      }
      const progress = { ...p, finished, base };
      const line = `${p.done}/${p.total} ${runningText(progress)}`;
      if (line !== shown) opts.print(progress);
      shown = line;
    }
    await Promise.race([settled, new Promise((r) => setTimeout(r, 5000))]);
  }
  return result.catch((err: unknown) => {
    throw sweepFailure(handle.workflowId, err);
  });
}

/** A failed sweep workflow as an error naming the sweep and the cause ("Workflow execution failed" alone says neither). */
function sweepFailure(id: string, err: unknown): Error {
  if (!(err instanceof WorkflowFailedError)) return err instanceof Error ? err : new Error(String(err));
  return new Error(`sweep ${id} failed: ${describeFailure(err.cause ?? err)}`, { cause: err });
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
        const rows = await followSweep(handle, {
          client,
          sweep: parseSweep(input),
          print: (p) => {
            const { done, total, running, finished } = p;
            if (opts.json) console.log(JSON.stringify({ type: 'progress', done, total, running, finished }));
            else console.log(`sweep: ${done}/${total} runs done, running: ${runningText(p)}`);
          },
        });
        if (opts.json) console.log(JSON.stringify({ type: 'result', rows }));
        else console.log(sweepTable(rows));
      });
    });
}
