/**
 * The generated product catalog (WebShop's scraped Amazon data is not redistributable) and its
 * BM25 search index (wink-bm25-text-search). Deterministic from a seed and cached per seed.
 */
import bm25 from 'wink-bm25-text-search';
import nlpUtils from 'wink-nlp-utils';
import { createRng, type Rng } from '../prng';
import { BRANDS, CATEGORIES, GENERIC_FEATURES, REVIEW_TEMPLATES, type CategoryTemplate } from './categories';

export interface Product {
  /** ASIN-like id shown on result pages and clicked to open the item. */
  asin: string;
  category: string;
  /** Product type, e.g. "running shoes". */
  noun: string;
  brand: string;
  /** Title without the brand: the "name" whose nouns decide r_type. */
  name: string;
  title: string;
  attributes: string[];
  /** Option type -> values offered. */
  options: Record<string, string[]>;
  price: number;
  rating: number;
  description: string;
  features: string[];
  reviews: string[];
}

export interface Catalog {
  seed: number;
  products: Product[];
  byAsin: Map<string, Product>;
  /** Top `limit` products for a query, best first (BM25). */
  search(query: string, limit?: number): Product[];
}

export interface CatalogOptions {
  /** Products per category (12 categories). */
  productsPerCategory?: number;
}

function makeProduct(rng: Rng, cat: CategoryTemplate, asin: string): Product {
  const noun = rng.pick(cat.nouns);
  const brand = rng.pick(BRANDS);
  const attributes = rng.shuffle(cat.attributes).slice(0, 2 + rng.int(3));
  const inTitle = attributes.slice(0, 1 + rng.int(2));
  const name = `${inTitle.join(' ')} ${noun}`;
  const options: Record<string, string[]> = {};
  for (const [type, values] of Object.entries(cat.options)) {
    const n = Math.min(values.length, 2 + rng.int(4));
    const chosen = new Set(rng.shuffle(values).slice(0, n));
    options[type] = values.filter((v) => chosen.has(v));
  }
  const [lo, hi] = cat.price;
  const price = Math.floor(lo + rng.next() * (hi - lo)) + 0.99;
  const rating = Math.round((3 + rng.next() * 2) * 10) / 10;
  const generic = rng.shuffle(GENERIC_FEATURES).slice(0, 2);
  const description =
    `The ${brand} ${noun} comes with: ${attributes.slice(0, -1).join(', ')}${attributes.length > 1 ? ' and ' : ''}${attributes[attributes.length - 1]}. ` +
    `${generic[0]}.`;
  const features = [...attributes.map((a) => a[0].toUpperCase() + a.slice(1)), ...generic.slice(1)];
  const reviews = rng
    .shuffle(REVIEW_TEMPLATES)
    .slice(0, 2 + rng.int(2))
    .map((t) => `${1 + Math.min(4, Math.floor(rating + rng.next() - 0.5))} stars: ${t}`);
  return {
    asin,
    category: cat.name,
    noun,
    brand,
    name,
    title: `${brand} ${name}`,
    attributes,
    options,
    price,
    rating,
    description,
    features,
    reviews,
  };
}

const prepTasks = [
  nlpUtils.string.lowerCase,
  nlpUtils.string.removeExtraSpaces,
  nlpUtils.string.tokenize0,
  nlpUtils.tokens.removeWords,
  nlpUtils.tokens.stem,
];

function buildCatalog(seed: number, perCategory: number): Catalog {
  const rng = createRng(seed ^ 0x5eed);
  const total = perCategory * CATEGORIES.length;
  // Unique 5-digit ids in a seeded order.
  const ids = rng.shuffle(Array.from({ length: 90_000 }, (_, i) => 10_000 + i)).slice(0, total);
  const products: Product[] = [];
  CATEGORIES.forEach((cat, c) => {
    for (let i = 0; i < perCategory; i++)
      products.push(makeProduct(rng, cat, `B${ids[c * perCategory + i]}`));
  });
  const engine = bm25();
  engine.defineConfig({ fldWeights: { title: 3, attributes: 2, features: 1, description: 1, category: 1 } });
  engine.definePrepTasks(prepTasks as Array<(input: never) => unknown>);
  products.forEach((p, i) =>
    engine.addDoc(
      {
        title: p.title,
        attributes: p.attributes.join(' '),
        features: p.features.join(' '),
        description: p.description,
        category: p.category,
      },
      i,
    ),
  );
  engine.consolidate();
  const byAsin = new Map(products.map((p) => [p.asin.toLowerCase(), p]));
  return {
    seed,
    products,
    byAsin,
    search(query, limit = 50) {
      let hits: Array<[string, number]> = [];
      try {
        hits = engine.search(query.slice(0, 500), limit);
      } catch {
        // wink throws on queries that tokenise to nothing usable; that is simply no results.
        hits = [];
      }
      return hits.map(([id]) => products[Number(id)]);
    },
  };
}

const cache = new Map<string, Catalog>();

/** The catalog of `seed` (default 0): >= 1,000 products over 12 categories, built once per process. */
export function getCatalog(seed = 0, options: CatalogOptions = {}): Catalog {
  const perCategory = options.productsPerCategory ?? 100;
  const key = `${seed}:${perCategory}`;
  let catalog = cache.get(key);
  if (!catalog) {
    catalog = buildCatalog(seed, perCategory);
    cache.set(key, catalog);
  }
  return catalog;
}
