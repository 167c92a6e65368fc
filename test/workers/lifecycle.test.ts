import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/faults';
import { testEnv } from '../helpers/stack';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** workers/local.ts started as `npm start` starts it (with an IPC channel), and the pids of its `count` workers. */
async function startLocalWorker(
  env: Record<string, string> = {},
  count = 3,
): Promise<{ local: ChildProcess; pids: number[]; stderr: () => string }> {
  const local = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'workers/local.ts')], {
    cwd: root,
    env: { ...process.env, ...testEnv(), ISTAR_ROLLOUT_PROCESSES: '1', ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let err = '';
  local.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const pids = await waitFor(
    'the workflow, trainer and rollout workers to start',
    async () => {
      const found = [...err.matchAll(/\[istar worker (\d+)\] (\S+) on /g)].map((m) => Number(m[1]));
      return found.length === count ? found : undefined;
    },
    120_000,
  );
  expect(pids).toContain(local.pid);
  return { local, pids, stderr: () => err };
}

describe('local worker lifecycle', () => {
  it('its worker processes shut down when local.ts is SIGKILLed', async () => {
    const { local, pids } = await startLocalWorker();
    const children = pids.filter((p) => p !== local.pid);
    expect(children).toHaveLength(2);
    local.kill('SIGKILL');
    await waitFor(
      'the trainer and rollout processes to exit',
      async () => children.every((p) => !alive(p)),
      60_000,
    );
  }, 240_000);

  it('local.ts and its workers shut down when the process that started it goes away', async () => {
    const { local, pids } = await startLocalWorker();
    const exited = new Promise<number | null>((r) => local.once('exit', (code) => r(code)));
    local.disconnect(); // what the OS does to the channel when npm start dies, even by SIGKILL
    await waitFor('all three worker processes to exit', async () => pids.every((p) => !alive(p)), 60_000);
    expect(await exited).toBe(0);
  }, 240_000);

  it('a worker process that dies is restarted (e.g. one that stopped itself on a broken backend)', async () => {
    const { local, pids, stderr } = await startLocalWorker();
    try {
      const rollout = [...stderr().matchAll(/\[istar worker (\d+)\] rollout on /g)].map((m) => Number(m[1]));
      expect(rollout).toHaveLength(1);
      process.kill(rollout[0], 'SIGKILL');
      const replacement = await waitFor(
        'a new rollout worker',
        async () =>
          [...stderr().matchAll(/\[istar worker (\d+)\] rollout on /g)]
            .map((m) => Number(m[1]))
            .find((p) => p !== rollout[0]),
        120_000,
      );
      expect(stderr()).toMatch(/\[istar local\] rollout worker exited \(SIGKILL\); restarting it/);
      expect(alive(replacement)).toBe(true);
      expect(pids).not.toContain(replacement);
    } finally {
      local.kill('SIGTERM');
      await new Promise((r) => local.once('exit', r));
    }
  }, 240_000);

  it('ISTAR_TRAINER_PROCESSES starts that many trainer processes; a bad count is refused by name', async () => {
    const { local, stderr } = await startLocalWorker({ ISTAR_TRAINER_PROCESSES: '2' }, 4);
    try {
      const roles = [...stderr().matchAll(/\[istar worker \d+\] (\S+) on /g)].map((m) => m[1]).sort();
      expect(roles).toEqual(['rollout', 'trainer', 'trainer', 'workflow']);
    } finally {
      local.kill('SIGTERM');
      await new Promise((r) => local.once('exit', r));
    }
    const bad = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'workers/local.ts')], {
      cwd: root,
      env: { ...process.env, ...testEnv(), ISTAR_TRAINER_PROCESSES: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    bad.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => bad.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(err).toContain('ISTAR_TRAINER_PROCESSES must be an integer of at least 1, got "0"');
  }, 240_000);
});
