import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { upStack } from '../../infra/stack';
import { istarSweep, type SweepRow } from '../../workflows/sweep';
import { TASK_QUEUES } from '../../workflows/training';
import { parseSweep, sharedBaseId, sweepCells, sweepPrefix, type SweepInput } from '../config/sweep-config';
import {
  extendedSince,
  joinedRuns,
  joinedSweeps,
  mergeSweepRows,
  reproduceCommand,
  resultsMarkdown,
  rowsToExtend,
  suiteSweep,
  sweepArgs,
  sweepDifferences,
  type JoinedSweep,
  type SoFar,
  type SuiteOverrides,
} from '../experiments/results';
import { findSuite, SUITES, type Suite } from '../experiments/suites';
import { iterationKey } from '../storage/keys';
import { ArtifactStore } from '../storage/store';
import { withClient } from './commands';
import { extendRows } from './extend-runs';
import { noWorkerLine, pollerCounts, runEntryPoint, withLocalWorker } from './local-worker';
import {
  followSweep,
  runningText,
  startedSweep,
  startOrAttachSweep,
  sweepProgressFromServer,
  sweepTable,
} from './sweep';

/**
 * `npm run experiments -- <suite>`: bring up the local stack and a local worker, run the suite's sweep
 * (workflow id `experiments-<suite>`; run again to attach to it), then write the report
 * (`<out>/<suite>/index.html` + PNGs) and the results table (`<out>/<suite>.md`).
 */
