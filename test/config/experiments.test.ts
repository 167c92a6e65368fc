import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { launchOrder, parseSweep, sweepCells } from '../../src/config/sweep-config';
import {
  asRun,
  extendedSince,
  joinedRuns,
  joinedSweeps,
  mergeSweepRows,
  reproduceCommand,
  resultsMarkdown,
  rowsToExtend,
  storedRow,
  suiteSweep,
  sweepArgs,
  sweepDifferences,
} from '../../src/experiments/results';
import type { SweepRow } from '../../workflows/sweep';
import { findSuite, SUITES } from '../../src/experiments/suites';
import { methodLabel } from '../../src/report/load';
import { parseRunConfig } from '../../src/config/run-config';

describe('experiment suites', () => {
  it('every suite is a valid sweep; the paper suites are 8 methods x 3 seeds from one shared base', () => {
    const sizes = Object.fromEntries(
      SUITES.map((s) => [s.name, sweepCells(parseSweep(s.sweep), `x-${s.name}`).length]),
    );
    expect(sizes).toEqual({
      sokoban: 24,
      'sokoban-visual': 24,
      webshop: 24,
      social: 24,
      ablations: 15,
      'sokoban-quick': 6,
      'sokoban-2boxes': 6,
      smoke: 2,
    });
    const cells = sweepCells(parseSweep(findSuite('sokoban').sweep), 'exp');
    expect(new Set(cells.map((c) => c.variant))).toEqual(
      new Set(['rloo', 'grpo', 'reinforce++', 'gigpo', 'prime', 'ppo', 'rloo+istar', 'grpo+istar']),
    );
    expect(cells.every((c) => c.config.resumeFrom?.experimentId === 'exp-base')).toBe(true);
    expect(new Set(cells.map((c) => c.config.iterations))).toEqual(new Set([12]));
    expect(new Set(cells.map((c) => [c.config.temperature, c.config.temperedLogProbs].join()))).toEqual(
      new Set(['0.4,true']),
    );
    const grpoIstar = cells.find((c) => c.variant === 'grpo+istar')!;
    expect([grpoIstar.config.algorithm, grpoIstar.config.episodeEstimator]).toEqual(['istar', 'grpo']);
    expect(() => findSuite('chess')).toThrow(/unknown suite "chess"; one of: sokoban,/);
  });

  it('command-line overrides change iterations, seeds and concurrency only', () => {
    const sweep = suiteSweep(findSuite('sokoban-quick'), { iterations: 4, seeds: [7], maxConcurrent: 1 });
    const cells = sweepCells(parseSweep(sweep), 'q');
    expect(cells.map((c) => [c.name, c.config.iterations, c.config.seed])).toEqual([
      ['rloo-s7', 4, 7],
      ['rloopistar-s7', 4, 7],
    ]);
    expect(sweep.maxConcurrent).toBe(1);
    expect(findSuite('sokoban-quick').sweep.base?.iterations).toBe(12); // the suite itself is untouched
  });

  it('sokoban-2boxes runs what findings 45-46 ran: sokoban-quick with 2 boxes, a 3,000-episode base, alpha 0.5, rollouts at 0.7, 24 iterations', () => {
    const configs = (sweep: ReturnType<typeof suiteSweep>) =>
      sweepCells(parseSweep(sweep), 'exp').map((c) => ({ name: c.name, config: c.config }));
    const suite = configs(suiteSweep(findSuite('sokoban-2boxes'), {}));
    const asRun = configs(
      suiteSweep(findSuite('sokoban-quick'), {
        iterations: 24,
        set: { envOptions: { boxes: 2 }, alpha: 0.5, sft: { episodes: 3000 }, temperature: 0.7 },
      }),
    );
    expect(suite).toEqual(asRun);
    const istar = suite.find((c) => c.name === 'rloopistar-s0')!.config;
    expect([
      istar.envOptions?.boxes,
      istar.alpha,
      istar.iterations,
      istar.evalEvery,
      istar.sft?.episodes,
      istar.temperature,
      istar.evalTemperature,
      istar.temperedLogProbs,
    ]).toEqual([2, 0.5, 24, 6, 3000, 0.7, 0.4, true]);
    // finding 44's runs (rollouts at the evaluation's 0.4) are one --set away
    const finding44 = configs(suiteSweep(findSuite('sokoban-2boxes'), { set: { temperature: 0.4 } }));
    expect(finding44.find((c) => c.name === 'rloo-s0')!.config.temperature).toBe(0.4);
    // null unsets a suite field, nested ones too, and the run config's default applies
    const unset = configs(
      suiteSweep(findSuite('sokoban-2boxes'), {
        set: { alpha: null, envOptions: { boxes: null, minTrainMoves: 7 } },
      }),
    );
    const plain = unset.find((c) => c.name === 'rloopistar-s0')!.config;
    expect(plain.alpha).toBe(parseRunConfig({}).alpha);
    expect(plain.alpha).not.toBe(0.5);
    expect(plain.envOptions).toEqual({ minTrainMoves: 7 });
    expect(plain.temperature).toBe(0.7); // the rest of the suite stays
  });

  it('--variants runs a named subset of the suite and names unknown variants', () => {
    const sweep = suiteSweep(findSuite('webshop'), { variants: ['rloo+istar', 'rloo'], seeds: [0] });
    expect(sweepCells(parseSweep(sweep), 'w').map((c) => [c.variant, c.config.algorithm])).toEqual([
      ['rloo', 'rloo'],
      ['rloo+istar', 'istar'],
    ]);
    expect(findSuite('webshop').sweep.variants).toHaveLength(8);
    expect(() => suiteSweep(findSuite('webshop'), { variants: ['rloo', 'dqn'] })).toThrow(
      /suite webshop has no variant dqn; its variants: rloo, grpo,/,
    );
  });

  it('--set merges run-config fields into the suite base (objects field by field); bad ones are named', () => {
    const sweep = suiteSweep(findSuite('webshop'), {
      seeds: [0],
      variants: ['rloo'],
      set: { envOptions: { productIds: 'per-episode' }, model: { dModel: 96 }, policyLr: 3e-5 },
    });
    const [cell] = sweepCells(parseSweep(sweep), 'w');
    expect(cell.config.envOptions).toEqual({ productIds: 'per-episode' });
    // The suite's other model fields stay: only dModel is replaced.
    expect(cell.config.model).toEqual({ contextLength: 384, copyHead: true, dModel: 96 });
    expect(cell.config.policyLr).toBe(3e-5);
    expect(findSuite('webshop').sweep.base?.envOptions).toBeUndefined(); // the suite itself is untouched
    expect(() =>
      sweepCells(
        parseSweep(
          suiteSweep(findSuite('sokoban-quick'), { set: { envOptions: { productIds: 'per-episode' } } }),
        ),
        'q',
      ),
    ).toThrow(/base\.envOptions\.productIds: only the webshop env has product ids \(env is sokoban\)/);
    expect(() =>
      sweepCells(parseSweep(suiteSweep(findSuite('sokoban-quick'), { set: { polcyLr: 1 } })), 'q'),
    ).toThrow(/base: unknown field "polcyLr"/);
  });

  it("--base-from: every run starts from the sweep's own base, a copy of the named one; bad ids are named", () => {
    const sweep = parseSweep(
      suiteSweep(findSuite('webshop'), { seeds: [0], baseFrom: 'experiments-webshop-base' }),
    );
    expect(sweep.baseFrom).toBe('experiments-webshop-base');
    expect(sweep.sharedBase).toBe(true);
    // baseFrom alone implies the shared base.
    expect(parseSweep({ baseFrom: 'old-base' }).sharedBase).toBe(true);
    expect(parseSweep({}).sharedBase).toBe(false);
    const cells = sweepCells(sweep, 'w2');
    expect(new Set(cells.map((c) => c.config.resumeFrom?.experimentId))).toEqual(new Set(['w2-base']));
    expect(() => parseSweep({ baseFrom: '../etc' })).toThrow(/baseFrom/);
    expect(() => sweepCells(parseSweep({ baseFrom: 'w2-base' }), 'w2')).toThrow(
      /baseFrom: w2-base is this sweep's own base experiment/,
    );
  });

  it('variants: duplicate names and bad variant fields are named', () => {
    const variants = [
      { name: 'a', config: { algorithm: 'rloo' } },
      { name: 'a', config: { algorithm: 'grpo' } },
    ];
    expect(() => sweepCells(parseSweep({ variants }), 'p')).toThrow(/variants: duplicate name a/);
    expect(() =>
      sweepCells(parseSweep({ variants: [{ name: 'bad', config: { algorithm: 'chess' } }] }), 'p'),
    ).toThrow(/variants\.bad\.algorithm/);
    expect(() => parseSweep({ variants: [{ name: '../x' }] })).toThrow(/variants\.0\.name/);
  });

  it('GRPO + iStar gets its own method label in reports', () => {
    expect(methodLabel('istar', 'istar', 'rloo')).toBe('istar');
    expect(methodLabel('istar', undefined, 'grpo')).toBe('grpo+istar');
    expect(methodLabel('istar', 'process-only', 'rloo')).toBe('istar/process-only');
    expect(methodLabel('rloo', undefined, 'grpo')).toBe('rloo');
  });

  it('the results markdown has the base, the mean ± std table, every run and the plots', () => {
    const md = resultsMarkdown({
      suite: findSuite('sokoban-quick'),
      command: 'npm run experiments -- sokoban-quick',
      rows: [
        {
          name: 'base',
          variant: 'sft-base',
          algorithm: 'sft',
          seed: 0,
          workflowId: 'w',
          experimentId: 'e-base',
          status: 'completed',
          iterations: 0,
          finalSuccess: 0.25,
          bestSuccess: 0.25,
        },
        {
          name: 'rloo-s0',
          variant: 'rloo',
          algorithm: 'rloo',
          seed: 0,
          workflowId: 'w-r',
          experimentId: 'e-rloo-s0',
          status: 'completed',
          iterations: 10,
          finalSuccess: 0.5,
          bestSuccess: 0.5,
        },
        {
          name: 'rloo-s1',
          variant: 'rloo',
          algorithm: 'rloo',
          seed: 1,
          workflowId: 'w-r1',
          experimentId: 'e-rloo-s1',
          status: 'failed',
          error: 'boom',
        },
      ],
      results: [
        {
          label: 'rloo',
          env: 'sokoban',
          runs: ['e-rloo-s0'],
          seeds: [0, 2],
          values: [0.5, 0.3],
          mean: 0.4,
          std: 0.1414,
        },
      ],
      paired: [
        {
          label: 'istar',
          env: 'sokoban',
          reference: 'rloo',
          seeds: [0, 1],
          levels: 2048,
          gained: 150,
          lost: 120,
          z: 30 / Math.sqrt(270),
          difference: 30 / 2048,
          reachesReferenceAt: 6,
        },
        {
          label: 'ppo',
          env: 'sokoban',
          reference: 'rloo',
          seeds: [0],
          levels: 4,
          gained: 0,
          lost: 2,
          z: -1.414,
          difference: -0.5,
        },
      ],
      wallSeconds: 3600,
      charts: ['held-out-success'],
      measuredAt: new Date('2026-11-24T12:00:00Z'),
    });
    expect(md).toContain('Reproduce: `npm run experiments -- sokoban-quick`');
    expect(md).toContain('Shared SFT base (e-base): held-out success 0.250.');
    expect(md).toContain('| rloo | 0, 2 | 0.400 ± 0.141 | 0.500, 0.300 |');
    expect(md).toContain('| e-rloo-s1 | rloo | 1 | - | - | - | failed: boom |');
    expect(md).toContain(
      "| method | seeds | levels | gained | lost | difference | McNemar z | reaches rloo's final at iteration |",
    );
    expect(md).toContain('| istar | 0, 1 | 2048 | 150 | 120 | +0.015 | 1.8 | 6 |');
    expect(md).toContain('| ppo | 0 | 4 | 0 | 2 | -0.500 | -1.4 | - |');
    expect(md).toContain('wall time 60 min');
    expect(md).toContain('![held-out-success](sokoban-quick/held-out-success.png)');
  });

  it('the reproduce command quotes JSON and spaces, so a shell parses it back to the same arguments', () => {
    const args = [
      'sokoban-visual',
      '--set',
      '{"alpha":0.5,"envOptions":{"a b":1}}',
      '--seeds',
      '0,1',
      '--variants',
      'rloo,rloo+istar',
      "it's",
      '$HOME',
    ];
    const command = reproduceCommand(args);
    expect(command).toBe(
      `npm run experiments -- sokoban-visual --set '{"alpha":0.5,"envOptions":{"a b":1}}' --seeds 0,1 --variants rloo,rloo+istar "it's" \\$HOME`,
    );
    expect(reproduceCommand(['sokoban-quick'])).toBe('npm run experiments -- sokoban-quick');
    // What bash hands npm after `npm run experiments --` is exactly the original argv.
    const tail = command.slice('npm run experiments -- '.length);
    const parsed = execFileSync('bash', ['-c', `printf '%s\\n' ${tail}`], { encoding: 'utf8' });
    expect(parsed.trimEnd().split('\n')).toEqual(args);
  });

  it("the heading says what the sweep ran, not the suite's plan, when the command line narrowed it", () => {
    const suite = findSuite('sokoban-visual');
    const args = {
      suite,
      rows: [],
      results: [],
      wallSeconds: 60,
      charts: [],
      measuredAt: new Date('2026-12-04T12:00:00Z'),
    };
    const narrowed = suiteSweep(suite, { variants: ['rloo', 'rloo+istar'], seeds: [0, 1, 2], iterations: 5 });
    expect(asRun(narrowed)).toBe('rloo vs rloo+istar x 3 seeds, 5 iterations');
    const md = resultsMarkdown({ ...args, command: 'c', sweep: narrowed });
    expect(md.split('\n')[0]).toBe('# sokoban-visual: rloo vs rloo+istar x 3 seeds, 5 iterations');
    expect(md).toContain(`Part of the suite (${suite.description}), as the command below selected.`);
    expect(asRun(suiteSweep(suite, { seeds: [0] }))).toBe('8 methods x 1 seed, 12 iterations');
    const full = resultsMarkdown({ ...args, command: 'c', sweep: suiteSweep(suite, {}) });
    expect(full.split('\n')[0]).toBe(`# sokoban-visual: ${suite.description}`);
    expect(full).not.toContain('Part of the suite');
  });

  it('a sweep starts its cells seed by seed, keeping the grid order within a seed', () => {
    const cells = sweepCells(parseSweep({ algorithms: ['rloo', 'grpo', 'istar'], seeds: [2, 0] }), 'o');
    expect(cells.map((c) => c.name)).toEqual([
      'rloo-s2',
      'rloo-s0',
      'grpo-s2',
      'grpo-s0',
      'istar-s2',
      'istar-s0',
    ]);
    expect(launchOrder(cells).map((c) => c.name)).toEqual([
      'rloo-s2',
      'grpo-s2',
      'istar-s2',
      'rloo-s0',
      'grpo-s0',
      'istar-s0',
    ]);
  });

  describe('--with: one table from several sweeps of a suite', () => {
    const row = (
      variant: string,
      seed: number,
      status: 'completed' | 'failed',
      exp: string,
      final?: number,
    ): SweepRow => ({
      name: `${variant}-s${seed}`,
      variant,
      algorithm: variant,
      seed,
      workflowId: `w-${exp}`,
      experimentId: exp,
      status,
      ...(status === 'completed'
        ? { iterations: 12, finalSuccess: final ?? 0.5, bestSuccess: final ?? 0.5 }
        : { error: 'terminated' }),
    });
    const main = {
      id: 'experiments-sokoban',
      rows: [
        row('sft-base', 0, 'completed', 'main-base', 0.654),
        row('rloo', 0, 'completed', 'main-rloo-s0', 0.7),
        row('grpo+istar', 0, 'failed', 'main-gi-s0'),
        row('grpo+istar', 1, 'failed', 'main-gi-s1'),
      ],
    };

    it("another sweep's completed runs replace failed ones and add missing ones; its base row is dropped", () => {
      const other = {
        id: 'extra',
        rows: [
          row('sft-base', 0, 'completed', 'extra-base', 0.654),
          row('grpo+istar', 0, 'completed', 'extra-gi-s0', 0.71),
          row('grpo+istar', 1, 'failed', 'extra-gi-s1'),
          row('grpo+istar', 2, 'completed', 'extra-gi-s2', 0.69),
        ],
      };
      const merged = mergeSweepRows(main, [other]);
      expect(merged.map((r) => `${r.experimentId}:${r.status}`)).toEqual([
        'main-base:completed',
        'main-rloo-s0:completed',
        'extra-gi-s0:completed',
        'main-gi-s1:failed', // still failed in both: the main sweep's row stays
        'extra-gi-s2:completed',
      ]);
    });

    it('a sweep from another SFT base, or the same run completed twice, is refused with the reason', () => {
      expect(() =>
        mergeSweepRows(main, [{ id: 'other-base', rows: [row('sft-base', 0, 'completed', 'b', 0.6)] }]),
      ).toThrow(
        'sweep other-base did not start from the same SFT base as experiments-sokoban (base held-out success 0.600 vs 0.654)',
      );
      expect(() =>
        mergeSweepRows(main, [
          {
            id: 'again',
            rows: [row('sft-base', 0, 'completed', 'b', 0.654), row('rloo', 0, 'completed', 'again-rloo-s0')],
          },
        ]),
      ).toThrow('rloo seed 0 completed in two sweeps (main-rloo-s0 and again-rloo-s0)');
    });

    it('<sweepId>:<variant> joins only that variant of a sweep, so runs of the same variant with other settings stay out', () => {
      const suite = findSuite('sokoban-quick');
      expect(joinedSweeps(suite, ['a', 'b:rloo', 'c:rloo', 'c:rloo+istar', 'c:rloo', 'd:rloo', 'd'])).toEqual(
        [
          { id: 'a' },
          { id: 'b', variants: ['rloo'] },
          { id: 'c', variants: ['rloo', 'rloo+istar'] },
          { id: 'd' }, // named whole once: all of it
        ],
      );
      expect(() => joinedSweeps(suite, ['b:gigpo'])).toThrow(
        '--with b:gigpo: suite sokoban-quick has no variant gigpo; its variants: rloo, rloo+istar',
      );
      expect(() => joinedSweeps(suite, ['b:'])).toThrow(
        '--with b:: expected <sweepId> or <sweepId>:<variant>',
      );
      expect(() => joinedSweeps(suite, [':rloo'])).toThrow(
        '--with :rloo: expected <sweepId> or <sweepId>:<variant>',
      );

      // The alpha 0.5 sweep (iStar, seeds 0 and 1) with a seed-2 sweep of both methods and the RLOO runs of
      // a sweep whose iStar runs had alpha 1: without the variant those would collide with the alpha 0.5 runs.
      const base = row('sft-base', 0, 'completed', 'half-base', 0.197);
      const half = {
        id: 'half',
        rows: [
          base,
          row('rloo+istar', 0, 'completed', 'half-i0', 0.257),
          row('rloo+istar', 1, 'completed', 'half-i1', 0.258),
        ],
      };
      const seed2 = {
        id: 's2',
        rows: [
          base,
          row('rloo', 2, 'completed', 's2-r2', 0.227),
          row('rloo+istar', 2, 'completed', 's2-i2', 0.237),
        ],
      };
      const first = {
        id: 'first',
        rows: [
          base,
          row('rloo', 0, 'completed', 'first-r0', 0.239),
          row('rloo+istar', 0, 'completed', 'first-i0', 0.212),
          row('rloo', 1, 'completed', 'first-r1', 0.244),
          row('rloo+istar', 1, 'completed', 'first-i1', 0.218),
        ],
      };
      expect(() => mergeSweepRows(half, [seed2, first])).toThrow(
        'rloo+istar seed 0 completed in two sweeps (half-i0 and first-i0)',
      );
      const merged = mergeSweepRows(half, [seed2, { ...first, variants: ['rloo'] }]);
      expect(merged.map((r) => r.experimentId)).toEqual([
        'half-base',
        'half-i0',
        'half-i1',
        's2-r2',
        's2-i2',
        'first-r0',
        'first-r1',
      ]);
      expect(joinedRuns({ ...first, variants: ['rloo'] }).map((r) => r.experimentId)).toEqual([
        'first-r0',
        'first-r1',
      ]);
      // The heading names the joined variants and seeds, not only the command's (rloo+istar, seeds 0 and 1).
      const md = resultsMarkdown({
        suite,
        command: 'c',
        rows: merged,
        results: [],
        wallSeconds: 600,
        sweeps: ['half', 's2', 'first'].map((id) => ({ id, wallSeconds: 200 })),
        charts: [],
        measuredAt: new Date('2026-12-06T18:00:00Z'),
        sweep: suiteSweep(suite, { variants: ['rloo+istar'], seeds: [0, 1], iterations: 24 }),
      });
      expect(md.split('\n')[0]).toBe('# sokoban-quick: rloo vs rloo+istar x 3 seeds, 24 iterations');
      expect(() =>
        mergeSweepRows(half, [
          { ...seed2, rows: [base, row('rloo', 2, 'failed', 's2-r2')], variants: ['rloo'] },
        ]),
      ).toThrow('--with s2:rloo: sweep s2 has no completed rloo run (its completed runs: none)');
    });

    it("the results markdown gives each sweep's wall time", () => {
      const md = resultsMarkdown({
        suite: findSuite('sokoban'),
        command: 'npm run experiments -- sokoban --with extra',
        rows: main.rows,
        results: [],
        wallSeconds: 9000,
        sweeps: [
          { id: 'experiments-sokoban', wallSeconds: 7200 },
          { id: 'extra', wallSeconds: 1800 },
        ],
        charts: [],
        measuredAt: new Date('2026-12-03T12:00:00Z'),
      });
      expect(md).toContain('wall time 150 min (experiments-sokoban 120 min, extra 30 min).');
    });

    it('the heading counts the seeds of the joined runs, not only those of the command', () => {
      const one = (seed: number, exp: string) => ({ ...row('grpo+istar', seed, 'completed', exp, 0.4) });
      const rows = mergeSweepRows(
        { id: 's2', rows: [row('sft-base', 0, 'completed', 's2-base', 0.273), one(2, 's2-gi')] },
        [
          { id: 's0', rows: [row('sft-base', 0, 'completed', 's0-base', 0.273), one(0, 's0-gi')] },
          { id: 's1', rows: [row('sft-base', 0, 'completed', 's1-base', 0.273), one(1, 's1-gi')] },
        ],
      );
      const md = (sweeps?: { id: string; wallSeconds: number }[]) =>
        resultsMarkdown({
          suite: findSuite('social'),
          command: 'npm run experiments -- social --variants grpo+istar --seeds 2 --with s0,s1',
          rows,
          results: [],
          wallSeconds: 600,
          sweeps,
          charts: [],
          measuredAt: new Date('2026-12-06T10:00:00Z'),
          sweep: suiteSweep(findSuite('social'), { variants: ['grpo+istar'], seeds: [2] }),
        });
      expect(
        md([
          { id: 's2', wallSeconds: 200 },
          { id: 's0', wallSeconds: 200 },
          { id: 's1', wallSeconds: 200 },
        ]),
      ).toMatch(/^# social: grpo\+istar x 3 seeds, 8 iterations\n/);
      // One sweep: the command's own seeds.
      expect(md(undefined)).toMatch(/^# social: grpo\+istar x 1 seed, 8 iterations\n/);
    });
  });

  describe('--so-far: the table of a running sweep', () => {
    const row = (name: string, variant: string, seed: number, status: 'completed' | 'failed' = 'completed') =>
      ({
        name,
        variant,
        algorithm: variant === 'sft-base' ? 'sft' : 'rloo',
        seed,
        workflowId: `w-${name}`,
        experimentId: `e-${name}`,
        status,
        iterations: 8,
        finalSuccess: 0.3,
        bestSuccess: 0.3,
      }) as SweepRow;

    it('the table says how far the sweep had got, and its reproduce line is the sweep without --so-far', () => {
      expect(sweepArgs(['social', '--so-far', '--no-png'])).toEqual(['social', '--no-png']);
      const suite = findSuite('social');
      const args = {
        suite,
        command: reproduceCommand(sweepArgs(['social', '--so-far'])),
        rows: [row('base', 'sft-base', 0), row('rloo-s0', 'rloo', 0)],
        results: [],
        wallSeconds: 3600,
        charts: [],
        measuredAt: new Date('2026-12-06T06:00:00Z'),
        sweep: suiteSweep(suite, {}),
      };
      const md = resultsMarkdown({ ...args, soFar: { done: 9, total: 24, running: ['rloo-s1', 'grpo-s1'] } });
      expect(md).toContain(
        '**So far**: 9 of 24 runs had ended when this was written, and the sweep was still running (rloo-s1, grpo-s1)',
      );
      expect(md).toContain('Reproduce: `npm run experiments -- social`');
      expect(md.split('\n')[0]).toBe(`# social: ${suite.description}`);
      expect(resultsMarkdown(args)).not.toContain('So far');
    });

    it('names every field where a sweep as started differs from the command line, how many at a time aside', () => {
      const suite = findSuite('social');
      const started = parseSweep(suiteSweep(suite, {}));
      expect(sweepDifferences(started, parseSweep(suiteSweep(suite, { maxConcurrent: 6 })))).toEqual([]);
      expect(
        sweepDifferences(
          started,
          parseSweep(suiteSweep(suite, { iterations: 6, seeds: [0], variants: ['rloo'] })),
        ),
      ).toEqual([
        'base.iterations: 8, this command 6',
        `variants: ${JSON.stringify(started.variants)}, this command ${JSON.stringify(started.variants!.slice(0, 1))}`,
        'seeds: [0,1,2], this command [0]',
      ]);
      expect(
        sweepDifferences(started, parseSweep(suiteSweep(suite, { set: { envOptions: { partner: 'llm' } } }))),
      ).toEqual(['base.envOptions: unset, this command {"partner":"llm"}']);
    });
  });

  describe('--extend-to: a table at more iterations', () => {
    const row = (name: string, status: 'completed' | 'failed', iterations?: number): SweepRow => ({
      name,
      variant: name === 'base' ? 'sft-base' : name.replace(/-s\d$/, ''),
      algorithm: 'rloo',
      seed: 0,
      workflowId: `sweep-${name}`,
      experimentId: `sweep-${name}`,
      status,
      iterations,
      ...(status === 'completed' ? { finalSuccess: 0.6, bestSuccess: 0.6 } : { error: 'terminated' }),
    });
    const rows = [
      row('base', 'completed', 0),
      row('rloo-s0', 'completed', 24),
      row('rloopistar-s0', 'completed', 48),
      row('grpo-s0', 'failed'),
    ];

    it('extends the completed runs below n; the base, failed runs and runs already at n stay', () => {
      expect(rowsToExtend(rows, 48).map((r) => r.name)).toEqual(['rloo-s0']);
      expect(rowsToExtend(rows.slice(0, 2), 30).map((r) => r.name)).toEqual(['rloo-s0']);
    });

    it('a run above n, or a table without a completed run, is refused with the reason', () => {
      expect(() => rowsToExtend(rows, 36)).toThrow(
        '--extend-to 36: sweep-rloopistar-s0 has 48 iterations already; extend to at least 48',
      );
      expect(() => rowsToExtend([rows[0], rows[3]], 48)).toThrow(
        '--extend-to 48: the table has no completed run to extend',
      );
    });

    it('names the runs that storage holds more iterations of than their rows say', () => {
      const stored = new Map([
        ['sweep-rloo-s0', 48],
        ['sweep-rloopistar-s0', 48],
        ['sweep-base', 0],
      ]);
      expect(extendedSince(rows, stored)).toEqual([
        { experimentId: 'sweep-rloo-s0', iterations: 24, stored: 48 },
      ]);
      expect(extendedSince(rows, new Map([['sweep-rloo-s0', 24]]))).toEqual([]);
    });

    it('a run another workflow extended to n: its row at n from its stored metrics; beyond n, refused', () => {
      // Evaluated at 0, 12 and 24 (0.55, 0.62, 0.60); iterations in between recorded no evaluation.
      const metrics = new Map<number, Record<string, number>>([
        [0, { 'eval/success_rate': 0.55 }],
        [12, { 'eval/success_rate': 0.62, 'policy/loss': 0.1 }],
        [13, { 'policy/loss': 0.2 }],
        [24, { 'eval/success_rate': 0.6 }],
      ]);
      expect(storedRow(rows[1], 24, metrics)).toEqual({
        ...rows[1],
        iterations: 24,
        finalSuccess: 0.6,
        bestSuccess: 0.62,
      });
      // No evaluation at n: no final success, as the run's own result would say.
      const unevaluated = new Map([...metrics, [25, { 'policy/loss': 0.3 }]]);
      expect(storedRow(rows[1], 25, unevaluated)).toMatchObject({
        iterations: 25,
        finalSuccess: null,
        bestSuccess: 0.62,
      });
      expect(() => storedRow(rows[1], 12, metrics)).toThrow(
        '--extend-to 12: sweep-rloo-s0 has 24 iterations stored (its run was extended by another workflow); extend to at least 24',
      );
    });
  });
});
