import { describe, expect, it } from 'vitest';
import { BASE_SEED, baseCacheFile } from '../../bench/learn-probe';
import { QUICKSTART } from '../../src/experiments/suites';

describe('bench/learn-probe: the cached SFT base', () => {
  it('is one base for every RL seed and setting, trained with BASE_SEED', () => {
    const seed0 = baseCacheFile({ ...QUICKSTART, seed: 0 });
    const seed1 = baseCacheFile({ ...QUICKSTART, seed: 1, alpha: 0.5, iterations: 24 });
    expect(seed1.file).toBe(seed0.file);
    expect(seed1.setup.config.seed).toBe(BASE_SEED);
    expect(seed0.setup.config.seed).toBe(BASE_SEED);
  });

  it('is a different base when the SFT, model or environment settings differ', () => {
    const base = baseCacheFile(QUICKSTART).file;
    const sft = QUICKSTART.sft as Record<string, unknown>;
    expect(baseCacheFile({ ...QUICKSTART, sft: { ...sft, epochs: 1 } }).file).not.toBe(base);
    expect(baseCacheFile({ ...QUICKSTART, envOptions: { boxes: 2 } }).file).not.toBe(base);
    expect(baseCacheFile({ ...QUICKSTART, historyLength: 2 }).file).not.toBe(base);
  });
});
