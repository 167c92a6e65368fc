import * as fuzz from 'fuzzball';
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/envs/prng';
import { CATEGORIES, GENERIC_FEATURES } from '../../src/envs/webshop/categories';
import { getCatalog, type Product } from '../../src/envs/webshop/catalog';
import {
  INVALID_ACTION_PREFIX,
  WebShopEnv,
  parseWebShopAction,
  webshopSpec,
  type WebShopOptions,
} from '../../src/envs/webshop/env';
import { parseInstruction, visibleExpertAction } from '../../src/envs/webshop/expert';
import { expertQuery, isHeldOutProduct, makeGoal } from '../../src/envs/webshop/goals';
import { typeReward, webshopReward, type Goal } from '../../src/envs/webshop/reward';
import { MALFORMED_ACTIONS } from './malformed';

const HELD_OUT = Array.from({ length: 500 }, (_, i) => 2 ** 16 + i);

const shoe: Product = {
  asin: 'B10001',
  category: 'shoes',
  noun: 'running shoes',
  brand: 'Acme',
  name: 'lightweight running shoes',
  title: 'Acme lightweight running shoes',
  attributes: ['lightweight', 'non slip', 'arch support'],
  options: { size: ['8', '9'], color: ['black', 'white'] },
  price: 49.99,
  rating: 4.5,
  description: 'The Acme running shoes comes with: lightweight, non slip and arch support.',
  features: ['Lightweight', 'Non slip', 'Arch support'],
  reviews: ['5 stars: Would buy again.'],
};
const goal: Goal = {
  asin: 'B10001',
  category: 'shoes',
  name: 'lightweight running shoes',
  attributes: ['lightweight', 'non slip'],
  options: { size: '9', color: 'black' },
  priceLimit: 60,
  instruction:
    'i need running shoes that is lightweight and non slip, with size: 9 and color: black, and price lower than 60.00 dollars',
};

describe('webshop reward (hand-computed)', () => {
  it('all match = 1', () => {
    expect(webshopReward(shoe, ['9', 'black'], goal)).toMatchObject({
      r: 1,
      rType: 1,
      attributeMatches: 2,
      optionMatches: 2,
      priceOk: true,
    });
  });
  it('one wrong option = (2 + 1 + 1) / 5', () => {
    expect(webshopReward(shoe, ['8', 'black'], goal).r).toBeCloseTo(4 / 5);
    expect(webshopReward(shoe, [], goal).r).toBeCloseTo(3 / 5);
  });
  it('over the price limit = (2 + 2 + 0) / 5', () => {
    expect(webshopReward({ ...shoe, price: 75 }, ['9', 'black'], goal).r).toBeCloseTo(4 / 5);
  });
  it('missing attribute, matched by fuzzy token-set or verbatim text', () => {
    const plain = { ...shoe, attributes: ['lightweight'], features: ['Lightweight'], description: 'Plain.' };
    expect(webshopReward(plain, ['9', 'black'], goal).r).toBeCloseTo(4 / 5);
    const inText = { ...plain, description: 'Totally non slip outsole.' };
    expect(webshopReward(inText, ['9', 'black'], goal).r).toBeCloseTo(1);
    expect(webshopReward({ ...plain, attributes: ['slip non'] }, ['9', 'black'], goal).r).toBeCloseTo(1);
  });
  it('wrong type: no shared noun gives r_type 0, partial overlap 0.5/1', () => {
    const pan = { ...shoe, name: 'nonstick frying pan', title: 'Acme nonstick frying pan' };
    expect(typeReward(pan.name, goal.name)).toBe(0);
    expect(webshopReward(pan, ['9', 'black'], goal).r).toBe(0);
    expect(typeReward('lightweight hiking boots', 'lightweight running shoes')).toBeLessThan(1);
    expect(typeReward('trail running shoes', 'lightweight running shoes')).toBe(1);
  });
});

