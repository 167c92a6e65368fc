import { createRng, hashString } from '../prng';
import { HELD_OUT_SEED_START } from '../types';
import type { Catalog, Product } from './catalog';
import type { Goal } from './reward';

/** Held-out goals come from products whose id hashes to 0 mod 10; training goals from the rest. */
export function isHeldOutProduct(p: Product): boolean {
  return hashString(p.asin) % 10 === 0;
}

const splitCache = new WeakMap<Catalog, { train: Product[]; heldOut: Product[] }>();

function split(catalog: Catalog): { train: Product[]; heldOut: Product[] } {
  let s = splitCache.get(catalog);
  if (!s) {
    s = {
      train: catalog.products.filter((p) => !isHeldOutProduct(p)),
      heldOut: catalog.products.filter(isHeldOutProduct),
    };
    splitCache.set(catalog, s);
  }
  return s;
}

/**
 * The goal of episode `seed`: a goal product (held-out products for seeds >= 2**16), 1-3 of its
 * attributes, one offered value for 1-2 of its option types, and a price limit above its price.
 */
export function makeGoal(catalog: Catalog, seed: number): Goal {
  const rng = createRng(seed * 7 + 1);
  const pool = seed >= HELD_OUT_SEED_START ? split(catalog).heldOut : split(catalog).train;
  const product = rng.pick(pool);
  const attributes = rng
    .shuffle(product.attributes)
    .slice(0, 1 + rng.int(Math.min(3, product.attributes.length)));
  const types = rng.shuffle(Object.keys(product.options)).slice(0, 1 + rng.int(2));
  const options: Record<string, string> = {};
  for (const t of Object.keys(product.options))
    if (types.includes(t)) options[t] = rng.pick(product.options[t]);
  const priceLimit = Math.ceil((product.price * (1.1 + 0.5 * rng.next())) / 10) * 10;
  const optionText = Object.entries(options)
    .map(([t, v]) => `${t}: ${v}`)
    .join(' and ');
  const opener = rng.pick(["i'm looking for", 'i need', 'i want to buy', 'find me']);
  const instruction = `${opener} ${product.noun} that is ${attributes.join(' and ')}, with ${optionText}, and price lower than ${priceLimit.toFixed(2)} dollars`;
  return {
    asin: product.asin,
    category: product.category,
    name: product.name,
    attributes,
    options,
    priceLimit,
    instruction,
  };
}

/** The scripted expert's search query: the product type and the wanted attributes. */
export function expertQuery(goal: Goal, catalog: Catalog): string {
  const product = catalog.byAsin.get(goal.asin.toLowerCase());
  return `${goal.attributes.join(' ')} ${product?.noun ?? goal.name}`;
}
