import { describe, expect, it } from 'vitest';
import * as envs from '../../src/envs';
import { createRng, hashString, mixSeed } from '../../src/envs/prng';

describe('seeded PRNG', () => {
  it('same seed -> same stream; different seeds differ', () => {
    const a = createRng(42);
    const b = createRng(42);
    const xs = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs);
    expect(createRng(43).next()).not.toBe(xs[0]);
    expect(mixSeed(1, 2)).not.toBe(mixSeed(2, 1));
    expect(hashString('abc')).toBe(hashString('abc'));
  });

  it('is roughly uniform in [0, 1) and int(n) covers 0..n-1', () => {
    const rng = createRng(7);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const x = rng.next();
      expect(x >= 0 && x < 1).toBe(true);
      counts[rng.int(10)]++;
    }
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    const shuffled = rng.shuffle([1, 2, 3, 4, 5]);
    expect([...shuffled].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(() => rng.pick([])).toThrow(/empty/);
  });

  it('the package index re-exports the public API', () => {
    expect(Object.keys(envs)).toEqual(
      expect.arrayContaining([
        'envRegistry',
        'getEnvSpec',
        'EnvRegistry',
        'collectDemonstrations',
        'createRng',
        'HELD_OUT_SEED_START',
        'SokobanEnv',
        'WebShopEnv',
        'SocialEnv',
        'sokoban',
        'webshop',
        'social',
      ]),
    );
  });
});