describe('webshop catalog', () => {
  it('builds >= 1,000 products over >= 10 categories fast and deterministically', () => {
    const t0 = performance.now();
    const c = getCatalog(7);
    const ms = performance.now() - t0;
    console.log(`[webshop] catalog build (seed 7): ${ms.toFixed(0)} ms, ${c.products.length} products`);
    expect(ms).toBeLessThan(2000);
    expect(c.products.length).toBeGreaterThanOrEqual(1000);
    expect(new Set(c.products.map((p) => p.category)).size).toBeGreaterThanOrEqual(10);
    expect(new Set(c.products.map((p) => p.asin)).size).toBe(c.products.length);
    const again = getCatalog(0);
    expect(getCatalog(0)).toBe(again);
    expect(c.products[0].title).not.toBe(again.products[0].title);
    for (const p of c.products) {
      expect(p.price).toBeGreaterThan(0);
      expect(Object.keys(p.options).length).toBeGreaterThan(0);
      expect(p.features.length).toBeGreaterThan(0);
      expect(p.reviews.length).toBeGreaterThan(0);
    }
  });

  it('attributes and option values of a category never fuzzy-match each other', () => {
    for (const cat of CATEGORIES) {
      const pairs = (xs: string[]) =>
        xs.flatMap((a) => xs.filter((b) => b !== a).map((b) => [a, b] as const));
      for (const [a, b] of pairs(cat.attributes)) {
        expect(fuzz.token_set_ratio(a, b), `${cat.name}: ${a} ~ ${b}`).toBeLessThanOrEqual(85);
        expect(a.includes(b), `${cat.name}: ${b} inside ${a}`).toBe(false);
      }
      for (const values of Object.values(cat.options)) {
        for (const [a, b] of pairs(values))
          expect(fuzz.token_set_ratio(a, b), `${cat.name}: ${a} ~ ${b}`).toBeLessThanOrEqual(85);
      }
      for (const g of GENERIC_FEATURES)
        for (const a of cat.attributes) expect(g.toLowerCase().includes(a)).toBe(false);
    }
  });

  it('train and held-out goals come from disjoint products', () => {
    const c = getCatalog(0);
    for (let s = 0; s < 300; s++)
      expect(isHeldOutProduct(c.byAsin.get(makeGoal(c, s).asin.toLowerCase())!)).toBe(false);
    for (const s of HELD_OUT.slice(0, 300))
      expect(isHeldOutProduct(c.byAsin.get(makeGoal(c, s).asin.toLowerCase())!)).toBe(true);
    expect(makeGoal(c, 70_001)).toEqual(makeGoal(c, 70_001));
  });

  it("the expert's query finds the goal product in the top 50 for 500 held-out goals", () => {
    const c = getCatalog(0);
    let found = 0;
    for (const s of HELD_OUT) {
      const g = makeGoal(c, s);
      if (c.search(expertQuery(g, c), 50).some((p) => p.asin === g.asin)) found++;
    }
    console.log(`[webshop] expert query finds the target in the top 50: ${found}/${HELD_OUT.length}`);
    expect(found).toBe(HELD_OUT.length);
  });
});

function runEpisodes(
  policy: (env: WebShopEnv) => string,
  options: WebShopOptions = {},
): { success: number; score: number } {
  const env = new WebShopEnv(options);
  let wins = 0;
  let score = 0;
  for (const s of HELD_OUT) {
    env.reset(s);
    let r = env.step(policy(env));
    while (!r.done) r = env.step(policy(env));
    if (r.info.won) wins++;
    score += r.info.score;
  }
  return { success: wins / HELD_OUT.length, score: score / HELD_OUT.length };
}

describe('webshop policies over 500 held-out goals', () => {
  it('oracle >= 95% success; the visible-information expert 70-85% with a score above 90; random far below', () => {
    const oracle = runEpisodes((env) => env.oracleAction());
    const expert = runEpisodes((env) => env.expertAction());
    const rng = createRng(42);
    const random = runEpisodes((env) => rng.pick(env.admissibleActions()));
    const pct = (r: { success: number; score: number }) =>
      `${(100 * r.success).toFixed(1)}% score ${r.score.toFixed(1)}`;
    console.log(`[webshop] oracle ${pct(oracle)}; expert ${pct(expert)}; random ${pct(random)}`);
    expect(oracle.success).toBeGreaterThanOrEqual(0.95);
    expect(expert.success).toBeGreaterThan(0.7);
    expect(expert.success).toBeLessThan(0.85); // it cannot see the hidden attributes: RL has room above it
    expect(expert.score).toBeGreaterThan(90);
    expect(random.success).toBeLessThan(expert.success / 5);
  });
});

