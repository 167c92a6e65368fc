/**
 * WebShop's purchase reward (Yao et al. 2022, web_agent_site/engine/goal.py get_reward):
 *   r = r_type * (matched attributes + matched options + [price <= limit]) / (|attributes| + |options| + 1)
 * Attributes and options match by fuzzy token-set ratio > 85 (fuzzball); an attribute also matches
 * when it appears verbatim in the title, features or description. r_type compares the nouns
 * (compromise POS tags) of the bought product's name with the goal's.
 * Porting note: the original also sets r_type = 1 on an exact query or category match; we use the
 * noun overlap alone, so that buying the wrong product type is always penalised.
 */
import nlp from 'compromise';
import * as fuzz from 'fuzzball';
import type { Product } from './catalog';

export interface Goal {
  /** The product the goal was generated from. */
  asin: string;
  category: string;
  /** Goal product name (title without brand); its nouns decide r_type. */
  name: string;
  attributes: string[];
  /** Option type -> required value. */
  options: Record<string, string>;
  priceLimit: number;
  instruction: string;
}

export interface RewardBreakdown {
  r: number;
  rType: number;
  attributeMatches: number;
  optionMatches: number;
  priceOk: boolean;
}

const FUZZY_THRESHOLD = 85;
const nounCache = new Map<string, string[]>();

/** Lower-cased nouns of a text (cached; compromise tagging costs about a millisecond). */
export function nouns(text: string): string[] {
  let out = nounCache.get(text);
  if (!out) {
    out = [
      ...new Set<string>(
        nlp(text)
          .match('#Noun')
          .out('array')
          .flatMap((t: string) => t.toLowerCase().split(/[^a-z0-9-]+/)),
      ),
    ].filter((t) => t.length > 0);
    if (nounCache.size > 50_000) nounCache.clear();
    nounCache.set(text, out);
  }
  return out;
}

/** r_type of goal.py get_type_reward from the share of goal nouns found in the bought name. */
export function typeReward(boughtName: string, goalName: string): number {
  const desired = nouns(goalName);
  const bought = new Set(nouns(boughtName));
  const titleScore =
    desired.length === 0 ? 0.2 : desired.filter((n) => bought.has(n)).length / desired.length;
  let rType = titleScore > 0.2 ? 1 : 0.5;
  if (titleScore < 0.1) rType = 0.1;
  if (titleScore === 0) rType = 0;
  return rType;
}

export function fuzzyMatch(a: string, b: string): boolean {
  return fuzz.token_set_ratio(a, b) > FUZZY_THRESHOLD;
}

export function webshopReward(product: Product, selectedOptions: string[], goal: Goal): RewardBreakdown {
  const text = [product.title, product.features.join(' '), product.description].join(' ').toLowerCase();
  let attributeMatches = 0;
  for (const g of goal.attributes) {
    if (product.attributes.some((p) => fuzzyMatch(p, g)) || text.includes(g.toLowerCase()))
      attributeMatches++;
  }
  const goalOptions = Object.values(goal.options);
  let optionMatches = 0;
  for (const g of goalOptions) if (selectedOptions.some((p) => fuzzyMatch(p, g))) optionMatches++;
  const priceOk = goal.priceLimit > 0 && product.price <= goal.priceLimit;
  const rType = typeReward(product.name, goal.name);
  const r =
    (rType * (attributeMatches + optionMatches + (priceOk ? 1 : 0))) /
    (goal.attributes.length + goalOptions.length + 1);
  return { r, rType, attributeMatches, optionMatches, priceOk };
}
