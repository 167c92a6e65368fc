import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { startEphemeralStack, type EphemeralStack } from '../../infra/ephemeral';
import { findMinio, findTemporal } from '../../infra/install';
import { istarHome, projectRoot } from '../../infra/paths';
import { downStack, upStack } from '../../infra/stack';
import { ArtifactStore } from '../../src/storage/store';
import { installRuntime } from '../../workers/worker';

/**
 * Fault-injection helpers: a private stack per test (never the shared one), worker child processes that can
 * be SIGKILLed, services stopped and started again on the same home, ports and data.
 */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `check` until it returns a value other than undefined/false; throws naming `what` on timeout. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`,
  );
}

export interface WorkerProcess {
  pid: number;
  /** Resolves with the exit code (or signal name) when the process group leader exits. */
  exited: Promise<number | string>;
  alive(): boolean;
  /** Signal the whole process group. */
  kill(signal?: NodeJS.Signals): void;
}

const spawned = new Set<WorkerProcess>();

/**
 * `node --import tsx workers/worker-entry.ts <roles>` as its own process group (detached), output appended to
 * `<stack home>/logs/worker.log`. Environment: the stack's connection settings plus `env`.
 */
export function spawnWorkerProcess(
  stack: EphemeralStack,
  env: Record<string, string> = {},
  roles = 'workflow,rollout,trainer',
): WorkerProcess {
  const fd = openSync(path.join(stack.home, 'logs', 'worker.log'), 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/worker-entry.ts', roles], {
    cwd: projectRoot,
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...stack.env, ...env },
  });
  closeSync(fd);
  if (!child.pid) throw new Error('could not spawn the worker process');
  const pid = child.pid;
  let running = true;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      spawned.delete(proc);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const proc: WorkerProcess = {
    pid,
    exited,
    alive: () => running,
    kill(signal = 'SIGKILL') {
      if (!running) return;
      try {
        process.kill(-pid, signal);
      } catch {
        // the group is already gone
      }
    },
  };
  spawned.add(proc);
  return proc;
}

/** SIGKILL every worker process this file spawned that is still running (for afterAll). */
export async function killSpawnedWorkers(): Promise<void> {
  const live = [...spawned];
  for (const p of live) p.kill('SIGKILL');
  await Promise.all(live.map((p) => Promise.race([p.exited, sleep(5_000)])));
}

export interface FaultStack {
  stack: EphemeralStack;
  client: Client;
  connection: Connection;
  store: ArtifactStore;
  stop(): Promise<void>;
}

const stacks = new Set<FaultStack>();

/** A private Temporal + MinIO for one test, with a client and a store on it. */
export async function startFaultStack(): Promise<FaultStack> {
  installRuntime();
  const stack = await startEphemeralStack();
  const connection = await Connection.connect({ address: stack.temporal.address });
  const client = new Client({ connection, namespace: stack.temporal.namespace });
  const store = ArtifactStore.fromSettings(stack.s3);
  const fault: FaultStack = {
    stack,
    client,
    connection,
    store,
    async stop() {
      stacks.delete(fault);
      await connection.close().catch(() => {});
      await stack.stop();
    },
  };
  stacks.add(fault);
  return fault;
}

/** Stop every private stack still up (for afterAll). */
export async function stopFaultStacks(): Promise<void> {
  for (const s of [...stacks]) await s.stop().catch((err) => console.error('stopping a fault stack:', err));
}

/** Start again, on the same home, ports and data, the services `downStack({ home, only })` stopped. */
export async function restartServices(stack: EphemeralStack): Promise<void> {
  const saved = { ...process.env };
  // The stack's home has no binaries of its own: point the installer at the project's (as startEphemeralStack does).
  process.env.ISTAR_TEMPORAL_BIN = findTemporal(istarHome());
  process.env.ISTAR_MINIO_BIN = findMinio(istarHome());
  try {
    await upStack({
      home: stack.home,
      temporal: stack.temporal,
      s3: stack.s3,
      minioConsolePort: stack.minioConsolePort,
      install: false,
      log: () => {},
    });
  } finally {
    process.env = saved;
  }
}

export async function stopService(stack: EphemeralStack, name: 'temporal' | 'minio'): Promise<void> {
  const stopped = await downStack({ home: stack.home, only: [name], log: () => {} });
  if (!stopped.includes(name)) throw new Error(`${name} of ${stack.home} was not stopped`);
}

export type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Activity attempts by activity type, from the ActivityTaskStarted events of a history. */
export function activityAttempts(
  events: HistoryEvent[],
): Array<{ type: string; attempt: number; scheduledEventId: number }> {
  const typeOf = new Map<number, string>();
  const out: Array<{ type: string; attempt: number; scheduledEventId: number }> = [];
  for (const e of events) {
    if (e.activityTaskScheduledEventAttributes)
      typeOf.set(Number(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const scheduledEventId = Number(started.scheduledEventId);
      out.push({
        type: typeOf.get(scheduledEventId) ?? '?',
        attempt: started.attempt ?? 1,
        scheduledEventId,
      });
    }
  }
  return out;
}

/** The decoded first argument of every scheduled activity of a history, with its type. */
export function scheduledActivities(events: HistoryEvent[]): Array<{ type: string; input: unknown }> {
  return events
    .filter((e) => e.activityTaskScheduledEventAttributes)
    .map((e) => {
      const a = e.activityTaskScheduledEventAttributes!;
      const payload = a.input?.payloads?.[0];
      return {
        type: a.activityType?.name ?? '?',
        input: payload ? defaultPayloadConverter.fromPayload(payload) : undefined,
      };
    });
}

/** Heartbeat details the server holds for a pending activity of `type` (undefined when none is pending). */
export async function pendingHeartbeat(
  handle: WorkflowHandle,
  type: string,
): Promise<{ attempt: number; details: unknown } | undefined> {
  const { raw } = await handle.describe();
  const pending = raw.pendingActivities?.find((a) => a.activityType?.name === type);
  if (!pending) return undefined;
  const payload = pending.heartbeatDetails?.payloads?.[0];
  return {
    attempt: pending.attempt ?? 1,
    details: payload ? defaultPayloadConverter.fromPayload(payload) : undefined,
  };
}