describe('webshop per-episode product ids', () => {
  const rows = (observation: string) =>
    [...observation.matchAll(/^\[(B\d+)\] (.*) \| /gm)].map((m) => [m[1], m[2]]);

  it('show the same products under ids drawn per episode: fixed within it, another set in the next', () => {
    const fixed = new WebShopEnv();
    const shuffled = new WebShopEnv({ productIds: 'per-episode' });
    const ids = new Set(getCatalog().products.map((p) => p.asin));
    let differing = 0;
    for (const seed of [3, 4, 2 ** 16 + 7]) {
      const a = rows((fixed.reset(seed), fixed.step('search[cotton hoodie]').observation));
      shuffled.reset(seed);
      const first = shuffled.step('search[cotton hoodie]').observation;
      const b = rows(first);
      // Same results, same order and titles; the ids are catalog ids, one per product, mostly not its own.
      expect(b.map((r) => r[1])).toEqual(a.map((r) => r[1]));
      expect(new Set(b.map((r) => r[0])).size).toBe(b.length);
      for (const [id] of b) expect(ids.has(id)).toBe(true);
      differing += b.filter((r, i) => r[0] !== a[i][0]).length;
      // Within the episode the ids stay: back to search and the same query show the same page.
      shuffled.step('click[back to search]');
      expect(shuffled.step('search[cotton hoodie]').observation).toBe(first);
      // The same seed again draws the same ids (episodes are reproducible).
      shuffled.reset(seed);
      expect(shuffled.step('search[cotton hoodie]').observation).toBe(first);
    }
    expect(differing).toBeGreaterThanOrEqual(29); // of 30 rows, a fixed point of a 1,200-permutation is rare
    shuffled.reset(5);
    const five = rows(shuffled.step('search[cotton hoodie]').observation);
    shuffled.reset(3);
    const three = rows(shuffled.step('search[cotton hoodie]').observation);
    expect(five.map((r) => r[1])).toEqual(three.map((r) => r[1]));
    expect(five.map((r) => r[0])).not.toEqual(three.map((r) => r[0]));
  });

  it('a shown id opens its product; the catalog id of another product is an invalid click', () => {
    const fixed = new WebShopEnv();
    const env = new WebShopEnv({ productIds: 'per-episode' });
    fixed.reset(8);
    const [catalogId, title] = rows(fixed.step('search[cotton hoodie]').observation)[0];
    env.reset(8);
    const page = env.step('search[cotton hoodie]').observation;
    const [shownId] = rows(page)[0];
    expect(shownId).not.toBe(catalogId);
    expect(page).not.toContain(`[${catalogId}]`);
    const wrong = env.step(`click[${catalogId}]`);
    expect(wrong.info.valid).toBe(false);
    expect(wrong.observation).toBe(page);
    const item = env.step(`click[${shownId.toLowerCase()}]`);
    expect(item.info.valid).toBe(true);
    expect(item.observation).toContain(title);
    expect(item.observation).toContain('[Buy Now]');
  });

  it('the expert and the oracle do as well as with catalog ids (same goals and rewards)', () => {
    const expert = runEpisodes((env) => env.expertAction(), { productIds: 'per-episode' });
    const fixedExpert = runEpisodes((env) => env.expertAction());
    const oracle = runEpisodes((env) => env.oracleAction(), { productIds: 'per-episode' });
    expect(expert).toEqual(fixedExpert);
    expect(oracle.success).toBeGreaterThanOrEqual(0.95);
  });

  it('an unknown productIds value is an error naming it', () => {
    expect(() => new WebShopEnv({ productIds: 'random' as never })).toThrow(
      'webshop: productIds must be one of catalog, per-episode, got "random"',
    );
  });
});

