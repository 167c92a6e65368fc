import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { heldoutGain, pairedWithStored, storedStart } from '../../bench/heldout-gain';
import { evaluationLevels } from '../../src/report/load';
import { configKey, iterationKey } from '../../src/storage/keys';
import { testEnv, testStore } from '../helpers/stack';

const store = testStore();
const id = `heldout-against-${randomUUID().slice(0, 8)}`;
const levels = (seeds: number[], successes: boolean[]) =>
  seeds.map((seed, i) => ({ seed, success: successes[i] }));

describe('bench/heldout-gain: a probe paired with a stored run on the same held-out levels', () => {
  beforeAll(async () => {
    await store.putJson(configKey(id), { algorithm: 'rloo' });
    // The stored run solved levels 13 and 14 of 10-14 at iteration 6 (the evaluate activity's eval.json.gz).
    const episodes = [10, 11, 12, 13, 14].map((seed) => ({ seed, success: seed >= 13, score: 0, steps: [] }));
    await store.putBytes(
      iterationKey(id, 6, 'eval.json.gz'),
      gzipSync(Buffer.from(JSON.stringify({ summary: { successRate: 0.4 }, episodes }))),
    );
  });

  it('reads the seed and success of every stored level', async () => {
    expect(await evaluationLevels(store, id, 6)).toEqual(
      levels([10, 11, 12, 13, 14], [false, false, false, true, true]),
    );
  });

  it('counts the levels the probe gained and lost against the stored run', async () => {
    // The probe solves 10, 11 and 13: gained 10 and 11, lost 14; z = (2 - 1) / sqrt(3) = 0.58.
    const probe = levels([10, 11, 12, 13, 14], [true, true, false, true, false]);
    expect(await pairedWithStored(store, id, 6, probe)).toBe(
      `${id} 0.400: paired on the same levels: 2 gained, 1 lost, McNemar z 0.6`,
    );
  });

  it('says why it cannot pair, without throwing: no evaluation there, other level counts, other levels', async () => {
    const probe = levels([10, 11, 12, 13, 14], [true, true, true, true, true]);
    expect(await pairedWithStored(store, id, 12, probe)).toBe(`${id}: no evaluation at iteration 12`);
    expect(await pairedWithStored(store, id, 6, probe.slice(0, 4))).toMatch(
      /not paired, its evaluation at iteration 6 has 5 levels and the probe's 4/,
    );
    const elsewhere = levels([10, 11, 99, 13, 14], [true, true, true, true, true]);
    expect(await pairedWithStored(store, id, 6, elsewhere)).toMatch(
      /not paired, .* other levels \(level 2: seed 12, the probe's 99;/,
    );
  });

  describe('an experiment that is not in the bucket', () => {
    const saved = { ...process.env };
    afterEach(() => {
      process.env = { ...saved };
    });

    it('is refused before any training starts', async () => {
      Object.assign(process.env, testEnv());
      await expect(heldoutGain({}, 4, undefined, 'no-such-experiment')).rejects.toThrow(
        /no experiment "no-such-experiment" in bucket/,
      );
    });
  });

  describe('where a paired probe starts', () => {
    const resumed = `heldout-resumed-${randomUUID().slice(0, 8)}`;
    const config = { env: 'sokoban', envOptions: { boxes: 2 }, temperature: 0.7, seed: 0 };

    it('starts from the checkpoint the stored run started from, and names the fields where they differ', async () => {
      await store.putJson(configKey(resumed), {
        ...config,
        envOptions: { boxes: 2, minTrainMoves: 7 },
        resumeFrom: { experimentId: 'some-sweep-base', iteration: 0 },
      });
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      try {
        expect(await storedStart(store, resumed, config)).toEqual({
          experimentId: 'some-sweep-base',
          iteration: 0,
        });
        const lines = log.mock.calls.map((c) => String(c[0]));
        expect(lines[0]).toBe(
          `note: the probe differs from ${resumed} in envOptions ({"boxes":2}, stored {"boxes":2,"minTrainMoves":7})`,
        );
        expect(lines[1]).toBe(`starting from some-sweep-base at iteration 0, where ${resumed} started`);
      } finally {
        log.mockRestore();
      }
    });

    it('falls back to the cached base when the stored run trained its own', async () => {
      // The stored config of the suite above has no resumeFrom and only `algorithm`, which is not compared.
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      try {
        expect(await storedStart(store, id, config)).toBeUndefined();
        expect(log).not.toHaveBeenCalled();
      } finally {
        log.mockRestore();
      }
    });
  });
});
