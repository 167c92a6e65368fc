import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBatch } from '../../src/algo/batch-codec';
import type { RolloutBatch } from '../../src/algo/batch';
import { runCli } from '../../src/cli/commands';
import { buildReport, writeReport, type Report } from '../../src/report';
import { chartSpecs } from '../../src/report/charts';
import { startDashboard } from '../../src/report/dashboard';
import { configKey, iterationKey, reportKey } from '../../src/storage/keys';
import type { ArtifactStore } from '../../src/storage/store';
import { testEnv, testStore } from '../helpers/stack';

/**
 * Synthetic experiments, 2 algorithms x 2 seeds, written straight to the real MinIO. Held-out success is
 * evaluated at iterations 0 and 3 of 0..4, so "final" is iteration 3's value:
 *   istar: seeds 0.5 and 0.75 -> mean 0.625, sample std sqrt(2 x 0.125^2 / 1) = 0.1768
 *   rloo:  seeds 0.25 and 0.45 -> mean 0.35,  sample std sqrt(2 x 0.1^2 / 1)   = 0.1414
 */
const run = randomUUID().slice(0, 8);
const id = (algorithm: string, seed: number) => `report-${run}-${algorithm}-s${seed}`;
const FINAL: Record<string, number> = {
  [id('istar', 0)]: 0.5,
  [id('istar', 1)]: 0.75,
  [id('rloo', 0)]: 0.25,
  [id('rloo', 1)]: 0.45,
};
const ISTAR = [id('istar', 0), id('istar', 1)];
const ALL = Object.keys(FINAL);
const HOSTILE_ACTION = '<script>alert(1)</script>';
const BOARD = '#####\n#@$.#\n# < #\n#####';

const gz = (value: unknown) => gzipSync(Buffer.from(JSON.stringify(value)));

async function writeExperiment(store: ArtifactStore, algorithm: string, seed: number): Promise<void> {
  const eid = id(algorithm, seed);
  await store.putJson(configKey(eid), {
    experimentId: eid,
    env: 'sokoban',
    algorithm,
    variant: 'istar',
    seed,
    iterations: 4,
    alpha: 1,
    beta: 0.05,
  });
  for (let it = 0; it <= 4; it++) {
    const metrics: Record<string, number> = {
      iteration: it,
      'rollout/success_rate': 0.1 * it + 0.05 * seed,
      'rollout/score': it,
      'rollout/return': 0.2 * it - 0.5,
      'rollout/episode_length': 15 - it,
      'policy/loss': 1 / (it + 1),
    };
    if (algorithm === 'istar' && it > 0) {
      metrics['prm/accuracy'] = 0.5 + 0.1 * it;
      metrics['prm/heldout_accuracy'] = 0.45 + 0.1 * it;
      metrics['prm/margin'] = 0.02 * it;
      metrics['prm/loss'] = 0.7 - 0.1 * it;
      metrics['istar/step_reward_mean'] = 0.01 * it;
    }
    if (it === 0) metrics['eval/success_rate'] = 0.9; // higher than the final one: "final" is not "best"
    if (it === 3) metrics['eval/success_rate'] = FINAL[eid];
    await store.putJson(iterationKey(eid, it, 'metrics.json'), metrics);
  }
  await store.putBytes(
    iterationKey(eid, 3, 'eval.json.gz'),
    gz({
      summary: { episodes: 1, successRate: FINAL[eid] },
      episodes: [
        {
          seed: 1000 + seed,
          success: true,
          score: 1,
          steps: [
            { observation: BOARD, action: HOSTILE_ACTION, reward: -0.1, valid: false },
            { observation: BOARD.replace('@$', ' @'), action: 'right', reward: 1, valid: true },
          ],
        },
      ],
    }),
  );
  if (algorithm === 'istar' && seed === 0) {
    const step = (text: string, reward: number) => ({
      context: [1, 2, 3],
      action: [4, 5],
      oldLogProbs: [-0.5, -0.25],
      envReward: reward,
      valid: true,
      anchor: text,
      observationText: text,
      actionText: 'push up',
    });
    const batch: RolloutBatch = {
      groups: [
        {
          groupId: 'g0',
          taskSeed: 77,
          trajectories: [
            {
              steps: [step('train a', 0), step('train b', 1)],
              outcomeReward: 1,
              success: true,
              score: 1,
              length: 2,
            },
            {
              steps: [step('train c', 0), step('train d', 0)],
              outcomeReward: 0,
              success: false,
              score: 0,
              length: 2,
            },
          ],
        },
      ],
    };
    await store.putBytes(iterationKey(eid, 4, 'rollouts/shard-000.bin'), encodeBatch(batch));
    await store.putBytes(
      iterationKey(eid, 4, 'advantages.json.gz'),
      gz({
        advantages: [
          [
            [
              [0.5, 1.5],
              [2, 2],
            ],
            [
              [-1, -1],
              [-3, -1],
            ],
          ],
        ],
        stepRewards: [
          [
            [0.25, -0.125],
            [-0.5, 0.75],
          ],
        ],
        metrics: {},
      }),
    );
  }
}

