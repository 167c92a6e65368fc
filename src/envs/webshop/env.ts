import { createRng, type Rng } from '../prng';
import type { Env, EnvSpec, StepResult } from '../types';
import { HELD_OUT_SEED_START } from '../types';
import { getCatalog, type Catalog, type Product } from './catalog';
import { visibleExpertAction } from './expert';
import { expertQuery, makeGoal } from './goals';
import { webshopReward, type Goal } from './reward';

export interface WebShopOptions {
  /** Catalog seed (default 0); the catalog is built once per process per seed. */
  catalogSeed?: number;
  /** Max actions per episode (paper 10). */
  maxSteps?: number;
  /**
   * Which id a product shows on result pages: `catalog` (default) its fixed id; `per-episode` an id drawn
   * afresh for every episode (a permutation of the catalog's ids seeded by the episode), so that an agent
   * must copy the id from the page: with fixed ids a small policy recalls ids of its demonstrations'
   * products instead, which held-out products never have (real WebShop's 1.18M products cannot be
   * recalled; docs/results.md, finding 27).
   */
  productIds?: WebShopProductIds;
  /**
   * After an invalid action, the next observation starts with `Invalid action: <the action>` (default false:
   * the page alone, unchanged, as in the original WebShop). Without it a policy that sees no history cannot
   * tell it just failed and repeats itself (docs/results.md, finding 27); LLM agent harnesses say so too.
   */
  invalidActionFeedback?: boolean;
}

/** The first line of an observation after an invalid action (`invalidActionFeedback`). */
// Not in the vocabulary texts: its words are spelled in characters, so that existing vocabularies stay as they are.
export const INVALID_ACTION_PREFIX = 'Invalid action:';
const FEEDBACK_ACTION_CHARS = 60;

export const WEBSHOP_PRODUCT_IDS = ['catalog', 'per-episode'] as const;
export type WebShopProductIds = (typeof WEBSHOP_PRODUCT_IDS)[number];

export const RESULTS_PER_PAGE = 10;
export const MAX_RESULTS = 50;
const SUB_PAGES = ['description', 'features', 'reviews'] as const;
type SubPage = (typeof SUB_PAGES)[number];

type Page =
  | { kind: 'search' }
  | { kind: 'results'; query: string; results: Product[]; page: number }
  | {
      kind: 'item';
      query: string;
      results: Product[];
      page: number;
      product: Product;
      selected: Record<string, string>;
    }
  | {
      kind: 'sub';
      query: string;
      results: Product[];
      page: number;
      product: Product;
      selected: Record<string, string>;
      sub: SubPage;
    };

export type WebShopAction = { kind: 'search'; query: string } | { kind: 'click'; element: string };

const ACTION_PATTERN = /^\s*(search|click)\s*\[(.*)\]\s*$/is;

/** `search[query]` or `click[element]` (case-insensitive verb, trimmed); anything else is null. */
export function parseWebShopAction(text: unknown): WebShopAction | null {
  if (typeof text !== 'string' || text.length > 1000) return null;
  const m = ACTION_PATTERN.exec(text);
  if (!m) return null;
  const arg = m[2].trim();
  if (arg.length === 0 || /[[\]\n]/.test(arg)) return null;
  return m[1].toLowerCase() === 'search'
    ? { kind: 'search', query: arg }
    : { kind: 'click', element: arg.toLowerCase() };
}

export const WEBSHOP_INSTRUCTION_PREFIX =
  'You are shopping on a web shop. Use search[query] on the search page and click[element] to click a bracketed element. ';

export class WebShopEnv implements Env {
  readonly name = 'webshop';
  readonly maxSteps: number;
  private readonly catalog: Catalog;
  private goal: Goal | null = null;
  private page: Page = { kind: 'search' };
  private steps = 0;
  private done = false;
  private lastScore = 0;
  private readonly productIds: WebShopProductIds;
  private readonly invalidActionFeedback: boolean;
  /** The invalid action the next observation reports (invalidActionFeedback), else null. */
  private feedback: string | null = null;
  /** This episode's ids (per-episode ids only): product -> shown id, lower-cased id -> product. */
  private ids: { of: Map<Product, string>; product: Map<string, Product> } | null = null;

