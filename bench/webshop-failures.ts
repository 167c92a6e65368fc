import { gunzipSync } from 'node:zlib';
import { getCatalog } from '../src/envs/webshop/catalog';
import { WebShopEnv, type WebShopProductIds } from '../src/envs/webshop/env';
import { configKey, iterationKey } from '../src/storage/keys';
import { ArtifactStore } from '../src/storage/store';
import { isMain } from './util';

/** One held-out episode as `evaluate` stores it (iterations/<i>/eval.json.gz). */
export interface EvalEpisode {
  seed: number;
  success: boolean;
  steps: { observation: string; action: string; valid: boolean }[];
}

export interface WebShopFailures {
  episodes: number;
  successes: number;
  steps: number;
  invalid: number;
  /** Invalid `click[<product id>]`: a product that is not on the page shown. */
  clicksOffPage: number;
  /** ...of which the goal product was on that page (the right click was there to copy). */
  goalOnPage: number;
  /** Episodes that repeat an invalid action (the page does not change, so the policy is stuck). */
  stuckEpisodes: number;
}

/**
 * How a WebShop policy fails on held-out goals: how many of its actions are invalid, how many of those click
 * a product that is not on the page while the goal product is, and how many episodes get stuck repeating
 * an invalid action. `goalOf` gives an episode's goal product id (from its seed).
 */
export function webshopFailures(
  episodes: readonly EvalEpisode[],
  goalOf: (seed: number) => string,
): WebShopFailures {
  const out: WebShopFailures = {
    episodes: episodes.length,
    successes: episodes.filter((e) => e.success).length,
    steps: 0,
    invalid: 0,
    clicksOffPage: 0,
    goalOnPage: 0,
    stuckEpisodes: 0,
  };
  for (const e of episodes) {
    const goal = goalOf(e.seed);
    let previous: string | undefined;
    let stuck = false;
    for (const s of e.steps) {
      out.steps++;
      if (!s.valid) {
        out.invalid++;
        if (/^click\[B\d+\]$/.test(s.action.trim())) {
          out.clicksOffPage++;
          if (s.observation.includes(`[${goal}]`)) out.goalOnPage++;
        }
        if (s.action === previous) stuck = true;
      }
      previous = s.action;
    }
    if (stuck) out.stuckEpisodes++;
  }
  return out;
}

/**
 * The id under which each episode's goal product is shown (its catalog id, or with per-episode product ids
 * the id that episode drew for it).
 */
export function goalIdOf(productIds: WebShopProductIds = 'catalog'): (seed: number) => string {
  const env = new WebShopEnv({ productIds });
  const catalog = getCatalog();
  return (seed) => {
    env.reset(seed);
    return env.productId(catalog.byAsin.get(env.currentGoal().asin.toLowerCase())!);
  };
}

/**
 * `npx tsx bench/webshop-failures.ts <experiment>:<iteration> ...`: webshopFailures of stored held-out
 * evaluations (the experiments' eval.json.gz in S3), one line each.
 */
async function main(args: string[]): Promise<void> {
  if (args.length === 0) throw new Error('usage: bench/webshop-failures.ts <experiment>:<iteration> ...');
  const store = ArtifactStore.fromEnv();
  for (const arg of args) {
    const m = /^(.+):(\d+)$/.exec(arg);
    if (!m) throw new Error(`expected <experiment>:<iteration>, got ${JSON.stringify(arg)}`);
    // The run's product ids (its stored config), so the goal is looked for under the id its episodes showed.
    const config = await store.getJson<{ envOptions?: { productIds?: WebShopProductIds } }>(configKey(m[1]));
    const goalOf = goalIdOf(config.envOptions?.productIds);
    const key = iterationKey(m[1], Number(m[2]), 'eval.json.gz');
    const { episodes } = JSON.parse(gunzipSync(await store.getBytes(key)).toString('utf8')) as {
      episodes: EvalEpisode[];
    };
    const f = webshopFailures(episodes, goalOf);
    const share = (x: number) => (x / Math.max(1, f.steps)).toFixed(3);
    console.log(
      `${arg}: success ${f.successes}/${f.episodes}; ${f.steps} steps, invalid ${f.invalid} (${share(f.invalid)}); ` +
        `clicks on a product not on the page ${f.clicksOffPage} (the goal on that page in ${f.goalOnPage}); ` +
        `episodes stuck repeating an invalid action ${f.stuckEpisodes}`,
    );
  }
}

if (isMain(import.meta.url))
  main(process.argv.slice(2)).catch((err) => {
    console.error((err as Error).message);
    process.exit(1);
  });