let store: ArtifactStore;
let report: Report;
let tmp: string;

beforeAll(async () => {
  store = testStore();
  await store.ensureBucket();
  for (const algorithm of ['istar', 'rloo'])
    for (const seed of [0, 1]) await writeExperiment(store, algorithm, seed);
  report = await buildReport(store, ALL, { now: new Date('2025-01-02T03:04:05Z') });
  tmp = await mkdtemp(path.join(tmpdir(), 'istar-report-'));
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('istar report', () => {
  it('loads every run with its metrics, latest evaluation and scored training rollouts', () => {
    expect(report.experiments.map((e) => [e.id, e.label, e.seed, e.iterations.length])).toEqual(
      ALL.map((eid) => [eid, eid.includes('istar') ? 'istar' : 'rloo', eid.endsWith('s1') ? 1 : 0, 5]),
    );
    const first = report.experiments[0];
    expect(first.evaluation?.iteration).toBe(3);
    expect(first.training?.iteration).toBe(4);
    expect(first.training?.trajectories.map((t) => [t.rollout, t.outcomeReward])).toEqual([
      [0, 1],
      [1, 0],
    ]);
    // Mean token advantage per step: (0.5 + 1.5) / 2 = 1, (-3 + -1) / 2 = -2.
    expect(first.training?.trajectories[0].steps.map((s) => [s.stepReward, s.advantage])).toEqual([
      [0.25, 1],
      [-0.125, 2],
    ]);
    expect(first.training?.trajectories[1].steps[1]).toMatchObject({ stepReward: 0.75, advantage: -2 });
    expect(report.warnings).toEqual([]);
  });

  it('gives final held-out success as mean ± sample std over seeds, computed by hand', () => {
    expect(report.results.map((r) => [r.env, r.label, r.runs.length])).toEqual([
      ['sokoban', 'istar', 2],
      ['sokoban', 'rloo', 2],
    ]);
    expect(report.results[0].mean).toBeCloseTo(0.625, 12);
    expect(report.results[0].std).toBeCloseTo(Math.sqrt(2 * 0.125 ** 2), 12);
    expect(report.results[1].mean).toBeCloseTo(0.35, 12);
    expect(report.results[1].std).toBeCloseTo(Math.sqrt(2 * 0.1 ** 2), 12);
    const cells = [...report.html.matchAll(/<td class="num result">([^<]*)<\/td>/g)].map((m) => m[1]);
    expect(cells).toEqual(['0.625 ± 0.177', '0.350 ± 0.141']);
    // Against RLOO on the same levels: each seed's one held-out level is solved by both (nothing gained or
    // lost); iStar's seed mean at iteration 0 (0.9) is already above RLOO's final mean (0.35).
    expect(report.paired).toEqual([
      {
        label: 'istar',
        env: 'sokoban',
        reference: 'rloo',
        seeds: [0, 1],
        levels: 2,
        gained: 0,
        lost: 0,
        z: 0,
        difference: 0,
        reachesReferenceAt: 0,
      },
    ]);
    expect(report.html).toContain('<h3>Against rloo on the same held-out levels</h3>');
    expect(report.html).toContain('<td class="num paired">+0.000</td>');
  });

  it('charts every recorded metric with a per-method mean and min-max band over seeds', () => {
    expect(report.charts.map((c) => c.name)).toEqual([
      'held-out-success',
      'rollout-success',
      'score',
      'return',
      'episode-length',
      'prm-accuracy',
      'prm-heldout-accuracy',
      'prm-margin',
      'policy-loss',
      'prm-loss',
      'step-vs-episode-reward',
      'per-run-success',
    ]);
    const spec = chartSpecs(report.experiments).find((c) => c.name === 'held-out-success')!.spec as {
      layer: { data: { values: Record<string, unknown>[] } }[];
    };
    expect(spec.layer[0].data.values).toContainEqual({
      label: 'istar',
      iteration: 3,
      mean: 0.625,
      min: 0.5,
      max: 0.75,
      n: 2,
    });
    expect(spec.layer[0].data.values).toContainEqual({
      label: 'rloo',
      iteration: 0,
      mean: 0.9,
      min: 0.9,
      max: 0.9,
      n: 2,
    });
    for (const chart of report.charts) {
      expect(chart.svg, chart.name).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      expect(chart.svg, chart.name).toMatch(/<path [^>]*d="M[-\d.]+,[-\d.]+L/);
      expect(report.html).toContain(chart.svg);
    }
    // Clip-path ids stay unique once every SVG is inlined in one page.
    const ids = [...report.html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('exports every chart as a PNG', () => {
    expect(Object.keys(report.pngs)).toEqual(report.charts.map((c) => c.name));
    for (const [name, png] of Object.entries(report.pngs)) {
      expect([...png.subarray(0, 8)], name).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      expect(png.length, name).toBeGreaterThan(2000);
    }
  });

  it('escapes observations and actions in the trajectory viewer and colours steps by their reward', () => {
    const { html } = report;
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain(HOSTILE_ACTION);
    expect(html).toContain('#####\n#@$.#\n# &lt; #\n#####');
    expect(html.match(/<script>/g)).toHaveLength(1); // only the viewer's own
    // Training trajectory 0: step rewards 0.25 and -0.125, scaled by 0.25 -> full green, half red.
    expect(html).toContain('step reward 0.2500 · advantage 1.0000');
    expect(html).toContain('style="background: rgba(46, 160, 67, 0.700)" title="step 1: step reward 0.2500"');
    expect(html).toContain(
      'style="background: rgba(214, 48, 49, 0.350)" title="step 2: step reward -0.1250"',
    );
    expect(html).toContain('invalid action');
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/); // self-contained: no external resources
  });

  it('names a missing experiment, and one without iterations', async () => {
    await expect(buildReport(store, [ALL[0], `report-${run}-missing`], { png: false })).rejects.toThrow(
      `experiment "report-${run}-missing" has no config.json`,
    );
    await store.putJson(configKey(`report-${run}-empty`), { algorithm: 'rloo' });
    await expect(buildReport(store, [`report-${run}-empty`], { png: false })).rejects.toThrow(
      `experiment "report-${run}-empty" has no iterations/<n>/metrics.json`,
    );
    await expect(buildReport(store, ['../etc'], { png: false })).rejects.toThrow(/invalid experiment id/);
  });

  it("starts a run from a shared base at the base's evaluation, which is never the run's result", async () => {
    // The base evaluated 0.4 at iteration 0 (with an SFT loss that is no evaluation); run A (from it) evaluated
    // 0.55 at iteration 2; run B (from it) has recorded iteration 1 but no evaluation of its own yet.
    const base = `report-${run}-base`;
    const from = { experimentId: base, iteration: 0 };
    await store.putJson(configKey(base), { algorithm: 'sft', seed: 0 });
    await store.putJson(iterationKey(base, 0, 'metrics.json'), {
      iteration: 0,
      'sft/loss': 0.6,
      'eval/success_rate': 0.4,
      'eval/score': 40,
    });
    const [a, b] = [`report-${run}-from-a`, `report-${run}-from-b`];
    await store.putJson(configKey(a), { algorithm: 'rloo', seed: 0, resumeFrom: from });
    await store.putJson(configKey(b), { algorithm: 'rloo', seed: 1, resumeFrom: from });
    await store.putJson(iterationKey(a, 1, 'metrics.json'), { iteration: 1, 'rollout/success_rate': 0.3 });
    await store.putJson(iterationKey(a, 2, 'metrics.json'), { iteration: 2, 'eval/success_rate': 0.55 });
    await store.putJson(iterationKey(b, 1, 'metrics.json'), { iteration: 1, 'rollout/success_rate': 0.2 });
    const r = await buildReport(store, [a, b], { png: false });
    const [ra, rb] = r.experiments;
    expect(ra.startedFrom).toEqual(from);
    expect(ra.iterations.map((i) => [i.iteration, i.metrics])).toEqual([
      [0, { 'eval/success_rate': 0.4, 'eval/score': 40 }],
      [1, { 'rollout/success_rate': 0.3 }],
      [2, { 'eval/success_rate': 0.55 }],
    ]);
    // The results count only each run's own evaluations: A's 0.55; B has none (not the base's 0.4).
    expect(r.results.map((x) => [x.label, x.runs, x.values])).toEqual([['rloo', [a], [0.55]]]);
    expect(rb.iterations[0]).toEqual({
      iteration: 0,
      metrics: { 'eval/success_rate': 0.4, 'eval/score': 40 },
    });
    const heldOut = r.charts.find((c) => c.name === 'held-out-success')!;
    expect(JSON.stringify(heldOut.spec)).toContain('"iteration":0');
    // Axis labels as numbers are written: iterations as integers, rates without padding zeros.
    const labels = [...heldOut.svg.matchAll(/>(-?[0-9.]+)<\/text>/g)].map((m) => m[1]);
    expect(labels).toContain('0');
    expect(labels).toContain('2');
    expect(labels.filter((l) => /\.\d*0$/.test(l))).toEqual([]);
    // A source that is gone: a warning, and the curves start at iteration 1.
    const c = `report-${run}-from-gone`;
    await store.putJson(configKey(c), {
      algorithm: 'rloo',
      resumeFrom: { experimentId: `report-${run}-nope`, iteration: 3 },
    });
    await store.putJson(iterationKey(c, 1, 'metrics.json'), { iteration: 1, 'eval/success_rate': 0.1 });
    const rc = await buildReport(store, [c], { png: false });
    expect(rc.experiments[0].iterations.map((i) => i.iteration)).toEqual([1]);
    expect(rc.warnings.join('\n')).toContain(
      `started from report-${run}-nope iteration 3, whose metrics.json could not be read`,
    );
  });

  it('writes index.html and PNGs locally, and a single run also to S3', async () => {
    const single = await buildReport(store, [ISTAR[0]]);
    const written = await writeReport(store, single, { outDir: path.join(tmp, 'single') });
    expect(await readFile(written.htmlPath, 'utf8')).toBe(single.html);
    expect(written.pngPaths.map((p) => path.basename(p))).toContain('held-out-success.png');
    expect(written.s3Key).toBe(reportKey(ISTAR[0]));
    expect((await store.getBytes(reportKey(ISTAR[0]))).toString('utf8')).toBe(single.html);
    expect(await store.exists(`experiments/${ISTAR[0]}/report/held-out-success.png`)).toBe(true);

    const several = await writeReport(store, report, { outDir: path.join(tmp, 'several') });
    expect(several.s3Key).toBeUndefined();
  });

  it('istar report <experiment...> --out --no-png writes the report', async () => {
    const env = testEnv();
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    const log: string[] = [];
    const original = console.log;
    console.log = (line: string) => void log.push(line);
    try {
      const out = path.join(tmp, 'cli');
      expect(await runCli(['report', ...ALL, '--out', out, '--no-png'])).toBe(0);
      expect(await readFile(path.join(out, 'index.html'), 'utf8')).toContain('0.625 ± 0.177');
      expect(log.join('\n')).toContain('sokoban istar: held-out success 0.625 ± 0.177 over 2 seeds');
      expect(log.join('\n')).toContain(
        'sokoban istar vs rloo on the same levels (seeds 0, 1): 0 gained, 0 lost, McNemar z 0.0',
      );
      expect(await runCli(['report', `report-${run}-nothing`, '--out', out])).toBe(1);
    } finally {
      console.log = original;
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('istar dashboard lists the experiments and renders a report on request', async () => {
    const dashboard = await startDashboard(store, { port: 0, reportsDir: tmp });
    try {
      const index = await (await fetch(dashboard.url)).text();
      for (const eid of ALL) expect(index).toContain(`href="/report?id=${eid}"`);
      expect(index).toContain('href="/saved/single/index.html"');
      const compare = await fetch(`${dashboard.url}report?id=${ALL[2]}&id=${ALL[3]}`);
      expect(compare.status).toBe(200);
      expect(await compare.text()).toContain('<td class="num result">0.350 ± 0.141</td>');
      const missing = await fetch(`${dashboard.url}report?id=report-${run}-missing`);
      expect(missing.status).toBe(404);
      expect(await missing.text()).toContain(
        `experiment &quot;report-${run}-missing&quot; has no config.json`,
      );
      const saved = await fetch(`${dashboard.url}saved/single/index.html`);
      expect(saved.headers.get('content-type')).toContain('text/html');
      expect((await fetch(`${dashboard.url}saved/..%2fsecret`)).status).toBe(403);
    } finally {
      await dashboard.close();
    }
  });
});