  constructor(options: WebShopOptions = {}) {
    this.maxSteps = options.maxSteps ?? 10;
    this.catalog = getCatalog(options.catalogSeed ?? 0);
    const productIds = options.productIds ?? 'catalog';
    if (!(WEBSHOP_PRODUCT_IDS as readonly string[]).includes(productIds))
      throw new Error(
        `webshop: productIds must be one of ${WEBSHOP_PRODUCT_IDS.join(', ')}, got "${productIds}"`,
      );
    this.productIds = productIds;
    if (options.invalidActionFeedback !== undefined && typeof options.invalidActionFeedback !== 'boolean')
      throw new Error(
        `webshop: invalidActionFeedback must be true or false, got ${JSON.stringify(options.invalidActionFeedback)}`,
      );
    this.invalidActionFeedback = options.invalidActionFeedback ?? false;
  }

  reset(seed: number): string {
    this.goal = makeGoal(this.catalog, seed);
    this.ids = this.productIds === 'per-episode' ? this.episodeIds(seed) : null;
    this.page = { kind: 'search' };
    this.steps = 0;
    this.done = false;
    this.lastScore = 0;
    this.feedback = null;
    return this.render();
  }

  /** The current goal (tests, the expert and analysis). */
  currentGoal(): Goal {
    return this.requireGoal();
  }

  step(actionText: string): StepResult {
    const goal = this.requireGoal();
    if (this.done) return this.result(0, false, false);
    this.steps++;
    const action = parseWebShopAction(actionText);
    let valid = action !== null && this.apply(action);
    let reward = 0;
    let won = false;
    if (
      valid &&
      action?.kind === 'click' &&
      action.element === 'buy now' &&
      (this.page.kind === 'item' || this.page.kind === 'sub')
    ) {
      const { r } = webshopReward(this.page.product, Object.values(this.page.selected), goal);
      reward = r;
      won = Math.abs(r - 1) < 1e-9;
      this.lastScore = r * 100;
      this.done = true;
      valid = true;
    }
    if (this.steps >= this.maxSteps) this.done = true;
    this.feedback =
      this.invalidActionFeedback && !valid
        ? actionText.replace(/\s+/g, ' ').trim().slice(0, FEEDBACK_ACTION_CHARS) || '(empty)'
        : null;
    return this.result(reward, won, valid);
  }

  instruction(): string {
    return WEBSHOP_INSTRUCTION_PREFIX + `Instruction: ${this.requireGoal().instruction}`;
  }

  admissibleActions(): string[] {
    if (this.page.kind === 'search') return [`search[${this.requireGoal().instruction}]`];
    return this.clickables().map((c) => `click[${c}]`);
  }

  anchor(): string {
    return this.renderPage();
  }

  /**
   * The demonstration expert: it acts on the instruction and the page only (`visibleExpertAction`), so what
   * it does can be imitated; about 3/4 of held-out goals end in a perfect purchase.
   */
  expertAction(): string {
    return visibleExpertAction(this.instruction(), this.renderPage());
  }

  /**
   * A click on a product that is not on the current page (any page: on the search page and item pages no
   * product can be clicked), the mistake a small policy makes most (docs/results.md, finding 27).
   */
  invalidAction(rng: Rng): string {
    const shown = new Set(this.page.kind === 'results' ? this.pageResults(this.page) : []);
    const products = this.catalog.products;
    let product = rng.pick(products);
    for (let tries = 0; shown.has(product) && tries < 100; tries++) product = rng.pick(products);
    return `click[${this.productId(product)}]`;
  }

