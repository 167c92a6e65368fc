import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import {
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import type { RunConfigInput } from '../config/run-config';
import { parseHyperparameters } from '../config/run-config';
import {
  SEARCH_ATTRIBUTE_KEYS,
  TASK_QUEUES,
  istarTraining,
  type Progress,
  type TrainingResult,
} from '../../workflows/training';
import { describeFailure } from '../../workflows/failures';
import { registerScheduleCommands } from './schedule';
import {
  registerSweepCommand,
  runningText,
  startedSweep,
  sweepProgressFromServer,
  sweepTable,
  queryProgress,
} from './sweep';
import type { SweepProgress, SweepRow } from '../../workflows/sweep';
import { registerEvalCommand } from './eval';
import { registerReportCommands } from './report';
import { connectClient, workflowUrl } from './connect';
import { evaluationOutcomes } from '../report/load';
import { ArtifactStore } from '../storage/store';
import {
  followRun,
  gainOverBase,
  iterationLine,
  pairedGain,
  pairedText,
  stageText,
  type OutputOptions,
} from './follow';
import { runningOn } from './extend-runs';
import { addRunFlags, runConfigFromFlags } from './run-flags';
import { extensionState } from '../../activities/extend';
import { istarExtend, type ExtendInput } from '../../workflows/extend';

/** `istar status` of a sweep: how many runs are done, which are running, and the rows so far. */
async function sweepStatus(
  client: Client,
  handle: ReturnType<Client['workflow']['getHandle']>,
  description: { status: { name: string }; startTime: Date },
  opts: OutputOptions,
): Promise<void> {
  const status = description.status.name;
  let progress: SweepProgress | undefined;
  try {
    if (status === 'COMPLETED') {
      // Its result, so no worker is needed to answer (a query on a closed workflow needs one).
      const rows = (await handle.result()) as SweepRow[];
      const runs = rows.filter((r) => r.variant !== 'sft-base');
      progress = { total: runs.length, done: runs.length, running: [], rows };
    } else {
      // Read from the server (its child runs), not asked of the sweep: a query waits for a worker to answer.
      progress = await sweepProgressFromServer(
        client,
        handle.workflowId,
        await startedSweep(handle),
        description.startTime,
      );
    }
  } catch (err) {
    if (opts.verbose) console.error(`reading the sweep's progress failed: ${(err as Error).message}`);
  }
  if (opts.json)
    return console.log(JSON.stringify({ workflowId: handle.workflowId, type: 'sweep', status, progress }));
  console.log(
    `${handle.workflowId}: sweep ${status}${progress ? `, ${progress.done}/${progress.total} runs done, running: ${runningText(progress)}` : ''}`,
  );
  if (progress && progress.rows.length > 0) console.log(sweepTable(progress.rows));
}

/** What a training run has recorded on the server (its search attributes): readable with no worker running. */
function runAttributes(description: WorkflowExecutionDescription) {
  const attributes = description.typedSearchAttributes;
  return {
    experiment: attributes.get(SEARCH_ATTRIBUTE_KEYS.experiment),
    algorithm: attributes.get(SEARCH_ATTRIBUTE_KEYS.algorithm),
    environment: attributes.get(SEARCH_ATTRIBUTE_KEYS.environment),
    iteration: attributes.get(SEARCH_ATTRIBUTE_KEYS.iteration),
    bestSuccess: attributes.get(SEARCH_ATTRIBUTE_KEYS.bestSuccess),
  };
}

/** Shared by every command that talks to Temporal. */
export async function withClient<T>(
  fn: (client: Client, uiUrl: (id: string) => string) => Promise<T>,
): Promise<T> {
  const { client, settings, close } = await connectClient();
  try {
    return await fn(client, (id) => workflowUrl(settings, id));
  } finally {
    await close();
  }
}

function print(opts: OutputOptions, value: unknown, text: string): void {
  if (opts.json) console.log(JSON.stringify(value));
  else if (!opts.quiet || text.startsWith('final')) console.log(text);
}

export interface StartRunOptions extends OutputOptions {
  workflowId?: string;
  taskQueue?: string;
  detach?: boolean;
}

/**
 * Start an istarTraining run (or attach to the running one with the same workflow id) and, unless
 * detached, follow it to the end.
 */
export async function startRun(
  input: RunConfigInput | null,
  opts: StartRunOptions,
  /** Start `istarExtend` with this input instead (`istar extend`): a stored run goes on in place. */
  extend?: ExtendInput,
): Promise<TrainingResult | undefined> {
  return withClient(async (client, uiUrl) => {
    const workflowId =
      opts.workflowId ??
      input?.experimentId ??
      `istar-${input?.env ?? 'sokoban'}-${input?.algorithm ?? 'istar'}-${randomUUID().slice(0, 8)}`;
    let attached = false;
    try {
      attached = (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    const options = {
      taskQueue: opts.taskQueue ?? TASK_QUEUES.workflow,
      workflowId,
      workflowIdConflictPolicy: 'USE_EXISTING',
      memo: { startedBy: 'istar cli' },
    } as const;
    const handle = extend
      ? await client.workflow.start(istarExtend, { ...options, args: [extend] })
      : await client.workflow.start(istarTraining, { ...options, args: [input] });
    print(
      opts,
      {
        type: attached ? 'attached' : 'started',
        workflowId,
        runId: handle.firstExecutionRunId,
        url: uiUrl(workflowId),
      },
      `${attached ? 'attached to running' : 'started'} run ${workflowId}\n  UI: ${uiUrl(workflowId)}`,
    );
    if (opts.detach) return undefined;
    const result = await followRun(handle as never, opts);
    const success = result.finalMetrics['eval/success_rate'];
    const base = result.history.find((h) => h.iteration === 0)?.metrics['eval/success_rate'];
    const gain = gainOverBase(base, success, result.finalMetrics['eval/episodes']);
    const paired = await pairedWithBase(result);
    print(
      opts,
      { type: 'result', ...result, history: undefined, paired },
      `final held-out success ${success?.toFixed(3) ?? '-'} after ${result.iterations} iterations${result.stopped ? ' (stopped)' : ''}` +
        `${gain ? `, ${gain}` : ''}${paired ? `; ${pairedText(paired)}` : ''}\n` +
        `  checkpoints: s3 ${result.policyKey} (policy), ${result.prmKey} (PRM)\n  UI: ${uiUrl(workflowId)}`,
    );
    return result;
  });
}

/**
 * The final evaluation against the SFT base's (iteration 0) level by level, from their eval.json.gz in S3;
 * undefined when either is missing or unreadable (the final line then gives the unpaired gain only).
 */
async function pairedWithBase(result: TrainingResult): Promise<ReturnType<typeof pairedGain> | undefined> {
  const evaluated = result.history.filter((h) => h.metrics['eval/success_rate'] !== undefined);
  const last = evaluated.at(-1)?.iteration;
  if (last === undefined || last === 0 || evaluated[0].iteration !== 0) return undefined;
  try {
    const store = ArtifactStore.fromEnv();
    const [before, after] = await Promise.all(
      [0, last].map((it) => evaluationOutcomes(store, result.experimentId, it)),
    );
    return pairedGain(before, after);
  } catch {
    return undefined;
  }
}

export const outputFlags = (cmd: Command) =>
  cmd
    .option('--json', 'machine-readable output (one JSON object per line)')
    .option('-q, --quiet', 'only the final line')
    .option('-v, --verbose', 'every metric');

export function buildProgram(): Command {
  const program = new Command('istar')
    .description('Train LLM-style agents with iStar and its baselines as durable Temporal workflows')
    .showHelpAfterError()
    .exitOverride();

  outputFlags(
    addRunFlags(
      program
        .command('train')
        .description('start a training run and follow it (attaches if the workflow id is already running)'),
    )
      .option('--id <workflowId>', 'workflow id (default: the experiment id, or a new one)')
      .option('--task-queue <name>', 'workflow task queue', TASK_QUEUES.workflow)
      .option('--detach', 'start and return without following'),
  ).action(async (opts) => {
    const { input } = runConfigFromFlags(opts);
    await startRun(input, { ...opts, workflowId: opts.id });
  });

  outputFlags(
    addRunFlags(
      program
        .command('resume-from')
        .description('start a new run from a stored checkpoint of another run')
        .argument('<experiment>')
        .argument('<iteration>'),
    )
      .option('--id <workflowId>', 'workflow id of the new run')
      .option('--task-queue <name>', 'workflow task queue', TASK_QUEUES.workflow)
      .option('--detach', 'start and return without following'),
  ).action(async (experiment: string, iteration: string, opts) => {
    if (!/^\d+$/.test(iteration))
      throw new Error(`iteration must be a non-negative integer, got "${iteration}"`);
    const { input } = runConfigFromFlags(opts, {
      resumeFrom: { experimentId: experiment, iteration: Number(iteration) },
    });
    await startRun(input, { ...opts, workflowId: opts.id });
  });

  outputFlags(
    program
      .command('extend')
      .description(
        'go on training a stored run (completed, stopped or failed) in place, to more iterations: exactly as a run started with them',
      )
      .argument('<experiment>')
      .requiredOption('--iterations <n>', 'iterations in all, above those the run has recorded')
      .option('--id <workflowId>', 'workflow id (default: <experiment>-to<n>)')
      .option('--task-queue <name>', 'workflow task queue', TASK_QUEUES.workflow)
      .option('--detach', 'start and return without following'),
  ).action(async (experiment: string, opts) => {
    if (!/^\d+$/.test(opts.iterations))
      throw new Error(`--iterations must be a positive integer, got "${opts.iterations}"`);
    const iterations = Number(opts.iterations);
    const workflowId = opts.id ?? `${experiment}-to${iterations}`;
    const running = await withClient((client) => runningOn(client, experiment, workflowId));
    if (running)
      throw new Error(
        `experiment ${experiment} is being trained by the running workflow ${running}; wait for it to end or stop it (istar stop ${running})`,
      );
    // Read here first, so that a run that cannot be extended is named at once, worker or not.
    const state = await extensionState(ArtifactStore.fromEnv(), experiment, iterations);
    await startRun(
      null,
      { ...opts, workflowId },
      {
        experimentId: experiment,
        iterations,
        rolloutTaskQueue: state.config.rolloutTaskQueue,
      },
    );
  });

  outputFlags(program.command('status').description('progress of a run').argument('<workflowId>')).action(
    async (id: string, opts: OutputOptions) =>
      withClient(async (client, uiUrl) => {
        const handle = client.workflow.getHandle(id);
        const description = await handle.describe();
        if (description.type === 'istarSweep') return sweepStatus(client, handle, description, opts);
        let progress: Progress | undefined;
        try {
          progress = await queryProgress<Progress>(client, handle);
        } catch (err) {
          if (opts.verbose) console.error(`progress query failed: ${(err as Error).message}`);
          progress = undefined;
        }
        const status = description.status.name;
        // Why a run failed (or was terminated), from its close event: the activity and the cause.
        const failure =
          status === 'RUNNING' || status === 'COMPLETED'
            ? undefined
            : await handle.result().then(
                () => undefined,
                (err: unknown) =>
                  err instanceof WorkflowFailedError ? describeFailure(err.cause) : (err as Error).message,
              );
        // Without a worker to answer the query, what the run told the server (its search attributes).
        const attributes = progress ? undefined : runAttributes(description);
        if (opts.json)
          return console.log(
            JSON.stringify({
              workflowId: id,
              status,
              progress,
              ...(attributes ? { attributes } : {}),
              ...(failure ? { failure } : {}),
            }),
          );
        console.log(
          `${id}: ${status}${failure ? ` (${failure})` : ''}${progress ? `, iteration ${progress.iteration}/${progress.iterations}, stage ${stageText(progress.stage, description)}${progress.paused ? ' (paused)' : ''}` : ''}`,
        );
        if (progress) {
          console.log(
            `  experiment ${progress.experimentId} | ${progress.algorithm} on ${progress.env} | best held-out success ${progress.bestSuccess ?? '-'}`,
          );
          console.log(`  hyperparameters ${JSON.stringify(progress.hyperparameters)}`);
          const last = progress.history.at(-1);
          if (last) console.log(`  ${iterationLine(last, progress.iterations, opts.verbose)}`);
        } else if (attributes?.experiment) {
          console.log(
            `  experiment ${attributes.experiment} | ${attributes.algorithm} on ${attributes.environment} | ` +
              `iterations finished ${attributes.iteration ?? 0} | best held-out success ${attributes.bestSuccess ?? '-'}` +
              `${status === 'RUNNING' ? ' (no worker answered the progress query: these are what the run recorded on the server)' : ''}`,
          );
        }
        console.log(`  UI: ${uiUrl(id)}`);
      }),
  );

  for (const [name, description] of [
    ['pause', 'pause a run before its next iteration'],
    ['resume', 'resume a paused run'],
    ['stop', 'finish the current iteration, then end the run cleanly'],
  ] as const) {
    program
      .command(name)
      .description(description)
      .argument('<workflowId>')
      .action(async (id: string) =>
        withClient(async (client) => {
          await client.workflow.getHandle(id).signal(name);
          console.log(`${name} sent to ${id}`);
        }),
      );
  }

  program
    .command('set')
    .description('change hyperparameters of a running run from its next activity on')
    .argument('<workflowId>')
    .option('--alpha <x>', 'step-advantage weight', Number)
    .option('--beta <x>', 'implicit reward scale', Number)
    .option('--policy-lr <x>', 'policy learning rate', Number)
    .option('--prm-lr <x>', 'PRM learning rate', Number)
    .action(async (id: string, opts: Record<string, number | undefined>) => {
      const change = parseHyperparameters(
        Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
      );
      await withClient(async (client) => {
        const now = await client.workflow
          .getHandle(id)
          .executeUpdate('setHyperparameters', { args: [change] });
        console.log(`hyperparameters of ${id}: ${JSON.stringify(now)}`);
      });
    });

  registerSweepCommand(program, withClient);
  registerScheduleCommands(program, withClient);
  registerEvalCommand(program);
  registerReportCommands(program);

  const infra = program.command('infra').description('the local Temporal dev server and MinIO');
  infra
    .command('up')
    .description('install if needed and start the local stack (reusing services already up)')
    .action(async () => {
      const { upStack } = await import('../../infra/stack');
      const stack = await upStack();
      console.log(
        `stack up: Temporal ${stack.temporal.address}, UI ${stack.uiUrl}, S3 ${stack.s3.endpoint} (bucket ${stack.s3.bucket})`,
      );
    });
  infra
    .command('down')
    .description('stop the services this project started')
    .action(async () => {
      const { downStack } = await import('../../infra/stack');
      await downStack();
    });
  infra
    .command('status')
    .option('--json', 'machine-readable output')
    .action(async (opts: OutputOptions) => {
      const { stackStatus } = await import('../../infra/stack');
      const status = await stackStatus();
      if (opts.json) return console.log(JSON.stringify(status));
      const line = (name: string, s: { endpoint: string; healthy: boolean; startedHere: boolean }) =>
        `${name}: ${s.healthy ? 'up' : 'down'} at ${s.endpoint}${s.startedHere ? ' (started by this project)' : ''}`;
      console.log(`${line('temporal', status.temporal)}\n${line('s3', status.s3)}\nUI: ${status.uiUrl}`);
    });

  program
    .command('workers')
    .description(
      'run a local worker: the workflow worker here, ISTAR_TRAINER_PROCESSES trainer and ISTAR_ROLLOUT_PROCESSES rollout workers in child processes',
    )
    .option('--roles <list>', 'run exactly these roles in one process: workflow,rollout,trainer')
    .action(async (opts: { roles?: string }) => {
      if (opts.roles) process.env.ISTAR_WORKER_ROLES = opts.roles;
      await import('../../workers/local');
      await new Promise(() => {}); // the worker runs until SIGINT/SIGTERM
    });

  return program;
}

/** Run the CLI; returns the exit code (errors are printed, not thrown). */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    const e = err as Error & { code?: string; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help')
      return 0;
    if (e.code?.startsWith('commander.')) return e.exitCode ?? 2;
    if (err instanceof WorkflowNotFoundError) console.error(`error: no such workflow: ${e.message}`);
    else if (err instanceof WorkflowFailedError)
      console.error(`error: workflow failed: ${describeFailure(err.cause ?? err)}`);
    else console.error(`error: ${e.message}`);
    return 1;
  }
}
