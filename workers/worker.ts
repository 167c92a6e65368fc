import { readFileSync } from 'node:fs';
import { NativeConnection, Runtime, Worker, type NativeConnectionOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { temporalSettingsFromEnv, type TemporalSettings } from '../src/config/connection';
import { initBackend } from '../src/model';
import { ArtifactStore } from '../src/storage/store';
import { TASK_QUEUES } from '../workflows/training';
import { BackendBrokenError, backendGuard } from './backend-guard';
import { workflowsPath } from './paths';

/**
 * Worker roles (DESIGN.md section 2): `workflow` runs the deterministic orchestration (task queue istar),
 * `rollout` the CPU activities (istar-rollout), `trainer` the GPU activities (istar-trainer, one at a time).
 */
export type WorkerRole = 'workflow' | 'rollout' | 'trainer';
export const WORKER_ROLES: readonly WorkerRole[] = ['workflow', 'rollout', 'trainer'];

export function connectionOptions(settings: TemporalSettings): NativeConnectionOptions {
  const tls =
    settings.tlsCertPath && settings.tlsKeyPath
      ? {
          clientCertPair: { crt: readFileSync(settings.tlsCertPath), key: readFileSync(settings.tlsKeyPath) },
        }
      : settings.apiKey
        ? true
        : undefined;
  return { address: settings.address, tls, apiKey: settings.apiKey };
}

let runtimeInstalled = false;
/** Quieter SDK logs (WARN) unless ISTAR_LOG_LEVEL says otherwise; once per process. */
export function installRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = (process.env.ISTAR_LOG_LEVEL ?? 'WARN').toUpperCase() as 'WARN';
  Runtime.install({
    logger: new (class {
      log(l: string, message: string, meta?: Record<string, unknown>) {
        const order = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
        if (order.indexOf(l) >= order.indexOf(level)) console.error(`[temporal ${l}] ${message}`, meta ?? '');
      }
      trace(m: string, meta?: Record<string, unknown>) {
        this.log('TRACE', m, meta);
      }
      debug(m: string, meta?: Record<string, unknown>) {
        this.log('DEBUG', m, meta);
      }
      info(m: string, meta?: Record<string, unknown>) {
        this.log('INFO', m, meta);
      }
      warn(m: string, meta?: Record<string, unknown>) {
        this.log('WARN', m, meta);
      }
      error(m: string, meta?: Record<string, unknown>) {
        this.log('ERROR', m, meta);
      }
    })(),
  });
}

export interface WorkerDeps {
  connection: NativeConnection;
  namespace: string;
  store: ArtifactStore;
  /** Task queue names (tests use unique ones); default TASK_QUEUES. */
  queues?: { workflow: string; rollout: string; trainer: string };
  /** The activities (default: every activity of the project, createActivities). */
  activities?: object;
}

/** Workers of one process and why they stopped themselves, if they did. */
export interface WorkerGroup {
  workers: Worker[];
  /** Set when an activity broke the tensor backend: the group's workers were told to shut down. */
  broken(): BackendBrokenError | undefined;
}

/**
 * Workers for the given roles on one connection. When an activity breaks the tensor backend (a wasm trap),
 * every worker of the group shuts down gracefully (the failed activity is retried elsewhere) and `broken()`
 * says why, so the process can exit non-zero and be restarted with a fresh backend.
 */
export async function createWorkerGroup(
  roles: readonly WorkerRole[],
  deps: WorkerDeps,
): Promise<WorkerGroup> {
  const queues = deps.queues ?? TASK_QUEUES;
  const activities = deps.activities ?? createActivities({ store: deps.store });
  const workers: Worker[] = [];
  let broken: BackendBrokenError | undefined;
  const onBroken = (err: Error) => {
    if (broken) return;
    broken = new BackendBrokenError(err);
    console.error(`[istar worker ${process.pid}] ${broken.message}`);
    // After the failing activity's completion is reported (shutdown waits for in-flight tasks).
    setImmediate(() => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    });
  };
  if (roles.includes('rollout') || roles.includes('trainer')) await initBackend();
  for (const role of roles) {
    const common = { connection: deps.connection, namespace: deps.namespace, taskQueue: queues[role] };
    if (role === 'workflow') {
      workers.push(await Worker.create({ ...common, workflowsPath }));
    } else {
      // tfjs compute is synchronous: more than one activity at a time would only interleave them.
      workers.push(
        await Worker.create({
          ...common,
          activities,
          maxConcurrentActivityTaskExecutions: 1,
          interceptors: { activity: [backendGuard(onBroken)] },
        }),
      );
    }
  }
  return { workers, broken: () => broken };
}

/** Workers for the given roles on one connection (createWorkerGroup's workers). */
export async function createWorkers(roles: readonly WorkerRole[], deps: WorkerDeps): Promise<Worker[]> {
  return (await createWorkerGroup(roles, deps)).workers;
}

/**
 * When this process was started with an IPC channel (fork, or spawn with 'ipc'), shut down gracefully as
 * soon as the process that started it is gone, however it went (SIGKILL included): the channel closes,
 * and SIGTERM to ourselves runs the SDK's graceful worker shutdown. Without this, a local worker whose
 * parent was killed kept polling a server that no longer exists, holding ~500 MB per process. The
 * channel is unreferenced, so it never keeps a finished worker alive.
 */
export function stopWithParent(): void {
  if (!process.connected || !process.channel) return;
  process.channel.unref();
  process.once('disconnect', () => {
    console.error(
      `[istar worker ${process.pid}] the process that started this worker is gone; shutting down`,
    );
    process.kill(process.pid, 'SIGTERM');
  });
}

/**
 * Connect from the environment and run workers of `roles` until SIGINT/SIGTERM (graceful shutdown); throws
 * BackendBrokenError when an activity broke the tensor backend and the workers stopped themselves.
 */
export async function runWorkers(roles: readonly WorkerRole[]): Promise<void> {
  installRuntime();
  const settings = temporalSettingsFromEnv();
  const connection = await NativeConnection.connect(connectionOptions(settings));
  const store = ArtifactStore.fromEnv();
  await store.ensureBucket();
  const group = await createWorkerGroup(roles, { connection, namespace: settings.namespace, store });
  console.error(
    `[istar worker ${process.pid}] ${roles.join('+')} on ${settings.address} (${settings.namespace})`,
  );
  try {
    await Promise.all(group.workers.map((w) => w.run()));
  } finally {
    await connection.close();
  }
  // Stopped by a broken backend, not asked to: fail, so a supervisor (local.ts, systemd, Kubernetes) restarts it.
  const broken = group.broken();
  if (broken) throw broken;
}

/** Parse a comma-separated role list (ISTAR_WORKER_ROLES or a CLI flag), naming bad entries. */
export function parseRoles(text: string): WorkerRole[] {
  const roles = text
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const bad = roles.filter((r) => !WORKER_ROLES.includes(r as WorkerRole));
  if (bad.length > 0 || roles.length === 0)
    throw new Error(`unknown worker role(s) ${JSON.stringify(bad)}; valid: ${WORKER_ROLES.join(', ')}`);
  return roles as WorkerRole[];
}
