import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import {
  isLoopback,
  s3SettingsFromEnv,
  temporalSettingsFromEnv,
  type S3Settings,
  type TemporalSettings,
} from '../src/config/connection';
import { ArtifactStore } from '../src/storage/store';
import { installAll } from './install';
import { istarHome } from './paths';

/**
 * Starts and stops the local stack on loopback (every interface with ISTAR_LISTEN_HOST=0.0.0.0): a Temporal dev server (SQLite history under the home
 * folder, so it survives restarts) with the Web UI, and a MinIO server with its data under the home
 * folder. Services already up are reused; only what this code started is stopped.
 */

/** Custom search attributes of training runs (DESIGN.md section 7). */
export const SEARCH_ATTRIBUTES = {
  experiment: 'Keyword',
  algorithm: 'Keyword',
  environment: 'Keyword',
  iteration: 'Int',
  bestSuccess: 'Double',
} as const;

/** temporal.api.enums.v1.IndexedValueType numbers of the types used above. */
const INDEXED_VALUE_TYPE = { Text: 1, Keyword: 2, Int: 3, Double: 4 } as const;

export interface StackOptions {
  /** Folder for binaries, data, logs and pid files (default: ISTAR_HOME or <project>/.istar). */
  home?: string;
  temporal?: TemporalSettings;
  s3?: S3Settings;
  /** Port of the MinIO console when this stack starts MinIO (default: the S3 port + 1). */
  minioConsolePort?: number;
  /**
   * Address the Temporal server and MinIO started here listen on: `127.0.0.1` (this machine only) or `0.0.0.0`
   * (every interface, so workers on other machines can join; default: ISTAR_LISTEN_HOST or 127.0.0.1).
   */
  listenHost?: ListenHost;
  /** Install missing binaries first (default true). */
  install?: boolean;
  log?: (line: string) => void;
}

export interface ServiceState {
  name: 'temporal' | 'minio';
  /** True when this stack started the process (and so may stop it). */
  startedHere: boolean;
  pid?: number;
  endpoint: string;
}

export interface Stack {
  temporal: TemporalSettings;
  s3: S3Settings;
  uiUrl: string;
  services: ServiceState[];
}

export const LISTEN_HOSTS = ['127.0.0.1', '0.0.0.0'] as const;
export type ListenHost = (typeof LISTEN_HOSTS)[number];

/** ISTAR_LISTEN_HOST: where a locally started Temporal and MinIO listen (127.0.0.1 unless set to 0.0.0.0). */
export function listenHostFromEnv(env: NodeJS.ProcessEnv = process.env): ListenHost {
  const value = env.ISTAR_LISTEN_HOST?.trim();
  if (value === undefined || value === '') return '127.0.0.1';
  if (!(LISTEN_HOSTS as readonly string[]).includes(value)) {
    throw new Error(
      `ISTAR_LISTEN_HOST must be 127.0.0.1 (this machine only) or 0.0.0.0 (every interface), got ${JSON.stringify(value)}`,
    );
  }
  return value as ListenHost;
}

const runDir = (home: string) => path.join(home, 'run');
const logDir = (home: string) => path.join(home, 'logs');
const pidFile = (home: string, name: string) => path.join(runDir(home), `${name}.json`);

export function portOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A free TCP port on 127.0.0.1 (for tests and ephemeral stacks). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port;
}

/**
 * `count` distinct free TCP ports on 127.0.0.1: all are held open until the last is found, so the kernel
 * cannot hand the same one out twice. Another process may still take one before it is used; callers that
 * start servers on them retry with fresh ports when a bind fails (see startEphemeralStack).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** A service could not start because one of its ports was taken (the message quotes its log). */
export function isPortInUse(err: unknown): boolean {
  return err instanceof Error && /already in use|address in use|EADDRINUSE/i.test(err.message);
}

/** The last lines of a service's log, for error messages ('' when there is none). */
function logTail(logFile: string): string {
  return existsSync(logFile)
    ? `\n--- last lines of ${logFile} ---\n${readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n')}`
    : '';
}

/**
 * Run the first requests to a service that just became healthy. A service can answer its health check and
 * then exit, e.g. MinIO when its console port turns out to be taken (its S3 API binds first); a request that
 * fails then is reported as that exit, quoting the log, so that a taken port is recognised and retried.
 */
async function afterHealthy<T>(what: string, pid: number, logFile: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    for (let i = 0; i < 20 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (!processAlive(pid))
      throw new Error(`${what} exited right after it became healthy (${String(err)})${logTail(logFile)}`);
    throw err;
  }
}

/** Wait until `check` passes; fail at once, quoting the log, if the process `pid` exits first. */
async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  logFile: string,
  pid: number,
): Promise<void> {
  const tail = () => logTail(logFile);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (!processAlive(pid)) throw new Error(`${what} exited before it became healthy${tail()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not become healthy within ${timeoutMs / 1000} s${tail()}`);
}

