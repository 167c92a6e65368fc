import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunConfig } from '../../src/config/run-config';
import { followSweep, startOrAttachSweep } from '../../src/cli/sweep';
import { parseSweep } from '../../src/config/sweep-config';
import { istarSweep } from '../../workflows/sweep';
import { testEnv, testStore } from '../helpers/stack';
import {
  connectTestTemporal,
  testWorkers,
  tinyConfig,
  uniqueQueues,
  withWorkers,
  type TestTemporal,
} from '../helpers/workers';

const root = path.resolve(__dirname, '../..');

function istar(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/istar.js'), ...args], {
      cwd: root,
      env: { ...process.env, ...testEnv() },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

let t: TestTemporal;
beforeAll(async () => {
  t = await connectTestTemporal();
});
afterAll(async () => t?.close());

describe('istar sweep', () => {
  it('runs named variants (PPO and GRPO + iStar) from one shared SFT base, whose row comes first', async () => {
    const queues = uniqueQueues();
    const id = `variants-${randomUUID().slice(0, 6)}`;
    const base = tinyConfig(queues, {
      iterations: 1,
      evalEvery: 1,
      groupSize: 2,
      sft: { episodes: 6, epochs: 1 },
    });
    const workers = await testWorkers(t, queues);
    const rows = await withWorkers(workers, () =>
      t.client.workflow.execute(istarSweep, {
        taskQueue: queues.workflow,
        workflowId: id,
        args: [
          {
            base,
            variants: [
              { name: 'ppo', config: { algorithm: 'ppo' } },
              { name: 'grpo+istar', config: { algorithm: 'istar', episodeEstimator: 'grpo' } },
            ],
            seeds: [3],
            sharedBase: true,
          },
        ],
      }),
    );
    expect(rows.map((r) => [r.name, r.variant, r.algorithm, r.status, r.iterations])).toEqual([
      ['base', 'sft-base', 'sft', 'completed', 0],
      ['ppo-s3', 'ppo', 'ppo', 'completed', 1],
      ['grpopistar-s3', 'grpo+istar', 'istar', 'completed', 1],
    ]);
    expect(rows[0].finalSuccess).toBeGreaterThanOrEqual(0);
    const store = testStore();
    // One SFT base, evaluated as its iteration 0; the runs resumed from it instead of training their own.
    expect(await store.listCheckpoints(`${id}-base`, 'policy')).toEqual([0]);
    expect(await store.listIterations(`${id}-base`)).toEqual([0]);
    for (const row of rows.slice(1)) {
      const config = await store.getJson<RunConfig>(`experiments/${row.experimentId}/config.json`);
      expect(config.resumeFrom).toEqual({ experimentId: `${id}-base`, iteration: 0 });
      expect(config.seed).toBe(3);
      expect(await store.listCheckpoints(row.experimentId, 'policy')).toEqual([1]);
    }
    const grpoIstar = await store.getJson<RunConfig>(`experiments/${id}-grpopistar-s3/config.json`);
    expect(grpoIstar.episodeEstimator).toBe('grpo');

    // A second sweep from this one's base (baseFrom): copied weight for weight, no SFT, the same held-out success.
    const copyId = `${id}-again`;
    const copyRows = await withWorkers(await testWorkers(t, queues), () =>
      t.client.workflow.execute(istarSweep, {
        taskQueue: queues.workflow,
        workflowId: copyId,
        args: [{ base, algorithms: ['rloo'], seeds: [3], baseFrom: `${id}-base` }],
      }),
    );
    expect(copyRows.map((r) => [r.name, r.status, r.iterations])).toEqual([
      ['base', 'completed', 0],
      ['rloo-s3', 'completed', 1],
    ]);
    expect(copyRows[0].finalSuccess).toBe(rows[0].finalSuccess);
    const sha = async (experimentId: string) =>
      (await store.readManifest(`experiments/${experimentId}/checkpoints/policy/000000/`)).blob.sha256;
    expect(await sha(`${copyId}-base`)).toBe(await sha(`${id}-base`));
    const copyMetrics = await store.getJson<Record<string, number>>(
      `experiments/${copyId}-base/iterations/000000/metrics.json`,
    );
    expect(copyMetrics['sft/copied']).toBe(1);
    const copyChild = await store.getJson<RunConfig>(`experiments/${copyId}-rloo-s3/config.json`);
    expect(copyChild.resumeFrom).toEqual({ experimentId: `${copyId}-base`, iteration: 0 });

    // `npm run experiments` again with the same id: the completed sweep is read back, not run again.
    const firstRun = (await t.client.workflow.getHandle(id).describe()).runId;
    const again = await startOrAttachSweep(t.client, id, { base, seeds: [3] }, queues.workflow);
    expect(again.state).toBe('completed');
    expect(await again.handle.result()).toEqual(rows);
    expect((await t.client.workflow.getHandle(id).describe()).runId).toBe(firstRun);
  });

  it('runs 2 algorithms x 2 seeds as child workflows and prints the results table', async () => {
    const queues = uniqueQueues();
    const id = `sweep-${randomUUID().slice(0, 6)}`;
    const base = JSON.stringify(
      tinyConfig(queues, { iterations: 1, evalEvery: 1, groupSize: 2, sft: { episodes: 6, epochs: 1 } }),
    );
    const workers = await testWorkers(t, queues);
    const r = await withWorkers(workers, () =>
      istar([
        'sweep',
        '--id',
        id,
        '--task-queue',
        queues.workflow,
        '--algorithms',
        'rloo,grpo',
        '--seeds',
        '0,1',
        '--max-concurrent',
        '2',
        '--config',
        base,
        '--json',
      ]),
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            type: string;
            rows?: Array<Record<string, unknown>>;
            total?: number;
            running?: string[];
            finished?: Record<string, [number, number]>;
          },
      );
    const result = lines.find((l) => l.type === 'result')!;
    // Progress while it ran: each running run with the iterations it had finished (of its 1).
    const progress = lines.filter((l) => l.type === 'progress');
    expect(progress.every((p) => p.total === 4)).toBe(true);
    const seen = progress.flatMap((p) => Object.entries(p.finished ?? {}));
    expect(seen.length).toBeGreaterThan(0);
    for (const [name, [done, of]] of seen) {
      expect(['rloo-s0', 'rloo-s1', 'grpo-s0', 'grpo-s1']).toContain(name);
      expect([done, of]).toEqual([expect.any(Number), 1]);
      expect(done).toBeLessThanOrEqual(1);
    }
    expect(result.rows!.map((row) => [row.name, row.status, row.iterations])).toEqual([
      ['rloo-s0', 'completed', 1],
      ['rloo-s1', 'completed', 1],
      ['grpo-s0', 'completed', 1],
      ['grpo-s1', 'completed', 1],
    ]);
    for (const row of result.rows!) {
      expect(row.finalSuccess as number).toBeGreaterThanOrEqual(0);
      expect(row.experimentId).toBe(`${id}-${row.name}`);
    }
    const children: { workflowId: string; startTime: Date }[] = [];
    for await (const w of t.client.workflow.list({
      query: `WorkflowType = 'istarTraining' AND WorkflowId STARTS_WITH '${id}-'`,
    }))
      children.push({ workflowId: w.workflowId, startTime: w.startTime });
    expect(children.map((c) => c.workflowId).sort()).toEqual([
      `${id}-grpo-s0`,
      `${id}-grpo-s1`,
      `${id}-rloo-s0`,
      `${id}-rloo-s1`,
    ]);
    // Seed by seed (launchOrder): both methods' seed 0 start first, the table keeps the grid's order.
    const byStart = [...children].sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
    expect(
      byStart
        .slice(0, 2)
        .map((c) => c.workflowId)
        .sort(),
    ).toEqual([`${id}-grpo-s0`, `${id}-rloo-s0`]);

    // `istar status` of a sweep: its runs done and its table (it once failed reading a run's progress).
    const status = await istar(['status', id]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^${id}: sweep COMPLETED, 4/4 runs done, running: -`));
    expect(status.stdout).toMatch(/rloo-s1\s+rloo\s+rloo\s+-\s+-\s+1\s+1\s+\d\.\d{3}/);
    const json = JSON.parse((await istar(['status', id, '--json'])).stdout) as {
      type: string;
      progress: { done: number; total: number };
    };
    expect([json.type, json.progress.done, json.progress.total]).toEqual(['sweep', 4, 4]);
  });

  it('a failed run names the activity that failed and why, not only "Activity task failed"', async () => {
    const queues = uniqueQueues();
    const id = `failing-${randomUUID().slice(0, 6)}`;
    const missing = `nothing-here-${randomUUID().slice(0, 6)}`;
    const workers = await testWorkers(t, queues);
    const rows = await withWorkers(workers, () =>
      t.client.workflow.execute(istarSweep, {
        taskQueue: queues.workflow,
        workflowId: id,
        args: [
          {
            base: tinyConfig(queues, { resumeFrom: { experimentId: missing, iteration: 0 } }),
            algorithms: ['rloo'],
            seeds: [0],
          },
        ],
      }),
    );
    expect(rows.map((r) => [r.name, r.status])).toEqual([['rloo-s0', 'failed']]);
    expect(rows[0].error).toMatch(/^locateCheckpoints activity failed not retryable: /);
    expect(rows[0].error).toContain(missing);
  });

  it('a sweep that fails at once ends the follow loop with the sweep and the cause named', async () => {
    const queues = uniqueQueues();
    const id = `bad-${randomUUID().slice(0, 6)}`;
    const workers = await testWorkers(t, queues);
    await withWorkers(workers, async () => {
      // Input the CLI would refuse, reaching the workflow (another client, or a worker on older code).
      const handle = await t.client.workflow.start(istarSweep, {
        taskQueue: queues.workflow,
        workflowId: id,
        args: [{ base: tinyConfig(queues, { envOptions: { boxes: 9 } }), algorithms: ['rloo'], seeds: [0] }],
      });
      const printed: unknown[] = [];
      const followed = followSweep(handle, {
        client: t.client,
        sweep: parseSweep({ base: tinyConfig(queues), algorithms: ['rloo'], seeds: [0] }),
        print: (p) => printed.push(p),
      });
      await expect(followed).rejects.toThrow(
        new RegExp(`^sweep ${id} failed: invalid run config: base\\.envOptions\\.boxes: `),
      );
      expect(printed).toEqual([]);
    });
  });

  it("--base-from naming the sweep's own base is refused before starting anything", async () => {
    const r = await istar(['sweep', '--id', 'own', '--base-from', 'own-base']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/baseFrom: own-base is this sweep's own base experiment/);
  });

  it('refuses a bad grid before starting anything', async () => {
    const r = await istar(['sweep', '--algorithms', 'istar,chess']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/algorithms\.1: Invalid option/);
    const r2 = await istar(['sweep', '--config', '{"groups": 0}']);
    expect(r2.stderr).toMatch(/groups: Too small/);
  });
});

describe('istar schedule', () => {
  it('creates a schedule that triggers a run, and pauses, lists, triggers and deletes it', async () => {
    const queues = uniqueQueues();
    const id = `sched-${randomUUID().slice(0, 6)}`;
    const config = JSON.stringify(
      tinyConfig(queues, { iterations: 1, evalEvery: 1, groupSize: 2, sft: { episodes: 6, epochs: 1 } }),
    );
    const created = await istar([
      'schedule',
      'create',
      id,
      '--every',
      '1d',
      '--overlap',
      'buffer-one',
      '--task-queue',
      queues.workflow,
      '--config',
      config,
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain(`created schedule ${id} (every 1d, overlap buffer-one)`);
    const handle = t.client.schedule.getHandle(id);
    const workers = await testWorkers(t, queues);
    await withWorkers(workers, async () => {
      expect((await istar(['schedule', 'trigger', id])).code).toBe(0);
      let runs: string[] = [];
      for (let i = 0; i < 120 && runs.length === 0; i++) {
        runs = (await handle.describe()).info.recentActions.map((a) => a.action.workflow.workflowId);
        if (runs.length === 0) await new Promise((r) => setTimeout(r, 500));
      }
      expect(runs).toHaveLength(1);
      const result = (await t.client.workflow.getHandle(runs[0]).result()) as { iterations: number };
      expect(result.iterations).toBe(1);
    });
    expect((await istar(['schedule', 'pause', id])).code).toBe(0);
    expect((await handle.describe()).state.paused).toBe(true);
    const listed = await istar(['schedule', 'list', '--json']);
    const entry = (JSON.parse(listed.stdout) as Array<{ scheduleId: string; paused: boolean }>).find(
      (s) => s.scheduleId === id,
    );
    expect(entry?.paused).toBe(true);
    expect((await istar(['schedule', 'unpause', id])).code).toBe(0);
    expect((await handle.describe()).state.paused).toBe(false);
    const backfill = await istar([
      'schedule',
      'backfill',
      id,
      '--start',
      '2026-01-02T00:00:00Z',
      '--end',
      '2026-01-01T00:00:00Z',
    ]);
    expect(backfill.stderr).toMatch(/--end must be after --start/);
    expect((await istar(['schedule', 'delete', id])).code).toBe(0);
    await expect(handle.describe()).rejects.toThrow(/not found/i);
  });

  it('refuses bad schedule flags', async () => {
    expect((await istar(['schedule', 'create', 'x'])).stderr).toMatch(
      /give exactly one of --cron or --every/,
    );
    expect((await istar(['schedule', 'create', 'x', '--every', 'soon'])).stderr).toMatch(
      /"soon" is not a duration/,
    );
    expect(
      (await istar(['schedule', 'create', 'x', '--every', '1h', '--overlap', 'sometimes'])).stderr,
    ).toMatch(/--overlap must be one of skip/);
  });
});
