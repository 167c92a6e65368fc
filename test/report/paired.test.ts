import { describe, expect, it } from 'vitest';
import type { ExperimentData } from '../../src/report/load';
import { pairedTable, resultsTable } from '../../src/report/summary';

/** A run with held-out success `curve` ([iteration, value]) whose final evaluation solved `levels`. */
function run(
  label: string,
  seed: number,
  curve: [number, number][],
  levels: [number, boolean][],
): ExperimentData {
  return {
    id: `${label}-s${seed}`,
    config: {},
    env: 'sokoban',
    algorithm: label,
    seed,
    label,
    iterations: curve.map(([iteration, value]) => ({ iteration, metrics: { 'eval/success_rate': value } })),
    evaluation: {
      iteration: curve.at(-1)![0],
      summary: {},
      episodes: levels.map(([level, success]) => ({ seed: level, success, score: 0, steps: [] })),
    },
    warnings: [],
  };
}

describe('pairedTable: each method against RLOO on the same held-out levels', () => {
  const experiments = [
    run(
      'rloo',
      0,
      [
        [0, 0.45],
        [6, 0.5],
      ],
      [
        [1, true],
        [2, false],
        [3, false],
        [4, true],
      ],
    ),
    run(
      'rloo',
      1,
      [
        [0, 0.45],
        [6, 0.5],
      ],
      [
        [11, true],
        [12, true],
        [13, false],
        [14, false],
      ],
    ),
    // seed 0 solves level 2 as well (gained 1); seed 1 loses level 11 and gains level 13, and level 15 has
    // no RLOO counterpart (not counted).
    run(
      'istar',
      0,
      [
        [0, 0.45],
        [3, 0.5],
        [6, 0.75],
      ],
      [
        [1, true],
        [2, true],
        [3, false],
        [4, true],
      ],
    ),
    run(
      'istar',
      1,
      [
        [0, 0.45],
        [3, 0.55],
        [6, 0.5],
      ],
      [
        [11, false],
        [12, true],
        [13, true],
        [14, false],
        [15, true],
      ],
    ),
    // No RLOO run with seed 5: nothing to pair with.
    run(
      'grpo',
      5,
      [
        [0, 0.45],
        [6, 0.9],
      ],
      [[1, true]],
    ),
  ];

  it('pools levels gained and lost over the common seeds; McNemar z and reaching RLOO computed by hand', () => {
    const rows = pairedTable(experiments);
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row).toMatchObject({
      label: 'istar',
      reference: 'rloo',
      seeds: [0, 1],
      levels: 8,
      gained: 2,
      lost: 1,
    });
    expect(row.z).toBeCloseTo(1 / Math.sqrt(3), 12); // (2 - 1) / sqrt(2 + 1)
    expect(row.difference).toBeCloseTo(1 / 8, 12);
    // RLOO's final mean (0.5 + 0.5) / 2 = 0.5; iStar's seed mean is 0.45 at 0, (0.5 + 0.55) / 2 = 0.525 at 3.
    expect(row.reachesReferenceAt).toBe(3);
  });

  it('a method that never reaches the reference has no iteration; no reference runs, no rows', () => {
    const behind = [
      experiments[0],
      experiments[1],
      run(
        'ppo',
        0,
        [
          [0, 0.45],
          [6, 0.25],
        ],
        [
          [1, false],
          [2, false],
          [3, false],
          [4, false],
        ],
      ),
    ];
    const [row] = pairedTable(behind);
    expect(row).toMatchObject({ label: 'ppo', seeds: [0], levels: 4, gained: 0, lost: 2 });
    expect(row.z).toBeCloseTo(-2 / Math.sqrt(2), 12);
    expect(row.reachesReferenceAt).toBeUndefined();
    expect(pairedTable(experiments.slice(2))).toEqual([]);
  });
});

describe('resultsTable: final held-out success per method over seeds', () => {
  it('lists seeds in order whatever order the runs came in (runs joined from several sweeps), with the sample std', () => {
    // Seed 2 from a later sweep first, as `--with` merges them.
    const rows = resultsTable([
      run('rloo', 2, [[24, 0.227]], []),
      run('rloo', 0, [[24, 0.239]], []),
      run('rloo', 1, [[24, 0.244]], []),
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0].seeds).toEqual([0, 1, 2]);
    expect(rows[0].values).toEqual([0.239, 0.244, 0.227]);
    expect(rows[0].runs).toEqual(['rloo-s0', 'rloo-s1', 'rloo-s2']);
    expect(rows[0].mean).toBeCloseTo(0.23667, 5);
    // sqrt(((0.239 - m)^2 + (0.244 - m)^2 + (0.227 - m)^2) / 2) = 0.008737
    expect(rows[0].std).toBeCloseTo(0.008737, 5);
  });
});
