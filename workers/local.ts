import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseRoles, runWorkers, stopWithParent } from './worker';

/**
 * The all-in-one local worker: the workflow worker in this process, a trainer worker process, and
 * ISTAR_ROLLOUT_PROCESSES (default 2) rollout worker processes, since tfjs-wasm is single-threaded and a
 * process per core uses both cores. Training runs outside this process because a long synchronous tfjs
 * step blocks its event loop, and workflow tasks and queries (the CLI's progress) must not wait for it.
 * ISTAR_WORKER_ROLES=workflow,rollout,trainer runs exactly those roles in one process instead.
 */
async function run(): Promise<void> {
  stopWithParent();
  if (process.env.ISTAR_WORKER_ROLES) return runWorkers(parseRoles(process.env.ISTAR_WORKER_ROLES));
  const count = Number(process.env.ISTAR_ROLLOUT_PROCESSES ?? 2);
  if (!Number.isInteger(count) || count < 0)
    throw new Error(
      `ISTAR_ROLLOUT_PROCESSES must be a non-negative integer, got ${process.env.ISTAR_ROLLOUT_PROCESSES}`,
    );
  const children: ChildProcess[] = [];
  const script = fileURLToPath(new URL('./worker-entry.ts', import.meta.url));
  const spawnRole = (roles: string) =>
    children.push(fork(script, [roles], { stdio: 'inherit', execArgv: ['--import', 'tsx'] }));
  spawnRole(count > 0 ? 'trainer' : 'rollout,trainer');
  for (let i = 0; i < count; i++) spawnRole('rollout');
  const stopChildren = () => children.forEach((c) => c.kill('SIGTERM'));
  process.once('exit', stopChildren);
  try {
    await runWorkers(['workflow']);
  } finally {
    stopChildren();
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