const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a positive integer, got "${v}"`);
  return n;
};
const seedList = (v: string) =>
  v.split(',').map((x) => {
    const n = Number(x.trim());
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`expected seeds like 0,1,2, got "${v}"`);
    return n;
  });

const nameList = (v: string) => {
  const names = v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (names.length === 0)
    throw new InvalidArgumentError(`expected variant names like rloo,rloo+istar, got "${v}"`);
  return names;
};

const jsonObject = (v: string) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch (err) {
    throw new InvalidArgumentError(
      `expected a JSON object of run-config fields, got "${v}" (${(err as Error).message})`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new InvalidArgumentError(`expected a JSON object of run-config fields, got "${v}"`);
  return parsed as Record<string, unknown>;
};

interface Options extends SuiteOverrides {
  list?: boolean;
  out: string;
  id?: string;
  /** Other completed sweeps of the suite whose runs join the table (mergeSweepRows). */
  with?: string[];
  png: boolean;
  /** Write the table of a running sweep's ended runs, without a worker (the sweep goes on). */
  soFar?: boolean;
  /** Extend every completed run of the table in place to this many iterations, then write the table. */
  extendTo?: number;
  /** Start a local worker for the sweep (false with --no-worker: workers run elsewhere). */
  worker: boolean;
}

async function run(): Promise<void> {
  const program = new Command('npm run experiments --')
    .argument('[suite]', `one of: ${SUITES.map((s) => s.name).join(', ')}`)
    .option('--list', 'list the suites and exit')
    .option('--iterations <n>', 'iterations per run (overrides the suite)', positiveInt)
    .option('--seeds <list>', 'comma-separated seeds (overrides the suite)', seedList)
    .option('--max-concurrent <n>', 'runs at the same time', positiveInt)
    .option(
      '--variants <list>',
      "comma-separated subset of the suite's variants, e.g. rloo,rloo+istar",
      nameList,
    )
    .option('--out <dir>', 'where the report and results table go', 'docs/results')
    .option('--id <workflowId>', 'sweep workflow id (default experiments-<suite>)')
    .option(
      '--with <workflowIds>',
      "comma-separated completed sweeps of the same suite whose runs join the table (e.g. the variants this sweep did not finish, run with --variants and --id); <sweepId>:<variant> joins only that variant's runs",
      nameList,
    )
    .option(
      '--base-from <experimentId>',
      "start every run from this experiment's stored SFT base (copied, e.g. an earlier sweep's experiments-<suite>-base) instead of training one",
    )
    .option(
      '--set <json>',
      `run-config fields merged into the suite's base config, e.g. '{"envOptions":{"productIds":"per-episode"}}' (objects field by field; null unsets a suite field, e.g. '{"alpha":null}')`,
      jsonObject,
    )
    .option('--no-png', 'skip the PNG exports')
    .option(
      '--no-worker',
      "start no local worker: the sweep's activities run on workers started elsewhere (istar workers, on this machine or others, or another npm run experiments whose worker serves both)",
    )
    .option(
      '--extend-to <n>',
      "once the sweep has completed, go on training each of the table's completed runs in place to n iterations in all (as `istar extend` does), then write the table at n; run it again to attach",
      positiveInt,
    )
    .option(
      '--so-far',
      'write the table and report of a running sweep from the runs it has ended so far, without starting a worker (the sweep goes on)',
    )
    .exitOverride();
  program.parse(process.argv.slice(2), { from: 'user' });
  const opts = program.opts<Options>();
  if (opts.list || !program.args[0]) {
    for (const s of SUITES) console.log(`${s.name.padEnd(16)} ${s.description}`);
    if (!opts.list) throw new Error('name a suite (see the list above)');
    return;
  }
  const suite = findSuite(program.args[0]);
  const input = suiteSweep(suite, opts);
  const id = opts.id ?? `experiments-${suite.name}`;
  const sweepConfig = parseSweep(input); // validate everything before starting
  const cells = sweepCells(sweepConfig, id);
  const joined = joinedSweeps(suite, opts.with ?? []);
  const planned = cells[0]?.config.iterations;
  if (opts.extendTo !== undefined && (opts.soFar || (planned !== undefined && opts.extendTo <= planned)))
    throw new Error(
      opts.soFar
        ? '--so-far writes the table of a running sweep; --extend-to extends a completed one (drop one of them)'
        : `--extend-to ${opts.extendTo}: the sweep runs ${planned} iteration${planned === 1 ? '' : 's'}; extend to more than that`,
    );
  console.log(`suite ${suite.name}: ${cells.length} runs (${suite.description})`);

  const stack = await upStack({ log: (l) => console.log(l) });
  if (opts.soFar && (await writeSoFar(stack.s3, suite, opts, input, id))) return;
  const attachHint =
    'the sweep keeps its state on the Temporal server. Run the same command again to attach to it.';
  // A trainer process per concurrent run (up to the cores): training is most of an iteration, and one trainer
  // process trains one run at a time (7.0-7.4 min per pair of iStar runs with two, 9.2 with one; finding 29).
  const trainers =
    process.env.ISTAR_TRAINER_PROCESSES ??
    String(Math.min(input.maxConcurrent ?? 2, os.availableParallelism()));
  const withWorker = <T>(fn: () => Promise<T>) => {
    if (opts.worker)
      return withLocalWorker(
        stack,
        {
          interruptedHint: `stopping the local worker; ${attachHint}`,
          env: { ISTAR_TRAINER_PROCESSES: trainers },
        },
        fn,
      );
    process.once('SIGINT', () => {
      console.log(`\nstopped following; ${attachHint}`);
      process.exit(130);
    });
    return fn();
  };
  await withWorker(async () => {
    const { rows, sweeps, wallSeconds, finishedAt } = await withClient(async (client, uiUrl) => {
      // The other sweeps first, so a wrong --with fails before hours of training, not after.
      const others: (JoinedSweep & { handle: WorkflowHandle<typeof istarSweep>; rows: SweepRow[] })[] = [];
      for (const join of joined) {
        const other = join.id;
        const h = client.workflow.getHandle<typeof istarSweep>(other);
        const status = await h
          .describe()
          .then((d) => d.status.name)
          .catch((err: unknown) => {
            if (err instanceof WorkflowNotFoundError)
              throw new Error(`--with ${other}: no such sweep on the Temporal server`);
            throw err;
          });
        if (status !== 'COMPLETED')
          throw new Error(
            `--with ${other}: the sweep is ${status.toLowerCase()}, not completed; finish it first (npm run experiments -- ${suite.name} --id ${other} with its options)`,
          );
        const joinedSweep = { ...join, rows: await h.result() };
        joinedRuns(joinedSweep); // a variant it has no completed run of fails here, before any training
        others.push({ ...joinedSweep, handle: h });
      }
      const { handle, state } = await startOrAttachSweep(client, id, input, TASK_QUEUES.workflow);
      if (state !== 'started') await assertSameSweep(handle, id, input);
      console.log(
        state === 'started'
          ? `started sweep ${id}`
          : state === 'running'
            ? `attached to running sweep ${id}`
            : `sweep ${id} has already completed: rebuilding its report from S3 (pass --id <new id> to run the suite again)`,
      );
      console.log(`  UI: ${uiUrl(id)}`);
      if (!opts.worker && state !== 'completed') {
        const queues = {
          workflow: TASK_QUEUES.workflow,
          rollout: cells[0]?.config.rolloutTaskQueue ?? TASK_QUEUES.rollout,
          trainer: cells[0]?.config.trainerTaskQueue ?? TASK_QUEUES.trainer,
        };
        console.log(noWorkerLine(await pollerCounts(client, queues)));
      }
      const rows = await followSweep(handle, {
        client,
        sweep: sweepConfig,
        print: (p) => console.log(`experiments: ${p.done}/${p.total} runs done; running: ${runningText(p)}`),
      });
      // Each sweep's own wall time and end (from the server), also when this command attached to it or rebuilt
      // its report, so that a report rebuilt later still says when the measurement was made.
      const timing = async (h: WorkflowHandle) => {
        const { startTime, closeTime } = await h.describe();
        const end = closeTime ?? new Date();
        return { wallSeconds: (end.getTime() - startTime.getTime()) / 1000, end };
      };
      const main = await timing(handle);
      const sweeps = [{ id, wallSeconds: main.wallSeconds }];
      let finishedAt = main.end;
      const otherRows: (JoinedSweep & { rows: SweepRow[] })[] = [];
      for (const { handle: h, ...o } of others) {
        otherRows.push(o);
        const t = await timing(h);
        sweeps.push({ id: o.id, wallSeconds: t.wallSeconds });
        if (t.end > finishedAt) finishedAt = t.end;
      }
      let merged = mergeSweepRows({ id, rows }, otherRows);
      if (opts.extendTo !== undefined) {
        const n = opts.extendTo;
        const extend = rowsToExtend(merged, n);
        const { maxConcurrent } = sweepConfig;
        console.log(`extending ${extend.length} runs to ${n} iterations, ${maxConcurrent} at a time`);
        const extended = await extendRows(client, extend, n, {
          maxConcurrent,
          taskQueue: TASK_QUEUES.workflow,
          rolloutTaskQueue: cells[0]?.config.rolloutTaskQueue,
          print: (line) => console.log(`experiments: ${line}`),
          store: ArtifactStore.fromSettings(stack.s3),
        });
        merged = merged.map((r) => extended.rows[extend.indexOf(r)] ?? r);
        sweeps.push({ id: `${id} --extend-to ${n}`, wallSeconds: extended.wallSeconds });
        if (extended.end > finishedAt) finishedAt = extended.end;
      } else await refuseExtendedSince(ArtifactStore.fromSettings(stack.s3), merged);
      return {
        rows: merged,
        sweeps,
        wallSeconds: sweeps.reduce((a, w) => a + w.wallSeconds, 0),
        finishedAt,
      };
    });
    await writeResults({
      s3: stack.s3,
      suite,
      opts,
      // The heading says the iterations the table's runs have.
      input:
        opts.extendTo === undefined
          ? input
          : { ...input, base: { ...input.base, iterations: opts.extendTo } },
      id,
      rows,
      sweeps,
      wallSeconds,
      measuredAt: finishedAt,
    });
  });
}

