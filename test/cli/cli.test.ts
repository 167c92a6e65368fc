import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followSweep, runningText, startedSweep } from '../../src/cli/sweep';
import { extensionState } from '../../activities/extend';
import { istarExtend, type ExtendInput } from '../../workflows/extend';
import { findSuite } from '../../src/experiments/suites';
import { SEARCH_ATTRIBUTE_KEYS, TASK_QUEUES, istarTraining, type Progress } from '../../workflows/training';
import { checkpointPrefix, iterationKey } from '../../src/storage/keys';
import type { SweepProgress } from '../../workflows/sweep';
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
const istarBin = path.join(root, 'bin/istar.js');

/** Run a node entry point asynchronously, to its exit (in-process test workers must keep running meanwhile). */
function spawnCollect(
  nodeArgs: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, nodeArgs, {
      cwd: root,
      env: { ...process.env, ...testEnv(), ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Run the istar CLI asynchronously. */
const istar = (args: string[], env: Record<string, string> = {}) => spawnCollect([istarBin, ...args], env);

/** `npm run experiments -- <args>` as a child process, to completion. */
function experimentsCli(args: string[], env: Record<string, string | undefined>) {
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(root, 'src/cli/experiments.ts'), ...args],
    {
      cwd: root,
      env: { ...process.env, ...testEnv(), ...env },
      encoding: 'utf8',
      timeout: 360_000,
    },
  );
}

let t: TestTemporal;
beforeAll(async () => {
  t = await connectTestTemporal();
});
afterAll(async () => t?.close());

describe('istar CLI', () => {
  it('rejects bad flags with a clear message and a non-zero exit, before contacting Temporal', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['train', '--groups', 'abc'], /--groups must be an integer, got "abc"/],
      [['train', '--alpha', 'x'], /--alpha must be a number, got "x"/],
      [['train', '--env', 'chess'], /env: Invalid option: expected one of "sokoban"/],
      [
        ['train', '--alpha-gate', 'accuracy'],
        /alphaGate: Invalid option: expected one of "fixed"\|"prm-accuracy"/,
      ],
      [['train', '--group-size', '-1'], /groupSize: Too small/],
      [['train', '--experiment', '../x'], /experimentId: must not contain "\.\."/],
      [['train', '--config', '{not json'], /--config: not valid JSON/],
      [['train', '--config', '{"foo": 1}'], /unknown field "foo"/],
      [['resume-from', 'exp', 'three'], /iteration must be a non-negative integer, got "three"/],
      [['train', '--max-steps', '2.5'], /--max-steps must be an integer, got "2.5"/],
      [['train', '--max-steps', '0'], /maxSteps: Too small/],
      [['extend', 'exp', '--iterations', '-3'], /--iterations must be a positive integer, got "-3"/],
      [['extend', 'exp'], /required option '--iterations <n>' not specified/],
      [['set', 'some-run'], /give at least one of alpha, beta, policyLr, prmLr/],
      [['set', 'some-run', '--alpha', '-2'], /alpha: Too small/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ];
    for (const [args, message] of cases) {
      const r = await istar(args, { TEMPORAL_ADDRESS: '127.0.0.1:1' });
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });

  it('train --detach, status, pause, resume, set and stop drive a real run', async () => {
    const queues = uniqueQueues();
    const id = `cli-${randomUUID().slice(0, 8)}`;
    // Enough iterations that `stop` (a CLI process start away) always lands before the last one.
    const config = JSON.stringify(tinyConfig(queues, { iterations: 40, evalEvery: 40 }));
    const started = await istar([
      'train',
      '--detach',
      '--id',
      id,
      '--task-queue',
      queues.workflow,
      '--config',
      config,
      '--alpha',
      '0.7',
      '--json',
    ]);
    expect(started.code, started.stderr).toBe(0);
    const line = JSON.parse(started.stdout.trim().split('\n')[0]) as {
      type: string;
      workflowId: string;
      url: string;
    };
    expect(line).toMatchObject({ type: 'started', workflowId: id });
    expect(line.url).toContain(`/workflows/${id}`);

    const workers = await testWorkers(t, queues);
    await withWorkers(workers, async () => {
      const handle = t.client.workflow.getHandle(id);
      const waitFor = async (pred: (p: Progress) => boolean, what: string) => {
        for (let i = 0; i < 600; i++) {
          const p = (await handle.query('progress').catch(() => undefined)) as Progress | undefined;
          if (p && pred(p)) return p;
          await new Promise((r) => setTimeout(r, 250));
        }
        throw new Error(`timed out waiting for ${what}`);
      };
      await waitFor((p) => p.iteration >= 1, 'iteration 1');

      const status = await istar(['status', id, '--json']);
      expect(status.code, status.stderr).toBe(0);
      const s = JSON.parse(status.stdout) as { status: string; progress: Progress };
      expect(s.status).toBe('RUNNING');
      expect(s.progress.hyperparameters.alpha).toBe(0.7);

      expect((await istar(['pause', id])).stdout).toContain(`pause sent to ${id}`);
      const paused = await waitFor((p) => p.stage === 'paused', 'the paused stage');
      await new Promise((r) => setTimeout(r, 3000));
      expect(((await handle.query('progress')) as Progress).iteration).toBe(paused.iteration);
      expect((await istar(['status', id])).stdout).toMatch(/\(paused\)/);

      const set = await istar(['set', id, '--alpha', '0.25', '--policy-lr', '0.0005']);
      expect(set.code, set.stderr).toBe(0);
      expect(set.stdout).toContain('"alpha":0.25');
      expect(set.stdout).toContain('"policyLr":0.0005');

      expect((await istar(['resume', id])).code).toBe(0);
      await waitFor((p) => p.iteration > paused.iteration, 'progress after resume');
      expect((await istar(['stop', id])).code).toBe(0);
      const result = (await handle.result()) as { iterations: number; stopped: boolean };
      expect(result.stopped).toBe(true);
      expect(result.iterations).toBeLessThan(40);
      expect(result.iterations).toBeGreaterThan(paused.iteration);
    });
    const final = await istar(['status', id]);
    expect(final.stdout).toContain(`${id}: COMPLETED`);
  });

  it('a failed run says which activity failed and why, following it and in status', async () => {
    const queues = uniqueQueues();
    const id = `cli-fail-${randomUUID().slice(0, 8)}`;
    const missing = `gone-${randomUUID().slice(0, 6)}`;
    const workers = await testWorkers(t, queues);
    const followed = await withWorkers(workers, () =>
      istar([
        'resume-from',
        missing,
        '3',
        '--id',
        id,
        '--task-queue',
        queues.workflow,
        '--config',
        JSON.stringify(tinyConfig(queues)),
      ]),
    );
    expect(followed.code).toBe(1);
    expect(followed.stderr).toMatch(
      /error: workflow failed: locateCheckpoints activity failed not retryable: .*gone-/,
    );
    const status = await istar(['status', id]);
    expect(status.stdout).toMatch(
      new RegExp(`^${id}: FAILED \\(locateCheckpoints activity failed not retryable: .*${missing}`, 'm'),
    );
    const json = JSON.parse((await istar(['status', id, '--json'])).stdout) as { failure?: string };
    expect(json.failure).toContain('locateCheckpoints activity failed not retryable');
  });

  it('extend goes on training a stored run in place: iteration 3 is exactly that of a run started with 3', async () => {
    const queues = uniqueQueues();
    const store = testStore();
    const tag = randomUUID().slice(0, 6);
    const full = `ext-full-${tag}`;
    const short = `ext-short-${tag}`;
    const workers = await testWorkers(t, queues);
    await withWorkers(workers, async () => {
      const run = (experimentId: string, iterations: number) =>
        t.client.workflow.execute(istarTraining, {
          taskQueue: queues.workflow,
          workflowId: experimentId,
          args: [tinyConfig(queues, { experimentId, iterations })],
        });
      await Promise.all([run(full, 3), run(short, 2)]);
      const extended = await istar([
        'extend',
        short,
        '--iterations',
        '3',
        '--task-queue',
        queues.workflow,
        '--json',
      ]);
      expect(extended.code, extended.stderr).toBe(0);
      const lines = extended.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines[0]).toMatchObject({ type: 'started', workflowId: `${short}-to3` });
      const result = lines.at(-1) as { type: string; iterations: number; policyKey: string };
      expect(result).toMatchObject({ type: 'result', iterations: 3 });
      expect(result.policyKey).toBe(checkpointPrefix(short, 'policy', 3));

      // The same iteration 3: losses, rollouts and the final evaluation, to the last bit (timings aside).
      const metrics = async (id: string) => {
        const m = await store.getJson<Record<string, number>>(iterationKey(id, 3, 'metrics.json'));
        return Object.fromEntries(Object.entries(m).filter(([k]) => !/seconds|time|_ms$/.test(k)));
      };
      const [a, b] = [await metrics(full), await metrics(short)];
      expect(Object.keys(a).length).toBeGreaterThan(10);
      expect(a['eval/success_rate']).toBeDefined();
      expect(b).toEqual(a);
      const weights = async (id: string) => store.getBytes(`${checkpointPrefix(id, 'policy', 3)}weights.bin`);
      expect((await weights(short)).equals(await weights(full))).toBe(true);
      expect(await store.listCheckpoints(short, 'policy')).toEqual([0, 1, 2, 3]);

      // A run started from another run's checkpoint (as every sweep run is) keeps that checkpoint as its KL anchor.
      const from = { experimentId: full, iteration: 0 };
      const resumed = (experimentId: string, iterations: number) =>
        t.client.workflow.execute(istarTraining, {
          taskQueue: queues.workflow,
          workflowId: experimentId,
          args: [tinyConfig(queues, { experimentId, iterations, resumeFrom: from, klCoef: 1 })],
        });
      await Promise.all([resumed(`${full}-r`, 2), resumed(`${short}-r`, 1)]);
      const state = await extensionState(store, `${short}-r`, 2);
      expect([state.iteration, state.policyKey, state.referenceKey]).toEqual([
        1,
        checkpointPrefix(`${short}-r`, 'policy', 1),
        checkpointPrefix(full, 'policy', 0),
      ]);
      const again2 = await istar([
        'extend',
        `${short}-r`,
        '--iterations',
        '2',
        '--task-queue',
        queues.workflow,
      ]);
      expect(again2.code, again2.stderr).toBe(0);
      const policy2 = async (id: string) => store.getBytes(`${checkpointPrefix(id, 'policy', 2)}weights.bin`);
      expect((await policy2(`${short}-r`)).equals(await policy2(`${full}-r`))).toBe(true);

      // istarExtend continued as istarTraining under the same workflow id.
      expect((await t.client.workflow.getHandle(`${short}-to3`).describe()).type).toBe('istarTraining');

      // From the UI: istarExtend's input is checked, and so is the run (the activity's error is permanent).
      const ui = (input: Record<string, unknown>) =>
        t.client.workflow
          .execute(istarExtend, {
            taskQueue: queues.workflow,
            workflowId: `ext-ui-${randomUUID().slice(0, 6)}`,
            args: [{ rolloutTaskQueue: queues.rollout, ...input } as ExtendInput],
          })
          .then(
            () => 'completed',
            (err: Error) => {
              const messages: string[] = [];
              for (let e: unknown = err; e instanceof Error; e = e.cause) messages.push(e.message);
              return messages.join(': ');
            },
          );
      expect(await ui({ experimentId: short, iterations: 0 })).toContain(
        'iterations: a positive integer (iterations in all), got 0',
      );
      expect(await ui({ experimentId: short, iterations: 3 })).toContain(
        `experiment ${short} has run 3 iterations; extend it to more than that (got 3)`,
      );

      // Not below what the run has done, not an experiment that was never stored, not a run still training.
      const again = await istar(['extend', short, '--iterations', '3']);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(
        `experiment ${short} has run 3 iterations; extend it to more than that (got 3)`,
      );
      const none = await istar(['extend', `never-${tag}`, '--iterations', '5']);
      expect(none.stderr).toContain(`experiment never-${tag} has no stored config`);
      expect((await istar(['extend', short, '--iterations', 'x'])).stderr).toContain(
        '--iterations must be a positive integer, got "x"',
      );
      const busy = `ext-busy-${tag}`;
      const handle = await t.client.workflow.start(istarTraining, {
        taskQueue: queues.workflow,
        workflowId: busy,
        args: [tinyConfig(queues, { experimentId: busy, iterations: 40, evalEvery: 40 })],
      });
      for (let i = 0; i < 600 && (await store.listIterations(busy)).length < 2; i++)
        await new Promise((r) => setTimeout(r, 250));
      const refused = await istar(['extend', busy, '--iterations', '50']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`experiment ${busy} is being trained by the running workflow ${busy}`);
      await handle.terminate('test: done');
    });
  });

  it('status of an unknown workflow is a clear error', async () => {
    const r = await istar(['status', `no-such-${randomUUID().slice(0, 6)}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: .*(not found|no such workflow)/i);
  });
});

describe('npm start', () => {
  it('brings up (reuses) the stack, trains with a tiny override, and re-attaches after being killed', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'istar-start-'));
    const id = `start-${randomUUID().slice(0, 8)}`;
    const tiny = {
      iterations: 3,
      evalEvery: 3,
      groups: 2,
      groupSize: 4,
      evalEpisodes: 4,
      model: { dModel: 32, nLayers: 1, nHeads: 2, dFF: 64, contextLength: 160 },
      sft: { episodes: 10, epochs: 1 },
    };
    const env = {
      ...process.env,
      ...testEnv(),
      ISTAR_HOME: home,
      ISTAR_START_CONFIG: JSON.stringify(tiny),
      ISTAR_ROLLOUT_PROCESSES: '1',
    };
    const args = ['--import', 'tsx', path.join(root, 'src/cli/start.ts'), '--id', id];
    // First run: killed after the SFT base is evaluated (iteration 0 printed).
    const first = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`npm start printed no iteration in time:\n${out}`)),
        180_000,
      );
      first.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/iteration 0\/3/.test(out)) {
          clearTimeout(timer);
          first.kill('SIGINT');
          resolve();
        }
      });
    });
    await new Promise((r) => first.once('exit', r));
    expect(out).toContain(`started run ${id}`);
    expect(out).toMatch(/reusing the server already up/);

    const second = spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8', timeout: 300_000 });
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain(`attached to running run ${id}`);
    expect(second.stdout).toMatch(
      /final held-out success \d\.\d{3} after 3 iterations, [+-]\d\.\d{3} over the SFT base \d\.\d{3} \(-?\d+\.\d standard errors, \d+ levels\); paired on the same levels: \d gained, \d lost, McNemar z -?\d+\.\d/,
    );
    expect(second.stdout).toMatch(
      /checkpoints: s3 experiments\/start-[0-9a-f]{8}-[0-9a-f]{8}\/checkpoints\/policy\/000003\//,
    );
  }, 400_000);
});

// In this file, after `npm start`: both use the default task queues of the shared test server.
describe('npm run experiments', () => {
  it('runs the smoke suite end to end and writes its table, with a trainer process per concurrent run', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'istar-experiments-'));
    const out = path.join(home, 'results');
    const id = `smoke-${randomUUID().slice(0, 8)}`;
    const args = ['smoke', '--id', id, '--out', out, '--no-png'];
    const experiments = (...extra: string[]) =>
      experimentsCli([...args, ...extra], { ISTAR_HOME: home, ISTAR_ROLLOUT_PROCESSES: '1' });
    const r = experiments();
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`started sweep ${id}`);
    const md = readFileSync(path.join(out, 'smoke.md'), 'utf8');
    expect(md.split('\n')[0]).toBe(`# smoke: ${findSuite('smoke').description}`);
    expect(md).toContain(`Shared SFT base (${id}-base): held-out success `);
    for (const variant of ['rloo', 'rloopistar'])
      expect(md).toMatch(
        new RegExp(
          `\\| ${id}-${variant}-s0 \\| rloo(\\+istar)? \\| 0 \\| 1 \\| \\d\\.\\d{3} \\| \\d\\.\\d{3} \\| ok \\|`,
        ),
      );
    expect(readFileSync(path.join(out, 'smoke', 'index.html'), 'utf8')).toContain('<html');
    // The suite runs 2 at a time, so the local worker had min(2, cores) trainer processes.
    const log = readFileSync(path.join(home, 'logs', 'worker.log'), 'utf8');
    expect([...log.matchAll(/\[istar worker \d+\] trainer on /g)]).toHaveLength(
      Math.min(2, os.availableParallelism()),
    );
    // Run again on the completed sweep: the table is rebuilt from S3 and still says when the sweep finished.
    const measured = (text: string) => /^Measured (\d{4}-\d\d-\d\d \d\d:\d\d) UTC/m.exec(text)?.[1];
    const first = measured(md);
    expect(first).toMatch(/^\d{4}-/);
    await new Promise((resolve) => setTimeout(resolve, 61_000 - (Date.now() % 60_000)));
    const again = experiments();
    expect(again.status, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect(again.stdout).toContain(`sweep ${id} has already completed: rebuilding its report`);
    expect(measured(readFileSync(path.join(out, 'smoke.md'), 'utf8'))).toBe(first);
    // --so-far on a completed sweep writes its full table.
    const full = experiments('--so-far');
    expect(full.status, `${full.stdout}\n${full.stderr}`).toBe(0);
    expect(full.stdout).toContain(`sweep ${id} has completed: writing its full table`);
    expect(readFileSync(path.join(out, 'smoke.md'), 'utf8')).not.toContain('So far');
    // --extend-to: both runs go on in place to 2 iterations, and the table is theirs at 2.
    const extended = experiments('--extend-to', '2');
    expect(extended.status, `${extended.stdout}\n${extended.stderr}`).toBe(0);
    expect(extended.stdout).toContain('extending 2 runs to 2 iterations, 2 at a time');
    expect(extended.stdout).toContain(`started ${id}-rloo-s0-to2: ${id}-rloo-s0 from 1 to 2 iterations`);
    const at2 = readFileSync(path.join(out, 'smoke.md'), 'utf8');
    expect(at2.split('\n')[0]).toBe('# smoke: rloo vs rloo+istar x 1 seed, 2 iterations');
    expect(at2).toContain(`Reproduce: \`npm run experiments -- ${args.join(' ')} --extend-to 2\``);
    expect(at2).toMatch(new RegExp(`wall time \\d+ min \\(${id} \\d+ min, ${id} --extend-to 2 \\d+ min\\)`));
    for (const variant of ['rloo', 'rloopistar'])
      expect(at2).toMatch(
        new RegExp(
          `\\| ${id}-${variant}-s0 \\| rloo(\\+istar)? \\| 0 \\| 2 \\| \\d\\.\\d{3} \\| \\d\\.\\d{3} \\| ok \\|`,
        ),
      );
    // The plain command would now table runs of 2 iterations as runs of 1: it names them and the flag instead.
    const mixed = experiments();
    expect(mixed.status).not.toBe(0);
    expect(mixed.stderr).toContain(`${id}-rloo-s0 has 2 iterations stored, its row 1`);
    expect(mixed.stderr).toContain('add --extend-to 2 to table every run at that length');
    // Run again, the completed extensions are read back rather than trained again.
    const reread = experiments('--extend-to', '2');
    expect(reread.status, `${reread.stdout}\n${reread.stderr}`).toBe(0);
    expect(reread.stdout).toContain(`read ${id}-rloopistar-s0-to2 (${id}-rloopistar-s0 to 2)`);
    expect(readFileSync(path.join(out, 'smoke.md'), 'utf8')).toBe(at2);
    // Extending to no more than the sweep ran is refused before anything starts.
    const less = experiments('--extend-to', '1');
    expect(less.status).not.toBe(0);
    expect(less.stderr).toContain('--extend-to 1: the sweep runs 1 iteration; extend to more than that');
  }, 900_000);

  it('--no-worker starts no worker: it says when a role has none, and follows the sweep workers elsewhere serve', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'istar-noworker-'));
    const out = path.join(home, 'results');
    const tag = randomUUID().slice(0, 8);
    const id = `noworker-${tag}`;
    // The runs' own activity queues (the sweep's workflow tasks stay on the default queue, istar).
    const queues = { ...uniqueQueues(), workflow: TASK_QUEUES.workflow };
    const set = JSON.stringify({ rolloutTaskQueue: queues.rollout, trainerTaskQueue: queues.trainer });
    const args = ['smoke', '--id', id, '--out', out, '--no-png', '--no-worker', '--set', set];
    const script = ['--import', 'tsx', path.join(root, 'src/cli/experiments.ts')];
    const local = { ISTAR_HOME: home };
    // Nothing polls the runs' queues yet: the command names them and waits; it is stopped, the sweep waits on.
    const first = spawn(process.execPath, [...script, ...args], {
      cwd: root,
      env: { ...process.env, ...testEnv(), ...local },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    // The default workflow queue is polled when another test's worker is up, and named with the others when not.
    const waiting = new RegExp(
      `No worker polls (istar or )?${queues.rollout} or ${queues.trainer} yet: the sweep waits until one does \\(npm run istar -- workers --roles (workflow,)?rollout,trainer, here or on another machine\\)`,
    );
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no --no-worker line in time:\n${log}`)), 120_000);
      const onData = (d: Buffer) => {
        log += d.toString();
        if (waiting.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      };
      first.stdout.on('data', onData);
      first.stderr.on('data', onData);
    });
    first.kill('SIGINT');
    await new Promise((r) => first.once('exit', r));
    expect(log).toContain(`started sweep ${id}`);
    expect(log).toContain(
      'stopped following; the sweep keeps its state on the Temporal server. Run the same command again to attach to it.',
    );
    expect(log).toMatch(
      new RegExp(
        `no local worker \\(--no-worker\\); workers polling istar \\d+, ${queues.rollout} 0, ${queues.trainer} 0`,
      ),
    );
    expect(log).not.toContain('local worker started');
    expect((await t.client.workflow.getHandle(id).describe()).status.name).toBe('RUNNING');
    // Workers elsewhere (here, in this test's process) serve it: the same command attaches, follows it to the end
    // and writes the table, whose reproduce line leaves --no-worker out.
    const workers = await testWorkers(t, queues);
    const r = await withWorkers(workers, () => spawnCollect([...script, ...args], local));
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`attached to running sweep ${id}`);
    expect(r.stdout).toMatch(
      new RegExp(`workers polling istar [1-9]\\d*, ${queues.rollout} 1, ${queues.trainer} 1$`, 'm'),
    );
    expect(r.stdout).not.toContain('No worker polls');
    expect(r.stdout).not.toContain('local worker started');
    const md = readFileSync(path.join(out, 'smoke.md'), 'utf8');
    for (const variant of ['rloo', 'rloopistar'])
      expect(md).toMatch(
        new RegExp(
          `\\| ${id}-${variant}-s0 \\| rloo(\\+istar)? \\| 0 \\| 1 \\| \\d\\.\\d{3} \\| \\d\\.\\d{3} \\| ok \\|`,
        ),
      );
    expect(md).toContain(`Reproduce: \`npm run experiments -- smoke --id ${id} --out ${out} --no-png --set `);
    expect(md).not.toContain('--no-worker');
  }, 600_000);

  it('--so-far writes the table of the runs a running sweep has ended, without a worker; the sweep goes on', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'istar-sofar-'));
    const out = path.join(home, 'results');
    const id = `sofar-${randomUUID().slice(0, 8)}`;
    const local = { ISTAR_HOME: home, ISTAR_ROLLOUT_PROCESSES: '1' };
    const common = ['smoke', '--id', id, '--out', out, '--no-png'];
    // One run at a time, 3 iterations each: the local worker is stopped once the first run has ended, long
    // before the second can, so the sweep is left running with one of its two runs done.
    const sweep = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(root, 'src/cli/experiments.ts'),
        ...common,
        '--max-concurrent',
        '1',
        '--iterations',
        '3',
      ],
      { cwd: root, env: { ...process.env, ...testEnv(), ...local }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    sweep.stdout.on('data', (d: Buffer) => (log += d.toString()));
    sweep.stderr.on('data', (d: Buffer) => (log += d.toString()));
    // The first run's end is read from the server (the test's own client), not from the command's output: how
    // often the command prints depends on its polls, and a tiny run can start and end between two of them. One
    // run at a time, so the second run started means the first has ended.
    const second = t.client.workflow.getHandle(`${id}-rloopistar-s0`);
    const deadline = Date.now() + 300_000;
    while (
      !(await second.describe().then(
        () => true,
        (err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return false; // not started yet
          throw err;
        },
      ))
    ) {
      if (Date.now() > deadline) throw new Error(`the first run did not end in time:\n${log}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect((await t.client.workflow.getHandle(`${id}-rloo-s0`).describe()).status.name).toBe('COMPLETED');
    sweep.kill('SIGINT');
    await new Promise((r) => sweep.once('exit', r));
    // Each progress line names the running runs, with the iterations each has finished once the server has it
    // (a tiny run can start and end between two polls, so which lines appear depends on timing).
    const progressLines = log.split('\n').filter((l) => l.startsWith('experiments: '));
    expect(progressLines.length).toBeGreaterThan(0);
    for (const line of progressLines)
      expect(line).toMatch(
        /^experiments: [0-2]\/2 runs done; running: (-|base( \((SFT|held-out evaluation|starting|recording)[^)]*\))?|(rloo-s0|rloopistar-s0)( \(iteration [0-3]\/[0-3] done\))?)$/,
      );
    try {
      // The table is titled from the command line, so it must describe the sweep as started (how many runs at
      // a time aside).
      const other = experimentsCli([...common, '--so-far'], local);
      expect(other.status).not.toBe(0);
      expect(other.stderr).toContain(
        `sweep ${id} was started with other settings than this command's (base.iterations: 3, this command 1)`,
      );
      const soFar = experimentsCli([...common, '--iterations', '3', '--so-far'], local);
      expect(soFar.status, `${soFar.stdout}\n${soFar.stderr}`).toBe(0);
      expect(soFar.stdout).toContain(`sweep ${id} is running: writing the table of its 1 of 2 ended runs`);
      expect(soFar.stdout).not.toMatch(/local worker started/);
      const md = readFileSync(path.join(out, 'smoke.md'), 'utf8');
      expect(md).toMatch(
        /\*\*So far\*\*: 1 of 2 runs had ended when this was written, and the sweep was still running \(rloopistar-s0\)/,
      );
      expect(md).toMatch(new RegExp(`Shared SFT base \\(${id}-base\\): held-out success \\d\\.\\d{3}`));
      expect(md).toMatch(
        new RegExp(`\\| ${id}-rloo-s0 \\| rloo \\| 0 \\| 3 \\| \\d\\.\\d{3} \\| \\d\\.\\d{3} \\| ok \\|`),
      );
      expect(md).not.toContain(`${id}-rloopistar-s0`);
      expect(md).toContain('Reproduce: `npm run experiments -- smoke --id');
      expect(md).not.toContain('--so-far');
      expect(readFileSync(path.join(out, 'smoke', 'index.html'), 'utf8')).toContain('<html');
      // The sweep was only read: still running, still at one run ended. `istar status` reads it the same way
      // when no worker is there to answer its progress query.
      const handle = t.client.workflow.getHandle(id);
      expect((await handle.describe()).status.name).toBe('RUNNING');
      const status = await istar(['status', id]);
      expect(status.code, status.stderr).toBe(0);
      // How far the running run has got is what it recorded on the server (its iteration search attribute).
      const child = await t.client.workflow.getHandle(`${id}-rloopistar-s0`).describe();
      const finished = child.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.iteration) ?? 0;
      const best = child.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.bestSuccess) ?? '-';
      expect(finished).toBeLessThanOrEqual(3); // a run can have finished its last iteration and still be closing
      expect(status.stdout).toContain(
        `${id}: sweep RUNNING, 1/2 runs done, running: rloopistar-s0 (iteration ${finished}/3 done)`,
      );
      expect(status.stdout).toMatch(/rloo-s0\s+rloo\s+rloo\s+-\s+-\s+0\s+3\s+\d\.\d{3}\s+\d\.\d{3}\s+ok/);
      // The run itself: no worker answers its progress query, so its status comes from the server, promptly.
      const started = Date.now();
      const run = await istar(['status', `${id}-rloopistar-s0`]);
      expect(run.code, run.stderr).toBe(0);
      expect(Date.now() - started).toBeLessThan(40_000);
      expect(run.stdout).toContain(`${id}-rloopistar-s0: RUNNING`);
      expect(run.stdout).toContain(
        `experiment ${id}-rloopistar-s0 | istar on sokoban | iterations finished ${finished} | best held-out success ${best}`,
      );
      expect(run.stdout).toContain('no worker answered the progress query');
      // A sweep that does not exist, or is not running, is named.
      const missing = experimentsCli(['smoke', '--id', `${id}-nope`, '--out', out, '--so-far'], local);
      expect(missing.status).not.toBe(0);
      expect(missing.stderr).toContain(`--so-far: no sweep ${id}-nope on the Temporal server`);
      // Following the sweep with no worker to answer its progress query: the line comes from the server once the
      // query's deadline has passed, and a sweep that ends by termination is named with why.
      const printed: SweepProgress[] = [];
      const following = followSweep(handle, {
        client: t.client,
        sweep: await startedSweep(handle),
        print: (p) => printed.push(p),
      });
      const failed = following.then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      const followDeadline = Date.now() + 60_000;
      while (printed.length === 0 && Date.now() < followDeadline)
        await new Promise((r) => setTimeout(r, 250));
      expect(printed[0]).toMatchObject({ done: 1, total: 2, running: ['rloopistar-s0'] });
      expect(printed[0].rows.map((r) => r.name)).toEqual(['rloo-s0']);
      expect(runningText(printed[0])).toBe(`rloopistar-s0 (iteration ${finished}/3 done)`);
      await handle.terminate('test done');
      expect((await failed)?.message).toBe(`sweep ${id} failed: test done`);
      const terminated = experimentsCli([...common, '--iterations', '3', '--so-far'], local);
      expect(terminated.status).not.toBe(0);
      expect(terminated.stderr).toContain(`--so-far: sweep ${id} is terminated, not running`);
    } finally {
      await t.client.workflow
        .getHandle(id)
        .terminate('test cleanup')
        .catch(() => undefined);
    }
  }, 900_000);
});
