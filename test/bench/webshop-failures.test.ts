import { describe, expect, it } from 'vitest';
import { goalIdOf, webshopFailures, type EvalEpisode } from '../../bench/webshop-failures';
import { WebShopEnv } from '../../src/envs/webshop/env';
import { makeGoal } from '../../src/envs/webshop/goals';
import { getCatalog } from '../../src/envs/webshop/catalog';

const results =
  '[Back to Search]\nPage 1 (Total results: 50)\n[B10001] oak desk | $99.00\n[B10002] pine desk | $89.00';

describe('webshopFailures', () => {
  it('counts invalid actions, off-page product clicks with the goal on the page, and stuck episodes', () => {
    const episodes: EvalEpisode[] = [
      {
        seed: 1, // goal B10001, on the page: clicks B99999 twice (stuck), then the goal
        success: true,
        steps: [
          { observation: 'search page', action: 'search[oak desk]', valid: true },
          { observation: results, action: 'click[B99999]', valid: false },
          { observation: results, action: 'click[B99999]', valid: false },
          { observation: results, action: 'click[B10001]', valid: true },
        ],
      },
      {
        seed: 2, // goal B20000, not on the page: an off-page click, a bad option click, no repeat
        success: false,
        steps: [
          { observation: results, action: 'click[B88888]', valid: false },
          { observation: results, action: 'click[silver]', valid: false },
          { observation: results, action: 'click[B88888]', valid: false },
        ],
      },
    ];
    const goals: Record<number, string> = { 1: 'B10001', 2: 'B20000' };
    expect(webshopFailures(episodes, (seed) => goals[seed])).toEqual({
      episodes: 2,
      successes: 1,
      steps: 7,
      invalid: 5,
      clicksOffPage: 4,
      goalOnPage: 2,
      stuckEpisodes: 1,
    });
  });

  it("finds the goal under the id its episode showed: the catalog's, or the episode's own", () => {
    const seed = 2 ** 16 + 3;
    expect(goalIdOf()(seed)).toBe(makeGoal(getCatalog(), seed).asin);
    const shown = goalIdOf('per-episode')(seed);
    expect(shown).not.toBe(makeGoal(getCatalog(), seed).asin);
    // Clicking the shown id on a results page that lists the goal opens the goal product.
    const env = new WebShopEnv({ productIds: 'per-episode' });
    env.reset(seed);
    const page = env.step(env.expertAction()).observation;
    expect(page).toContain(`[${shown}]`);
    const item = env.step(`click[${shown}]`).observation;
    expect(item).toContain(getCatalog().byAsin.get(env.currentGoal().asin.toLowerCase())!.title);
  });
});