describe('webshop invalid-action feedback', () => {
  it('off by default: an invalid action leaves the page as it was; on: the next observation says so', () => {
    for (const feedback of [false, true]) {
      const env = new WebShopEnv(feedback ? { invalidActionFeedback: true } : {});
      env.reset(8);
      const page = env.step('search[cotton hoodie]').observation;
      const wrong = env.step('click[B00000 not here]');
      expect(wrong.info.valid).toBe(false);
      expect(wrong.observation).toBe(
        feedback ? `${INVALID_ACTION_PREFIX} click[B00000 not here]\n${page}` : page,
      );
      // The anchor (GiGPO's state) and the expert see the page only.
      expect(env.anchor()).toBe(page);
      expect(env.expertAction()).toBe((env.reset(8), env.step('search[cotton hoodie]'), env.expertAction()));
      // Malformed text, newlines folded and cut at 60 characters, or nothing at all.
      env.step('click[B00000]');
      const long = env.step(`say\n${'x'.repeat(100)}`).observation;
      expect(long.split('\n')[0]).toBe(
        feedback ? `${INVALID_ACTION_PREFIX} say ${'x'.repeat(56)}` : page.split('\n')[0],
      );
      expect(env.step('').observation.split('\n')[0]).toBe(
        feedback ? `${INVALID_ACTION_PREFIX} (empty)` : page.split('\n')[0],
      );
      // A valid action clears it; a new episode starts without it.
      expect(env.step('click[back to search]').observation).toBe('WebShop search page\n[Search]');
      env.step('click[x]');
      expect(env.reset(9)).toBe('WebShop search page\n[Search]');
    }
  });

  it('invalidAction() clicks a product that is not on the page, on every kind of page', () => {
    const env = new WebShopEnv({ productIds: 'per-episode' });
    const rng = createRng(4);
    env.reset(12);
    const pages = [env.reset(12), env.step('search[cotton hoodie]').observation];
    const shown = [...pages[1].matchAll(/^\[(B\d+)\]/gm)].map((m) => m[1]);
    expect(shown.length).toBeGreaterThan(0);
    for (let i = 0; i < 50; i++) {
      const action = env.invalidAction(rng);
      expect(action).toMatch(/^click\[B\d+\]$/);
      expect(shown).not.toContain(action.slice(6, -1));
    }
    const before = env.step(env.invalidAction(rng));
    expect(before.info.valid).toBe(false);
    env.reset(12);
    expect(env.step(env.invalidAction(rng)).info.valid).toBe(false); // on the search page
  });

  it('a non-boolean invalidActionFeedback is an error naming it', () => {
    expect(() => new WebShopEnv({ invalidActionFeedback: 'yes' } as unknown as WebShopOptions)).toThrow(
      'webshop: invalidActionFeedback must be true or false, got "yes"',
    );
  });
});