  /**
   * Oracle with access to the goal's hidden attributes: search for the goal's type and attributes, page to
   * the best result (reward 1 if any), pick the goal's options and buy; back out of anything else. An
   * upper bound for analysis; its product choice often cannot be read off the page (docs/results.md 13).
   */
  oracleAction(): string {
    const goal = this.requireGoal();
    const p = this.page;
    if (p.kind === 'search') return `search[${expertQuery(goal, this.catalog)}]`;
    const best = this.bestResult(p.results);
    if (p.kind === 'results') {
      if (!best) return 'click[back to search]';
      const index = p.results.indexOf(best.product);
      const page = Math.floor(index / RESULTS_PER_PAGE) + 1;
      if (page > p.page) return 'click[next >]';
      if (page < p.page) return 'click[< prev]';
      return `click[${this.productId(best.product)}]`;
    }
    if (p.kind === 'sub') return 'click[< prev]';
    if (!best || best.product !== p.product) return 'click[< prev]';
    for (const [type, value] of Object.entries(best.options)) {
      if (p.selected[type] !== value) return `click[${value}]`;
    }
    return 'click[buy now]';
  }

  /** The highest-reward result and the options to choose on it (perfect matches first). */
  private bestResult(results: Product[]): { product: Product; options: Record<string, string> } | null {
    const goal = this.requireGoal();
    let best: { product: Product; options: Record<string, string>; r: number } | null = null;
    for (const product of results) {
      const options: Record<string, string> = {};
      for (const [type, value] of Object.entries(goal.options)) {
        if (product.options[type]?.includes(value)) options[type] = value;
      }
      const { r } = webshopReward(product, Object.values(options), goal);
      if (!best || r > best.r + 1e-9) best = { product, options, r };
      if (r > 1 - 1e-9) break;
    }
    return best && best.r > 1 - 1e-9 ? best : null;
  }

  private apply(action: { kind: 'search'; query: string } | { kind: 'click'; element: string }): boolean {
    const p = this.page;
    if (action.kind === 'search') {
      if (p.kind !== 'search') return false;
      this.page = {
        kind: 'results',
        query: action.query,
        results: this.catalog.search(action.query, MAX_RESULTS),
        page: 1,
      };
      return true;
    }
    const el = action.element;
    if (!this.clickables().includes(el)) return false;
    if (el === 'back to search') {
      this.page = { kind: 'search' };
      return true;
    }
    switch (p.kind) {
      case 'results':
        if (el === 'next >') this.page = { ...p, page: p.page + 1 };
        else if (el === '< prev') this.page = { ...p, page: p.page - 1 };
        else this.page = { ...p, kind: 'item', product: this.productById(el)!, selected: {} };
        return true;
      case 'item': {
        if (el === '< prev')
          this.page = { kind: 'results', query: p.query, results: p.results, page: p.page };
        else if ((SUB_PAGES as readonly string[]).includes(el))
          this.page = { ...p, kind: 'sub', sub: el as SubPage };
        else if (el !== 'buy now') {
          const type = Object.keys(p.product.options).find((t) => p.product.options[t].includes(el));
          if (type) this.page = { ...p, selected: { ...p.selected, [type]: el } };
        }
        return true;
      }
      case 'sub':
        if (el === '< prev')
          this.page = {
            kind: 'item',
            query: p.query,
            results: p.results,
            page: p.page,
            product: p.product,
            selected: p.selected,
          };
        return true;
      default:
        return false;
    }
  }

  /** Lower-cased clickable elements of the current page. */
  private clickables(): string[] {
    const p = this.page;
    switch (p.kind) {
      case 'search':
        return [];
      case 'results': {
        const out = ['back to search'];
        if (p.page > 1) out.push('< prev');
        if (p.page * RESULTS_PER_PAGE < p.results.length) out.push('next >');
        for (const r of this.pageResults(p)) out.push(this.productId(r).toLowerCase());
        return out;
      }
      case 'item':
        return [
          'back to search',
          '< prev',
          ...Object.values(p.product.options).flat(),
          ...SUB_PAGES,
          'buy now',
        ];
      case 'sub':
        return ['back to search', '< prev'];
    }
  }

  private pageResults(p: { results: Product[]; page: number }): Product[] {
    return p.results.slice((p.page - 1) * RESULTS_PER_PAGE, p.page * RESULTS_PER_PAGE);
  }

  /** What the agent sees: the page, after an invalid action (invalidActionFeedback) a line saying so first. */
  private render(): string {
    const page = this.renderPage();
    return this.feedback === null ? page : `${INVALID_ACTION_PREFIX} ${this.feedback}\n${page}`;
  }