/**
 * A table whose runs storage holds more iterations of than their rows say (extended since the sweep ran) would mix
 * the two in one table (the report reads the stored runs): name them and the flag that tables them at their length.
 */
async function refuseExtendedSince(store: ArtifactStore, rows: SweepRow[]): Promise<void> {
  const stored = new Map<string, number>();
  for (const r of rows)
    if (r.variant !== 'sft-base' && r.status === 'completed')
      stored.set(r.experimentId, Math.max(0, ...(await store.listIterations(r.experimentId))));
  const since = extendedSince(rows, stored);
  if (since.length > 0)
    throw new Error(
      `${since.map((s) => `${s.experimentId} has ${s.stored} iterations stored, its row ${s.iterations}`).join('; ')}: ` +
        `its run was extended after the sweep; add --extend-to ${Math.max(...since.map((s) => s.stored))} to table every run at that length`,
    );
}

/**
 * An existing sweep must be the one this command line describes: its table is titled, and its reproduce line
 * written, from the command line. The input it was started with is the first event of its history.
 */
async function assertSameSweep(handle: WorkflowHandle, id: string, input: SweepInput): Promise<void> {
  const differences = sweepDifferences(await startedSweep(handle), parseSweep(input));
  if (differences.length > 0)
    throw new Error(
      `sweep ${id} was started with other settings than this command's (${differences.slice(0, 6).join('; ')}` +
        `${differences.length > 6 ? `; ${differences.length - 6} more` : ''}): run the command it was started ` +
        `with, or pass --id <new id> to run these settings as a sweep of their own`,
    );
}