describe('webshop demonstration expert', () => {
  it('is a function of the instruction and the observation alone', () => {
    const env = new WebShopEnv();
    let obs = env.reset(2 ** 16 + 3);
    const seen: string[] = [];
    for (let t = 0; t < 6; t++) {
      const a = env.expertAction();
      expect(visibleExpertAction(env.instruction(), obs)).toBe(a);
      seen.push(a);
      const r = env.step(a);
      obs = r.observation;
      if (r.done) break;
    }
    expect(seen[0]).toMatch(/^search\[/);
    expect(seen[1]).toMatch(/^click\[b\d+\]$/i);
    expect(seen[seen.length - 1]).toBe('click[buy now]');
  });

  it('searches the stated attributes and type, opens the best-matching title under the price, picks the options', () => {
    const instruction =
      'i need running shoes that is breathable and lightweight, with color: red and size: 9, and price lower than 60.00 dollars';
    expect(parseInstruction(instruction)).toEqual({
      noun: 'running shoes',
      attributes: ['breathable', 'lightweight'],
      options: [
        ['color', 'red'],
        ['size', '9'],
      ],
      priceLimit: 60,
    });
    expect(visibleExpertAction(instruction, 'WebShop search page\n[Search]')).toBe(
      'search[breathable lightweight running shoes]',
    );
    const results = [
      '[Back to Search]',
      'Page 1 (Total results: 3)',
      '[B10001] Acme breathable sandals | $20.99',
      '[B10002] Acme breathable lightweight running shoes | $75.99',
      '[B10003] Zed lightweight running shoes | $45.99',
      '[B10004] Zed breathable lightweight running shoes | $55.99',
    ].join('\n');
    expect(visibleExpertAction(instruction, results)).toBe('click[B10004]');
    // Ties go to the first row (the search engine's ranking).
    expect(
      visibleExpertAction(
        instruction,
        results.replace('B10004] Zed breathable lightweight', 'B10004] Zed lightweight'),
      ),
    ).toBe('click[B10003]');
    const item = (selected: string) =>
      [
        '[Back to Search]',
        '[< Prev]',
        `color: [blue] [red]${selected}`,
        'size: [8] [9] [10]',
        'Zed running shoes',
        'Price: $55.99',
        '[Description] [Features] [Reviews] [Buy Now]',
      ].join('\n');
    expect(visibleExpertAction(instruction, item(''))).toBe('click[red]');
    expect(visibleExpertAction(instruction, item(' (selected: red)'))).toBe('click[9]');
    expect(
      visibleExpertAction(instruction, item(' (selected: red)').replace('[8] [9] [10]', '[9] (selected: 9)')),
    ).toBe('click[buy now]');
    expect(visibleExpertAction(instruction, '[Back to Search]\n[< Prev]\nGreat shoes.')).toBe(
      'click[< prev]',
    );
    expect(visibleExpertAction(instruction, '[Back to Search]\nPage 1 (Total results: 0)')).toBe(
      'click[back to search]',
    );
    expect(visibleExpertAction('buy something', 'WebShop search page\n[Search]')).toBe(
      'click[back to search]',
    );
  });
});

describe('webshop pages and actions', () => {
  it('parses search[...] and click[...] only', () => {
    expect(parseWebShopAction('search[red shoes]')).toEqual({ kind: 'search', query: 'red shoes' });
    expect(parseWebShopAction(' Click[Buy Now] ')).toEqual({ kind: 'click', element: 'buy now' });
    for (const bad of ['search red shoes', 'click[]', 'search[[x]]', 'buy', 'click[a]b]'])
      expect(parseWebShopAction(bad)).toBeNull();
  });

  it('navigates results pages, item, sub-pages and options', () => {
    const env = new WebShopEnv();
    env.reset(5);
    expect(env.step('click[buy now]').info.valid).toBe(false);
    let r = env.step('search[cotton hoodie]');
    expect(r.info.valid).toBe(true);
    expect(r.observation).toContain('Page 1 (Total results: 50)');
    expect(env.step('search[again]').info.valid).toBe(false);
    expect(env.step('click[< prev]').info.valid).toBe(false);
    r = env.step('click[next >]');
    expect(r.observation).toContain('Page 2');
    const asin = /\[(B\d+)\]/.exec(r.observation)![1];
    r = env.step(`click[${asin}]`);
    expect(r.observation).toContain('[Buy Now]');
    const option = /: \[([^\]]+)\]/.exec(r.observation)![1];
    r = env.step(`click[${option}]`);
    expect(r.observation).toContain(`(selected: ${option})`);
    r = env.step('click[features]');
    expect(r.observation).toContain('- ');
    r = env.step('click[< prev]');
    expect(r.observation).toContain(`(selected: ${option})`);
    r = env.step('click[buy now]');
    expect(r.done).toBe(true);
    expect(r.info.valid).toBe(true);
    expect(r.info.score).toBeCloseTo(r.reward * 100);
  });

  it('ends after 10 steps with reward 0', () => {
    const env = new WebShopEnv();
    env.reset(9);
    let r = env.step('click[nothing]');
    for (let i = 1; i < 10; i++) r = env.step('click[nothing]');
    expect(r.done).toBe(true);
    expect(r.reward).toBe(0);
  });

  it('malformed actions are invalid steps with reward 0, never exceptions, on every page', () => {
    const env = webshopSpec.create();
    for (const prefix of [[], ['search[running shoes]'], ['search[running shoes]', 'click[__FIRST__]']]) {
      for (const bad of MALFORMED_ACTIONS) {
        env.reset(11);
        for (const a of prefix) {
          const first = /\[(B\d+)\]/.exec(env.anchor());
          env.step(a === 'click[__FIRST__]' && first ? `click[${first[1]}]` : a);
        }
        const before = env.anchor();
        const r = env.step(bad);
        expect(r.info.valid).toBe(false);
        expect(r.reward).toBe(0);
        expect(env.anchor()).toBe(before);
      }
    }
  });

  it('vocabulary texts are deterministic', () => {
    const a = webshopSpec.vocabularyTexts();
    expect(a.length).toBeGreaterThan(1000);
    expect(webshopSpec.vocabularyTexts()).toEqual(a);
  });
});
