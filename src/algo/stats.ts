/** Small statistics over plain arrays, shared by the estimators. */

export function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : sum(xs) / xs.length;
}

/**
 * Standard deviation. `unbiased` divides by n - 1 (Bessel), like `torch.std` in verl's
 * core_algos.py; with fewer than two values (unbiased) or one value the std is 0.
 */
export function std(xs: readonly number[], unbiased = true): number {
  const n = xs.length;
  if (n === 0 || (unbiased && n < 2)) return 0;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (unbiased ? n - 1 : n));
}

/**
 * Whitening over all values, as verl's `masked_whiten`: (x - mean) / sqrt(var + eps), var unbiased.
 * Constant input gives zeros, never NaN.
 */
export function whiten(xs: readonly number[], eps = 1e-8): number[] {
  const m = mean(xs);
  const s = std(xs, true);
  return xs.map((x) => (x - m) / Math.sqrt(s * s + eps));
}

/** Rounds away float noise so that "all equal" is detected despite summation error. */
export function isNearlyZero(x: number, tol = 1e-12): boolean {
  return Math.abs(x) <= tol;
}

/** Largest value (-Infinity for none); a loop, since Math.max(...xs) overflows the stack on large arrays. */
export function maxOf(xs: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i] > m) m = xs[i];
  return m;
}

/** Smallest value (Infinity for none). */
export function minOf(xs: ArrayLike<number>): number {
  let m = Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i] < m) m = xs[i];
  return m;
}

/**
 * Area under the ROC curve of `scores` as a detector of `labels` (Mann-Whitney U / (positives x negatives)):
 * the probability that a random positive scores above a random negative, ties counting one half. NaN when
 * either class is empty.
 */
export function rocAuc(scores: readonly number[], labels: readonly boolean[]): number {
  if (scores.length !== labels.length)
    throw new Error(`rocAuc: ${scores.length} scores but ${labels.length} labels`);
  const order = scores.map((s, i) => ({ s, positive: labels[i] })).sort((a, b) => a.s - b.s);
  // Rank sum of the positives, tied scores sharing their mean rank (1-based).
  let rankSum = 0;
  let positives = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j < order.length && order[j].s === order[i].s) j++;
    const meanRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++)
      if (order[k].positive) {
        rankSum += meanRank;
        positives++;
      }
    i = j;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}
