import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { istarHome } from '../../infra/paths';
import type { Stack } from '../../infra/stack';
import type { Client } from '@temporalio/client';

/**
 * Start the all-in-one local worker (workers/local.ts) as a child process against `stack`, logging to
 * `<ISTAR_HOME>/logs/worker.log`. It is stopped when this process exits; on SIGINT/SIGTERM `interruptedHint`
 * is printed first (the run itself lives on in Temporal).
 */
export function startLocalWorker(
  stack: Stack,
  interruptedHint: string,
  env: Record<string, string> = {},
): { stop: () => void; logPath: string } {
  const logs = path.join(istarHome(), 'logs');
  mkdirSync(logs, { recursive: true });
  const logPath = path.join(logs, 'worker.log');
  const fd = openSync(logPath, 'a');
  const worker = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('../../workers/local.ts', import.meta.url))],
    {
      // The IPC channel lets the worker notice when this process is gone, even by SIGKILL (stopWithParent).
      stdio: ['ignore', fd, fd, 'ipc'],
      env: {
        ...process.env,
        ...env,
        TEMPORAL_ADDRESS: stack.temporal.address,
        S3_ENDPOINT: stack.s3.endpoint,
      },
    },
  );
  const stop = () => {
    if (worker.exitCode === null) worker.kill('SIGTERM');
  };
  process.once('exit', stop);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.log(`\n${interruptedHint}`);
      stop();
      process.exit(130);
    });
  }
  // The channel is only there to close when this process dies; it must not keep this process alive.
  worker.channel?.unref();
  worker.once('exit', (code) => {
    if (code !== null && code !== 0)
      console.error(`the local worker exited with status ${code}; see ${logPath}`);
  });
  return { stop, logPath };
}

/**
 * Run `fn` with the local worker up (announced with its log and the UI link unless `quiet`), stopping the
 * worker afterwards whatever happens.
 */
export async function withLocalWorker<T>(
  stack: Stack,
  options: { interruptedHint: string; quiet?: boolean; env?: Record<string, string> },
  fn: () => Promise<T>,
): Promise<T> {
  const worker = startLocalWorker(stack, options.interruptedHint, options.env);
  if (!options.quiet) console.log(`local worker started (log ${worker.logPath}); Temporal UI ${stack.uiUrl}`);
  try {
    return await fn();
  } finally {
    worker.stop();
  }
}

/** The task queues of a run's three roles. */
export interface RoleQueues {
  workflow: string;
  rollout: string;
  trainer: string;
}

/**
 * How many workers poll each role's task queue, as the server saw them lately: workflow tasks on the workflow
 * queue, activity tasks on the rollout and trainer queues. By role, each with its queue's name.
 */
export async function pollerCounts(
  client: Client,
  queues: RoleQueues,
): Promise<Record<keyof RoleQueues, { queue: string; pollers: number }>> {
  // TASK_QUEUE_TYPE_WORKFLOW = 1, TASK_QUEUE_TYPE_ACTIVITY = 2 (temporal.api.enums.v1.TaskQueueType).
  const count = async (queue: string, taskQueueType: 1 | 2) => {
    const res = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: queue },
      taskQueueType,
    });
    return { queue, pollers: res.pollers?.length ?? 0 };
  };
  return {
    workflow: await count(queues.workflow, 1),
    rollout: await count(queues.rollout, 2),
    trainer: await count(queues.trainer, 2),
  };
}

/**
 * `--no-worker`'s line: the workers polling each role's queue, and for a role none polls, that the sweep waits for
 * one and how to start it.
 */
export function noWorkerLine(counts: Record<keyof RoleQueues, { queue: string; pollers: number }>): string {
  const roles = Object.keys(counts) as (keyof RoleQueues)[];
  const polled = roles.map((r) => `${counts[r].queue} ${counts[r].pollers}`).join(', ');
  const missing = roles.filter((r) => counts[r].pollers === 0);
  return (
    `no local worker (--no-worker); workers polling ${polled}` +
    (missing.length === 0
      ? ''
      : `. No worker polls ${missing.map((r) => counts[r].queue).join(' or ')} yet: the sweep waits until one does ` +
        `(npm run istar -- workers --roles ${missing.join(',')}, here or on another machine)`)
  );
}

/** Run an npm-script entry point: exit 0 when it (or commander's --help/--version) ends, else print and exit 1. */
export function runEntryPoint(name: string, main: () => Promise<void>): void {
  main()
    .then(() => process.exit(0))
    .catch((err) => {
      const e = err as Error & { code?: string };
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') process.exit(0);
      console.error(`${name} failed: ${e.message}`);
      process.exit(1);
    });
}
