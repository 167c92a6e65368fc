import { describe, expect, it } from 'vitest';
import { parseRunConfig, RunConfigError, runConfigSchema } from '../../src/config/run-config';
import type { SokobanEnv } from '../../src/envs/sokoban/env';
import { generateRoom } from '../../src/envs/sokoban/generate';
import { solve } from '../../src/envs/sokoban/solver';
import { HELD_OUT_SEED_START } from '../../src/envs/types';
import type { WebShopEnv } from '../../src/envs/webshop/env';
import { envOptionsIdentity, runSetup } from '../../src/pipeline';

/** The workflow input's boundary: `{}` (the Temporal UI's Start Workflow form) must start a sensible run. */

describe('parseRunConfig', () => {
  it('accepts {} (and null) as a full iStar-on-Sokoban config with every field filled', () => {
    const config = parseRunConfig({});
    expect(parseRunConfig(null)).toEqual(config);
    expect(parseRunConfig(undefined)).toEqual(config);
    expect(config).toMatchObject({
      env: 'sokoban',
      algorithm: 'istar',
      episodeEstimator: 'rloo',
      variant: 'istar',
      alpha: 1,
      beta: 0.05,
      clipEps: 0.2,
    });
    expect(config.iterations).toBeGreaterThanOrEqual(1);
    expect(config.groupSize).toBeGreaterThanOrEqual(2);
    // Only the fields documented as "default: derived" stay unset.
    const unset = Object.keys(runConfigSchema.shape).filter(
      (k) => config[k as keyof typeof config] === undefined,
    );
    expect(unset.sort()).toEqual(['experimentId', 'maxActionTokens', 'maxSteps', 'resumeFrom']);
    // Validated once: a parsed config parses to itself.
    expect(parseRunConfig(config)).toEqual(config);
  });

  it('names every bad field in one RunConfigError', () => {
    let error: unknown;
    try {
      parseRunConfig({
        groups: -1,
        env: 'minecraft',
        algorithm: 'dqn',
        iterations: 'ten',
        experimentId: '../x',
        foo: 1,
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RunConfigError);
    const { issues } = error as RunConfigError;
    const fields = issues.map((i) => i.split(':')[0]);
    expect(fields).toEqual(
      expect.arrayContaining(['groups', 'env', 'algorithm', 'iterations', 'experimentId']),
    );
    expect(issues).toContain('unknown field "foo"');
    expect(issues.find((i) => i.startsWith('experimentId'))).toContain('..');
  });

  it('envOptions: per-episode product ids on WebShop reach its envs; elsewhere or misspelt they are errors', () => {
    const config = parseRunConfig({ env: 'webshop', envOptions: { productIds: 'per-episode' } });
    expect(config.envOptions).toEqual({ productIds: 'per-episode' });
    expect(parseRunConfig({}).envOptions).toEqual({});
    // runSetup's spec creates every env (rollouts, demonstrations, evaluation) with them.
    const env = runSetup(config).spec.create() as WebShopEnv;
    const fixed = runSetup(parseRunConfig({ env: 'webshop' })).spec.create() as WebShopEnv;
    env.reset(3);
    fixed.reset(3);
    const first = (e: WebShopEnv) => /\[(B\d+)\]/.exec(e.step('search[cotton hoodie]').observation)![1];
    expect(first(env)).not.toBe(first(fixed));
    expect(() => parseRunConfig({ envOptions: { productIds: 'per-episode' } })).toThrow(
      'envOptions.productIds: only the webshop env has product ids (env is sokoban)',
    );
    expect(() => parseRunConfig({ env: 'webshop', envOptions: { productIds: 'shuffled' } })).toThrow(
      'envOptions.productIds:',
    );
    expect(() => parseRunConfig({ env: 'webshop', envOptions: { catalog: 1 } })).toThrow(
      'envOptions: unknown field "catalog"',
    );
  });

  it('invalid-action feedback and invalid demonstration steps: WebShop only, validated, unset leaves the SFT identity', () => {
    const config = parseRunConfig({
      env: 'webshop',
      envOptions: { invalidActionFeedback: true },
      sft: { invalidActionFraction: 0.1 },
    });
    const env = runSetup(config).spec.create() as WebShopEnv;
    env.reset(3);
    expect(env.step('click[nothing]').observation.split('\n')[0]).toBe('Invalid action: click[nothing]');
    expect(config.sft.invalidActionFraction).toBe(0.1);
    // Unset, the sft object has no such key, so stored bases keep their identity (a JSON hash of it).
    expect(Object.keys(parseRunConfig({}).sft)).not.toContain('invalidActionFraction');
    expect(() => parseRunConfig({ envOptions: { invalidActionFeedback: true } })).toThrow(
      'envOptions.invalidActionFeedback: only the webshop env reports invalid actions in its observation (env is sokoban)',
    );
    expect(() => parseRunConfig({ env: 'webshop', envOptions: { invalidActionFeedback: 'yes' } })).toThrow(
      'envOptions.invalidActionFeedback:',
    );
    expect(() => parseRunConfig({ sft: { invalidActionFraction: 2 } })).toThrow('sft.invalidActionFraction:');
  });

  it('envOptions.boxes: levels with that many boxes that the expert solves, Sokoban envs only', () => {
    for (const env of ['sokoban', 'sokoban-visual'] as const) {
      const sokoban = runSetup(parseRunConfig({ env, envOptions: { boxes: 2 } })).spec.create() as SokobanEnv;
      let solutionSteps = 0;
      for (let seed = 0; seed < 8; seed++) {
        sokoban.reset(seed);
        expect(sokoban.currentRoom().boxes).toHaveLength(2);
        let result = { done: false, info: { won: false } };
        while (!result.done) {
          result = sokoban.step(sokoban.expertAction());
          solutionSteps++;
        }
        expect(result.info.won, `seed ${seed}`).toBe(true);
      }
      // Two boxes need longer solutions than one (~8 steps against ~3.5 on average).
      expect(solutionSteps / 8).toBeGreaterThan(5);
      const oneBox = runSetup(parseRunConfig({ env })).spec.create() as SokobanEnv;
      oneBox.reset(0);
      expect(oneBox.currentRoom().boxes).toHaveLength(1);
    }
    expect(() => parseRunConfig({ env: 'social', envOptions: { boxes: 2 } })).toThrow(
      'envOptions.boxes: only the sokoban envs have boxes (env is social)',
    );
    expect(() => parseRunConfig({ envOptions: { boxes: 0 } })).toThrow('envOptions.boxes:');
    expect(() => parseRunConfig({ envOptions: { boxes: 1.5 } })).toThrow('envOptions.boxes:');
  });

  it('envOptions.minTrainMoves: training levels of 7-15 moves only, held-out levels unchanged, Sokoban envs only', () => {
    const config = parseRunConfig({ envOptions: { boxes: 2, minTrainMoves: 7 } });
    const env = runSetup(config).spec.create() as SokobanEnv;
    const plain = runSetup(parseRunConfig({ envOptions: { boxes: 2 } })).spec.create() as SokobanEnv;
    const lengths: number[] = [];
    let replaced = 0;
    for (let seed = 0; seed < 40; seed++) {
      env.reset(seed);
      const room = env.currentRoom();
      lengths.push(solve(room, 15)?.length ?? -1);
      plain.reset(seed);
      if (JSON.stringify(plain.currentRoom()) !== JSON.stringify(room)) replaced++;
      else expect(solve(room, 15)!.length).toBeGreaterThanOrEqual(7); // kept only when it qualifies
      env.reset(seed);
      expect(env.currentRoom(), `seed ${seed} is deterministic`).toEqual(room);
    }
    expect(Math.min(...lengths)).toBeGreaterThanOrEqual(7);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(15);
    // About half of the 2-box levels need fewer than 7 moves (or more than 15), and those are replaced.
    expect(replaced).toBeGreaterThan(10);
    expect(replaced).toBeLessThan(30);
    for (const seed of [HELD_OUT_SEED_START, HELD_OUT_SEED_START + 1, HELD_OUT_SEED_START + 2]) {
      env.reset(seed);
      expect(env.currentRoom()).toEqual(generateRoom(seed, { numBoxes: 2 }));
    }
    expect(() => parseRunConfig({ env: 'webshop', envOptions: { minTrainMoves: 7 } })).toThrow(
      'envOptions.minTrainMoves: only the sokoban envs have solution lengths (env is webshop)',
    );
    expect(() => parseRunConfig({ envOptions: { minTrainMoves: 16 } })).toThrow(
      "envOptions.minTrainMoves: 16 is above the episode's 15 steps",
    );
    expect(() => parseRunConfig({ maxSteps: 10, envOptions: { minTrainMoves: 12 } })).toThrow(
      "envOptions.minTrainMoves: 12 is above the episode's 10 steps",
    );
    expect(() => parseRunConfig({ envOptions: { minTrainMoves: 0 } })).toThrow('envOptions.minTrainMoves:');
  });

  it("maxSteps is every env's episode budget, above the env's own too; training levels then need up to maxSteps moves", () => {
    for (const [env, own] of [
      ['sokoban', 15],
      ['sokoban-visual', 15],
      ['webshop', 10],
      ['social', 10],
    ] as const) {
      expect(runSetup(parseRunConfig({ env })).spec.create().maxSteps, env).toBe(own);
      expect(runSetup(parseRunConfig({ env, maxSteps: 25 })).spec.create().maxSteps, env).toBe(25);
      expect(runSetup(parseRunConfig({ env, maxSteps: 4 })).spec.create().maxSteps, env).toBe(4);
    }
    // A 2-box level that needs 15 moves ends unsolved after 15 wrong ones at the default budget, not at 25.
    const wander = (maxSteps?: number) => {
      const env = runSetup(parseRunConfig({ envOptions: { boxes: 2 }, maxSteps })).spec.create();
      env.reset(HELD_OUT_SEED_START);
      let steps = 0;
      for (let done = false; !done; steps++) done = env.step('up').done;
      return steps;
    };
    expect(wander()).toBe(15);
    expect(wander(25)).toBe(25);
    // minTrainMoves up to the budget: with 25 steps, levels of 16-25 moves are trained on too.
    const long = runSetup(
      parseRunConfig({ envOptions: { boxes: 2, minTrainMoves: 16 }, maxSteps: 25 }),
    ).spec.create();
    for (let seed = 0; seed < 5; seed++) {
      long.reset(seed);
      const moves = solve((long as SokobanEnv).currentRoom(), 25)!.length;
      expect(moves).toBeGreaterThanOrEqual(16);
      expect(moves).toBeLessThanOrEqual(25);
    }
    expect(() => parseRunConfig({ maxSteps: 25, envOptions: { minTrainMoves: 26 } })).toThrow(
      "envOptions.minTrainMoves: 26 is above the episode's 25 steps",
    );
    // The budget is part of an SFT base's identity only when set.
    expect(envOptionsIdentity(parseRunConfig({}))).toEqual([]);
    expect(envOptionsIdentity(parseRunConfig({ maxSteps: 25 }))).toEqual([{ maxSteps: 25 }]);
  });
});
