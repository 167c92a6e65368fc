import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { istarHome } from '../../infra/paths';
import type { Stack } from '../../infra/stack';

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
