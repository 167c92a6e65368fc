import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseRoles, runWorkers, stopWithParent } from './worker';

/**
 * The all-in-one local worker: the workflow worker in this process, ISTAR_TRAINER_PROCESSES (default 1) trainer
 * worker processes and ISTAR_ROLLOUT_PROCESSES (default 2) rollout worker processes, since tfjs-wasm is
 * single-threaded and a process per core uses both cores. A sweep running several runs at once wants a trainer
 * per run: training is most of an iteration, and one trainer process serves one activity at a time. Training runs outside this process because a long synchronous tfjs
 * step blocks its event loop, and workflow tasks and queries (the CLI's progress) must not wait for it.
 * A worker process that exits with an error (e.g. it stopped itself on a broken tensor backend) is
 * restarted. ISTAR_WORKER_ROLES=workflow,rollout,trainer runs exactly those roles in one process instead.
 */
/** Worker processes restarted at most MAX_RESTARTS times per RESTART_WINDOW_MS. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 10 * 60_000;

/** An integer env var of at least `min`, `fallback` when unset; anything else is an error naming it. */
function processCount(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${name} must be an integer of at least ${min}, got "${raw}"`);
  return n;
}

async function run(): Promise<void> {
  stopWithParent();
  if (process.env.ISTAR_WORKER_ROLES) return runWorkers(parseRoles(process.env.ISTAR_WORKER_ROLES));
  const count = processCount('ISTAR_ROLLOUT_PROCESSES', 2, 0);
  const trainers = processCount('ISTAR_TRAINER_PROCESSES', 1, 1);
  const children = new Set<ChildProcess>();
  const script = fileURLToPath(new URL('./worker-entry.ts', import.meta.url));
  let stopping = false;
  const restarts: number[] = [];
  const spawnRole = (roles: string) => {
    const child = fork(script, [roles], { stdio: 'inherit', execArgv: ['--import', 'tsx'] });
    children.add(child);
    child.once('exit', (code, signal) => {
      children.delete(child);
      if (stopping || code === 0) return;
      // A worker that failed (e.g. it stopped itself on a broken tensor backend) is replaced, unless workers
      // keep failing (a broken install or an unreachable server): then stop restarting and say so.
      const now = Date.now();
      while (restarts.length > 0 && now - restarts[0] > RESTART_WINDOW_MS) restarts.shift();
      if (restarts.length >= MAX_RESTARTS) {
        console.error(
          `[istar local] ${roles} worker exited (${signal ?? `code ${code}`}); ${MAX_RESTARTS} restarts in ${RESTART_WINDOW_MS / 60_000} min already, not restarting it`,
        );
        return;
      }
      restarts.push(now);
      console.error(`[istar local] ${roles} worker exited (${signal ?? `code ${code}`}); restarting it`);
      spawnRole(roles);
    });
  };
  for (let i = 0; i < trainers; i++) spawnRole(count > 0 ? 'trainer' : 'rollout,trainer');
  for (let i = 0; i < count; i++) spawnRole('rollout');
  const stopChildren = () => {
    stopping = true;
    children.forEach((c) => c.kill('SIGTERM'));
  };
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