  private renderPage(): string {
    const p = this.page;
    switch (p.kind) {
      case 'search':
        return 'WebShop search page\n[Search]';
      case 'results': {
        const lines = ['[Back to Search]', `Page ${p.page} (Total results: ${p.results.length})`];
        if (p.page > 1) lines.push('[< Prev]');
        if (p.page * RESULTS_PER_PAGE < p.results.length) lines.push('[Next >]');
        for (const r of this.pageResults(p))
          lines.push(`[${this.productId(r)}] ${r.title} | $${r.price.toFixed(2)}`);
        return lines.join('\n');
      }
      case 'item': {
        const lines = ['[Back to Search]', '[< Prev]'];
        for (const [type, values] of Object.entries(p.product.options)) {
          const sel = p.selected[type];
          lines.push(`${type}: ${values.map((v) => `[${v}]`).join(' ')}${sel ? ` (selected: ${sel})` : ''}`);
        }
        lines.push(
          p.product.title,
          `Price: $${p.product.price.toFixed(2)}`,
          `Rating: ${p.product.rating.toFixed(1)}`,
        );
        lines.push('[Description] [Features] [Reviews] [Buy Now]');
        return lines.join('\n');
      }
      case 'sub': {
        const body =
          p.sub === 'description'
            ? p.product.description
            : p.sub === 'features'
              ? p.product.features.map((f) => `- ${f}`).join('\n')
              : p.product.reviews.join('\n');
        return ['[Back to Search]', '[< Prev]', body].join('\n');
      }
    }
  }

  private result(reward: number, won: boolean, valid: boolean): StepResult {
    return {
      observation: this.render(),
      reward,
      done: this.done,
      info: { won, valid, score: this.lastScore },
    };
  }

  private requireGoal(): Goal {
    if (!this.goal) throw new Error('WebShopEnv: call reset(seed) before using the env');
    return this.goal;
  }

  /** A permutation of the catalog's ids over its products, drawn from the episode's seed. */
  private episodeIds(seed: number): { of: Map<Product, string>; product: Map<string, Product> } {
    const products = this.catalog.products;
    const shuffled = createRng((seed * 31 + 17) ^ 0x1d5).shuffle(products.map((p) => p.asin));
    const of = new Map(products.map((p, i) => [p, shuffled[i]]));
    return { of, product: new Map(products.map((p, i) => [shuffled[i].toLowerCase(), p])) };
  }

  /** The id a product shows (and is clicked by) in this episode. */
  productId(product: Product): string {
    return this.ids?.of.get(product) ?? product.asin;
  }

  private productById(id: string): Product | undefined {
    return this.ids ? this.ids.product.get(id) : this.catalog.byAsin.get(id);
  }
}

export const webshopSpec: EnvSpec = {
  name: 'webshop',
  create: (options) => new WebShopEnv(options as WebShopOptions),
  vocabularyTexts: () => {
    const catalog = getCatalog(0);
    const texts = [
      WEBSHOP_INSTRUCTION_PREFIX,
      'WebShop search page [Search] [Back to Search] [< Prev] [Next >] Page Total results: Price: $ Rating: [Description] [Features] [Reviews] [Buy Now] (selected: )',
    ];
    texts.push('search[ ] click[ ] back to search next > < prev buy now description features reviews');
    for (const p of catalog.products) {
      texts.push(
        `[${p.asin}] ${p.title} | $${p.price.toFixed(2)}`,
        p.description,
        ...p.features,
        ...p.reviews,
      );
      texts.push(...Object.entries(p.options).map(([t, v]) => `${t}: ${v.join(' ')}`));
    }
    for (let seed = 0; seed < 300; seed++) texts.push(makeGoal(catalog, seed).instruction);
    return texts;
  },
  trainSeeds: { start: 0, end: HELD_OUT_SEED_START },
  heldOutSeeds: { start: HELD_OUT_SEED_START, end: HELD_OUT_SEED_START + 10_000 },
  maxActionTokens: 80,
};