function startDetached(
  home: string,
  name: string,
  binary: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): number {
  mkdirSync(logDir(home), { recursive: true });
  mkdirSync(runDir(home), { recursive: true });
  const logFile = path.join(logDir(home), `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(binary, args, { detached: true, stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${name} (${binary})`);
  return child.pid;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function temporalHealthy(settings: TemporalSettings): Promise<boolean> {
  const [host, port] = settings.address.split(':');
  if (!(await portOpen(host, Number(port)))) return false;
  const connection = await Connection.connect({ address: settings.address, connectTimeout: 2_000 });
  try {
    const res = await connection.healthService.check({});
    return res.status === 1; // grpc.health.v1 SERVING
  } finally {
    await connection.close();
  }
}

async function minioHealthy(s3: S3Settings): Promise<boolean> {
  const res = await fetch(new URL('/minio/health/live', s3.endpoint), { signal: AbortSignal.timeout(2_000) });
  return res.ok;
}

/**
 * Whether a MinIO started here is up: its S3 API answers, and so does its console over HTTP. MinIO binds the
 * S3 port first and exits when the console port is taken, so the S3 check alone can pass for a server about
 * to exit; and a port merely open may be another process's (which never answers HTTP).
 */
async function startedMinioHealthy(s3: S3Settings, consolePort: number): Promise<boolean> {
  if (!(await minioHealthy(s3))) return false;
  const res = await fetch(`http://127.0.0.1:${consolePort}/`, { signal: AbortSignal.timeout(2_000) });
  await res.body?.cancel();
  return res.status < 500;
}

async function s3Reachable(s3: S3Settings): Promise<boolean> {
  const url = new URL(s3.endpoint);
  return portOpen(url.hostname, Number(url.port || (url.protocol === 'https:' ? 443 : 80)));
}

/** Register the project's custom search attributes in the namespace, skipping those already there. */
export async function ensureSearchAttributes(settings: TemporalSettings): Promise<void> {
  const connection = await Connection.connect({ address: settings.address });
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace: settings.namespace });
    const have = new Set(Object.keys(existing.customAttributes ?? {}));
    const missing = Object.fromEntries(
      Object.entries(SEARCH_ATTRIBUTES)
        .filter(([k]) => !have.has(k))
        .map(([k, type]) => [k, INDEXED_VALUE_TYPE[type]]),
    );
    if (Object.keys(missing).length > 0) {
      await connection.operatorService.addSearchAttributes({
        namespace: settings.namespace,
        searchAttributes: missing,
      });
    }
  } finally {
    await connection.close();
  }
}

async function upTemporal(
  home: string,
  settings: TemporalSettings,
  temporalBin: () => string,
  log: (l: string) => void,
  listenHost: ListenHost,
): Promise<ServiceState> {
  if (await temporalHealthy(settings).catch(() => false)) {
    log(`temporal: reusing the server already up at ${settings.address}`);
    await ensureSearchAttributes(settings);
    return { name: 'temporal', startedHere: false, endpoint: settings.address };
  }
  if (!isLoopback(settings.address)) {
    throw new Error(
      `Temporal at ${settings.address} is not reachable, and it is not a local address this project can start a server on.`,
    );
  }
  const [, port] = settings.address.split(':');
  const db = path.join(home, 'temporal.db');
  const args = [
    'server',
    'start-dev',
    '--ip',
    listenHost,
    '--port',
    port,
    '--ui-port',
    String(settings.uiPort),
    '--db-filename',
    db,
    '--namespace',
    settings.namespace,
    '--log-level',
    'warn',
    '--ui-disable-news-fetch',
  ];
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  log(
    `temporal: starting the dev server on ${settings.address}${listeningOn(listenHost)} (UI http://127.0.0.1:${settings.uiPort}, history in ${db})`,
  );
  const pid = startDetached(home, 'temporal', temporalBin(), args, process.env);
  writeFileSync(pidFile(home, 'temporal'), JSON.stringify({ pid, endpoint: settings.address }));
  const logFile = path.join(logDir(home), 'temporal.log');
  await waitFor('the Temporal dev server', () => temporalHealthy(settings), 60_000, logFile, pid);
  await afterHealthy('the Temporal dev server', pid, logFile, () => ensureSearchAttributes(settings));
  return { name: 'temporal', startedHere: true, pid, endpoint: settings.address };
}

