import { check, checkFinite } from './errors';
import { mean, std } from './stats';

/** GiGPO defaults (Feng et al. 2025, "Group-in-Group Policy Optimization"; DESIGN.md section 3). */
export const GIGPO_DEFAULTS = {
  /** Discount of the step returns. */
  gamma: 0.95,
  /** Weight w of the step advantage. */
  stepWeight: 1,
} as const;

/**
 * Discounted step returns of one trajectory: R_t = sum_{k >= t} gamma^(k - t) r_k.
 * rewards [S] -> returns [S].
 */
export function discountedReturns(
  rewards: readonly number[],
  gamma: number = GIGPO_DEFAULTS.gamma,
): number[] {
  checkFinite(rewards as number[], 'discountedReturns: rewards');
  const out = new Array<number>(rewards.length);
  let acc = 0;
  for (let t = rewards.length - 1; t >= 0; t--) {
    acc = rewards[t] + gamma * acc;
    out[t] = acc;
  }
  return out;
}

export interface GigpoStepOptions {
  gamma?: number;
  /** 'mean': R_t - mean of its anchor group (GiGPO mean_norm, DESIGN.md); 'std': also divide by (std + 1e-6). */
  norm?: 'mean' | 'std';
}

/**
 * GiGPO step-level advantage for one group: anchor groups are the steps of the group's N trajectories
 * whose anchor (current-state string) is identical — never across groups, since each call sees one
 * group. A_S(t) = R_t - mean of R over its anchor group; a singleton anchor group gives 0.
 * envRewards [N][S_i], anchors [N][S_i] -> step advantages [N][S_i].
 */
export function gigpoStepAdvantage(
  envRewards: readonly (readonly number[])[],
  anchors: readonly (readonly string[])[],
  options: GigpoStepOptions = {},
): number[][] {
  const { gamma = GIGPO_DEFAULTS.gamma, norm = 'mean' } = options;
  check(
    envRewards.length === anchors.length,
    () => `gigpoStepAdvantage: ${envRewards.length} reward rows but ${anchors.length} anchor rows`,
  );
  const returns = envRewards.map((r, i) => {
    check(
      r.length === anchors[i].length,
      () => `gigpoStepAdvantage: trajectory ${i} has ${r.length} rewards but ${anchors[i].length} anchors`,
    );
    return discountedReturns(r, gamma);
  });
  const byAnchor = new Map<string, number[]>();
  anchors.forEach((row, i) =>
    row.forEach((a, t) => {
      const list = byAnchor.get(a);
      if (list) list.push(returns[i][t]);
      else byAnchor.set(a, [returns[i][t]]);
    }),
  );
  const stats = new Map<string, { m: number; s: number; n: number }>();
  for (const [a, rs] of byAnchor) stats.set(a, { m: mean(rs), s: std(rs, true), n: rs.length });
  return returns.map((row, i) =>
    row.map((R, t) => {
      const st = stats.get(anchors[i][t])!;
      if (st.n < 2) return 0;
      return norm === 'std' ? (R - st.m) / (st.s + 1e-6) : R - st.m;
    }),
  );
}

/** Anchor groups of one group of trajectories: anchor -> list of [trajectory, step]; for logging and tests. */
export function anchorGroups(anchors: readonly (readonly string[])[]): Map<string, [number, number][]> {
  const groups = new Map<string, [number, number][]>();
  anchors.forEach((row, i) =>
    row.forEach((a, t) => {
      const list = groups.get(a);
      if (list) list.push([i, t]);
      else groups.set(a, [[i, t]]);
    }),
  );
  return groups;
}