/** The report (`<out>/<suite>/index.html`, PNGs) and the table (`<out>/<suite>.md`) of a sweep's rows. */
async function writeResults(args: {
  s3: Parameters<typeof ArtifactStore.fromSettings>[0];
  suite: Suite;
  opts: Options;
  input: SweepInput;
  id: string;
  rows: SweepRow[];
  sweeps: { id: string; wallSeconds: number }[];
  wallSeconds: number;
  measuredAt: Date;
  soFar?: SoFar;
}): Promise<void> {
  const { suite, opts, id, rows } = args;
  console.log(sweepTable(rows));
  const store = ArtifactStore.fromSettings(args.s3);
  const runs = rows
    .filter((r) => r.variant !== 'sft-base' && r.status === 'completed')
    .map((r) => r.experimentId);
  if (runs.length === 0)
    throw new Error(
      args.soFar
        ? `no run of sweep ${id} has completed yet (${args.soFar.done} of ${args.soFar.total} ended; running: ${runningText(args.soFar)}), so there is no table to write yet`
        : `no run of sweep ${id} completed (every row above failed: see its status), so there is no report to write; ` +
            `fix the cause and run the suite again with --id <new id>`,
    );
  const { buildReport, writeReport } = await import('../report');
  const report = await buildReport(store, runs, { png: opts.png });
  const outDir = path.join(opts.out, suite.name);
  const written = await writeReport(store, report, { outDir, upload: false });
  const markdown = resultsMarkdown({
    suite,
    command: reproduceCommand(sweepArgs(process.argv.slice(2))),
    rows,
    results: report.results,
    paired: report.paired,
    wallSeconds: args.wallSeconds,
    sweeps: args.sweeps,
    charts: Object.keys(report.pngs),
    measuredAt: args.measuredAt,
    sweep: args.input,
    soFar: args.soFar,
  });
  await mkdir(opts.out, { recursive: true });
  const mdPath = path.join(opts.out, `${suite.name}.md`);
  await writeFile(mdPath, markdown);
  for (const w of report.warnings) console.warn(`report: ${w}`);
  console.log(`results: ${mdPath}\nreport: ${written.htmlPath}`);
}

/**
 * `--so-far`: the table of a running sweep from its child runs that have ended and its shared base's stored
 * evaluation, read from the Temporal server and S3 without a worker (a query would need one). Returns false when
 * the sweep has completed (the caller then rebuilds the full table as usual); a sweep that is not running is an
 * error naming its state.
 */
async function writeSoFar(
  s3: Parameters<typeof ArtifactStore.fromSettings>[0],
  suite: Suite,
  opts: Options,
  input: SweepInput,
  id: string,
): Promise<boolean> {
  if (opts.with && opts.with.length > 0)
    throw new Error('--so-far reads one running sweep; --with joins completed sweeps (drop one of them)');
  const sweep = parseSweep(input);
  const found = await withClient(async (client) => {
    const description = await client.workflow
      .getHandle(id)
      .describe()
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError)
          throw new Error(
            `--so-far: no sweep ${id} on the Temporal server; start it with ${reproduceCommand(sweepArgs(process.argv.slice(2)))}`,
          );
        throw err;
      });
    const status = description.status.name;
    if (status !== 'RUNNING' && status !== 'COMPLETED')
      throw new Error(
        `--so-far: sweep ${id} is ${status.toLowerCase()}, not running; run the command without --so-far to start it again`,
      );
    await assertSameSweep(client.workflow.getHandle(id), id, input);
    if (status === 'COMPLETED') {
      console.log(`sweep ${id} has completed: writing its full table`);
      return undefined;
    }
    const progress = await sweepProgressFromServer(client, id, sweep, description.startTime);
    return { progress, startTime: description.startTime };
  });
  if (!found) return false;
  const { progress, startTime } = found;
  const store = ArtifactStore.fromSettings(s3);
  let base: SweepRow | undefined;
  if (sweep.sharedBase) {
    const experimentId = sharedBaseId(sweepPrefix(sweep, id));
    const metrics = await store
      .getJson<Record<string, number>>(iterationKey(experimentId, 0, 'metrics.json'))
      .catch(() => undefined);
    const success = metrics?.['eval/success_rate'];
    if (success !== undefined)
      base = {
        name: 'base',
        variant: 'sft-base',
        algorithm: 'sft',
        seed: sweep.seeds[0] ?? 0,
        workflowId: id,
        experimentId,
        status: 'completed',
        iterations: 0,
        finalSuccess: success,
        bestSuccess: success,
      };
  }
  const now = new Date();
  const wallSeconds = (now.getTime() - startTime.getTime()) / 1000;
  console.log(
    `sweep ${id} is running: writing the table of its ${progress.done} of ${progress.total} ended runs`,
  );
  await writeResults({
    s3,
    suite,
    opts,
    input,
    id,
    rows: base ? [base, ...progress.rows] : progress.rows,
    sweeps: [{ id, wallSeconds }],
    wallSeconds,
    measuredAt: now,
    soFar: { done: progress.done, total: progress.total, running: progress.running },
  });
  return true;
}

runEntryPoint('experiments', run);