async function upMinio(
  home: string,
  s3: S3Settings,
  minioBin: () => string,
  log: (l: string) => void,
  listenHost: ListenHost,
  consolePortOption?: number,
): Promise<ServiceState> {
  if (await s3Reachable(s3)) {
    log(`s3: reusing the S3 endpoint already up at ${s3.endpoint}`);
  } else {
    if (!isLoopback(s3.endpoint)) {
      throw new Error(
        `S3 endpoint ${s3.endpoint} is not reachable, and it is not a local address this project can start MinIO on.`,
      );
    }
    const url = new URL(s3.endpoint);
    const dataDir = path.join(home, 'minio');
    mkdirSync(dataDir, { recursive: true });
    const consolePort = consolePortOption ?? Number(url.port) + 1;
    log(
      `minio: starting on ${s3.endpoint}${listeningOn(listenHost)} (data in ${dataDir}, console http://127.0.0.1:${consolePort})`,
    );
    const pid = startDetached(
      home,
      'minio',
      minioBin(),
      [
        'server',
        dataDir,
        '--quiet',
        '--address',
        `${listenHost}:${url.port}`,
        '--console-address',
        `${listenHost}:${consolePort}`,
      ],
      {
        ...process.env,
        MINIO_ROOT_USER: s3.accessKey,
        MINIO_ROOT_PASSWORD: s3.secretKey,
        MINIO_BROWSER: 'on',
      },
    );
    writeFileSync(pidFile(home, 'minio'), JSON.stringify({ pid, endpoint: s3.endpoint }));
    const logFile = path.join(logDir(home), 'minio.log');
    await waitFor('the MinIO server', () => startedMinioHealthy(s3, consolePort), 60_000, logFile, pid);
    await afterHealthy('the MinIO server', pid, logFile, () => ArtifactStore.fromSettings(s3).ensureBucket());
    return { name: 'minio', startedHere: true, pid, endpoint: s3.endpoint };
  }
  const store = ArtifactStore.fromSettings(s3);
  await store.ensureBucket();
  return { name: 'minio', startedHere: false, endpoint: s3.endpoint };
}

/** Bring the stack up (install binaries if needed), waiting until every service is healthy. */
export async function upStack(options: StackOptions = {}): Promise<Stack> {
  const home = options.home ?? istarHome();
  const log = options.log ?? console.log;
  const temporalSettings = options.temporal ?? temporalSettingsFromEnv();
  const s3 = options.s3 ?? s3SettingsFromEnv();
  const listenHost = options.listenHost ?? listenHostFromEnv();
  let bins: ReturnType<typeof installAll> | undefined;
  const binaries = () =>
    (bins ??= options.install === false ? installAll(home, () => {}) : installAll(home, log));
  const [t, m] = await Promise.all([
    upTemporal(home, temporalSettings, () => binaries().temporal, log, listenHost),
    upMinio(home, s3, () => binaries().minio, log, listenHost, options.minioConsolePort),
  ]);
  return {
    temporal: temporalSettings,
    s3,
    uiUrl: `http://127.0.0.1:${temporalSettings.uiPort}`,
    services: [t, m],
  };
}

const listeningOn = (host: ListenHost) => (host === '0.0.0.0' ? ', listening on every interface' : '');

async function stopPid(pid: number, name: string, log: (l: string) => void): Promise<void> {
  if (!processAlive(pid)) return;
  log(`${name}: stopping (pid ${pid})`);
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    process.kill(pid, 'SIGTERM');
  }
  const deadline = Date.now() + 15_000;
  while (processAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (processAlive(pid)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      process.kill(pid, 'SIGKILL');
    }
  }
}

/** Stop only the services this project started (recorded in the home folder's pid files). */
export async function downStack(
  options: { home?: string; log?: (l: string) => void; only?: Array<'temporal' | 'minio'> } = {},
): Promise<string[]> {
  const home = options.home ?? istarHome();
  const log = options.log ?? console.log;
  const stopped: string[] = [];
  for (const name of options.only ?? (['temporal', 'minio'] as const)) {
    const file = pidFile(home, name);
    if (!existsSync(file)) continue;
    const { pid } = JSON.parse(readFileSync(file, 'utf8')) as { pid: number };
    await stopPid(pid, name, log);
    rmSync(file, { force: true });
    stopped.push(name);
  }
  if (stopped.length === 0) log('nothing to stop: no service was started by this project');
  return stopped;
}

export interface StackStatus {
  temporal: { endpoint: string; healthy: boolean; startedHere: boolean };
  s3: { endpoint: string; healthy: boolean; startedHere: boolean };
  uiUrl: string;
}

export async function stackStatus(
  options: { home?: string; temporal?: TemporalSettings; s3?: S3Settings } = {},
): Promise<StackStatus> {
  const home = options.home ?? istarHome();
  const t = options.temporal ?? temporalSettingsFromEnv();
  const s3 = options.s3 ?? s3SettingsFromEnv();
  const mine = (name: string) => {
    const file = pidFile(home, name);
    return existsSync(file) && processAlive((JSON.parse(readFileSync(file, 'utf8')) as { pid: number }).pid);
  };
  return {
    temporal: {
      endpoint: t.address,
      healthy: await temporalHealthy(t).catch(() => false),
      startedHere: mine('temporal'),
    },
    s3: { endpoint: s3.endpoint, healthy: await s3Reachable(s3), startedHere: mine('minio') },
    uiUrl: `http://127.0.0.1:${t.uiPort}`,
  };
}
