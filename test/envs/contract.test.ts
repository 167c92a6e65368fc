import { describe, expect, it } from 'vitest';
import { collectDemonstrations } from '../../src/envs/demonstrations';
import { EnvRegistry, envRegistry, getEnvSpec } from '../../src/envs/registry';
import { HELD_OUT_SEED_START } from '../../src/envs/types';
import { MALFORMED_ACTIONS } from './malformed';

const NAMES = ['social', 'sokoban', 'sokoban-visual', 'webshop'];

describe('env registry', () => {
  it('lists the four built-in envs and names the valid ones on an unknown lookup', () => {
    expect(envRegistry.names()).toEqual(NAMES);
    expect(() => getEnvSpec('sokobam')).toThrow(
      /Unknown env "sokobam"\. Valid names: social, sokoban, sokoban-visual, webshop/,
    );
  });

  it('refuses duplicates and overlapping seed ranges', () => {
    const r = new EnvRegistry();
    r.register(getEnvSpec('sokoban'));
    expect(() => r.register(getEnvSpec('sokoban'))).toThrow(/already registered/);
    expect(() =>
      r.register({ ...getEnvSpec('webshop'), name: 'bad', heldOutSeeds: { start: 10, end: 20 } }),
    ).toThrow(/overlap/);
  });
});

describe.each(NAMES)('env contract: %s', (name) => {
  const spec = getEnvSpec(name);

  it('has disjoint train/held-out seeds with held-out >= 2**16', () => {
    expect(spec.heldOutSeeds.start).toBeGreaterThanOrEqual(HELD_OUT_SEED_START);
    expect(spec.trainSeeds.end).toBeLessThanOrEqual(spec.heldOutSeeds.start);
    expect(spec.trainSeeds.start).toBeLessThan(spec.trainSeeds.end);
  });

  it('never throws on malformed actions; they are invalid steps', () => {
    const env = spec.create();
    for (const bad of [
      ...MALFORMED_ACTIONS,
      undefined as unknown as string,
      null as unknown as string,
      42 as unknown as string,
    ]) {
      env.reset(spec.heldOutSeeds.start + 1);
      const r = env.step(bad);
      expect(r.info.valid).toBe(false);
      expect(typeof r.observation).toBe('string');
      expect(Number.isFinite(r.reward)).toBe(true);
    }
  });

  it('is deterministic per seed: observations, instruction, anchor, admissible actions, expert', () => {
    const a = spec.create();
    const b = spec.create();
    for (const seed of [spec.trainSeeds.start + 3, spec.heldOutSeeds.start + 3]) {
      expect(a.reset(seed)).toBe(b.reset(seed));
      expect(a.instruction()).toBe(b.instruction());
      for (let t = 0; t < 3; t++) {
        expect(a.anchor()).toBe(b.anchor());
        expect(a.admissibleActions()).toEqual(b.admissibleActions());
        const act = a.expertAction();
        expect(act).toBe(b.expertAction());
        expect(a.step(act)).toEqual(b.step(act));
      }
    }
    expect(a.maxSteps).toBeGreaterThan(0);
    expect(a.admissibleActions().length).toBeGreaterThan(0);
    expect(a.image !== undefined).toBe(name === 'sokoban-visual');
  });

  it('gives deterministic vocabulary texts', () => {
    const v = spec.vocabularyTexts();
    expect(v.length).toBeGreaterThan(5);
    expect(spec.vocabularyTexts()).toEqual(v);
  });

  it('demonstrations: the expert succeeds, random actions weaken it, deterministic', () => {
    const pure = collectDemonstrations(spec, { episodes: 60, seed: 1 });
    const noisy = collectDemonstrations(spec, { episodes: 60, seed: 1, randomActionFraction: 0.8 });
    const rate = (d: typeof pure) => d.filter((e) => e.won).length / d.length;
    console.log(
      `[demonstrations] ${name}: success pure expert ${rate(pure).toFixed(2)}, with 80% random actions ${rate(noisy).toFixed(2)}`,
    );
    // WebShop's expert acts on the page only (it cannot see hidden attributes): about 3/4 of goals.
    expect(rate(pure)).toBeGreaterThan(name === 'webshop' ? 0.6 : 0.9);
    expect(rate(noisy)).toBeLessThan(rate(pure));
    expect(collectDemonstrations(spec, { episodes: 60, seed: 1, randomActionFraction: 0.8 })).toEqual(noisy);
    for (const d of noisy) {
      expect(d.observations.length).toBe(d.actions.length + 1);
      expect(d.rewards.length).toBe(d.actions.length);
      expect(d.seed).toBeGreaterThanOrEqual(spec.trainSeeds.start);
      expect(d.seed).toBeLessThan(spec.trainSeeds.end);
      expect(d.instruction.length).toBeGreaterThan(0);
    }
    expect(noisy.some((d) => d.expert.includes(false))).toBe(true);
    expect(() => collectDemonstrations(spec, { episodes: 1, randomActionFraction: 2 })).toThrow(
      /randomActionFraction/,
    );
  });
});
