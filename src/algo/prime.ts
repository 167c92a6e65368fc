import { check, checkFinite } from './errors';
import { mean } from './stats';

/**
 * PRIME advantage for one group (Cui et al. 2025, "Process Reinforcement through Implicit Rewards",
 * eq. for A_t with RLOO over implicit and outcome rewards, gamma = 1):
 * A_{i,k} = sum_{s >= k} [ r_{i,s} - 1/(N-1) sum_{j != i} rbar_j ] + R_i - 1/(N-1) sum_{j != i} R_j,
 * where r_{i,s} = beta * (log pi_phi - log pi_ref) of token s of trajectory i, tokens of all its steps
 * in order, and rbar_j is trajectory j's implicit reward per token.
 * Porting note: rbar_j is the per-token mean, as PRIME's released `masked_rloo` (the paper writes the
 * sequence reward); with the mean, long and short trajectories share one baseline scale.
 * tokenRewards [N][S_i][L_it], outcome [N] -> advantages [N][S_i][L_it]; N = 1 gives 0.
 */
export function primeGroupAdvantage(
  tokenRewards: readonly (readonly (readonly number[])[])[],
  outcome: readonly number[],
): number[][][] {
  const N = tokenRewards.length;
  check(
    N === outcome.length,
    () => `primeGroupAdvantage: ${N} token-reward rows but ${outcome.length} outcome rewards`,
  );
  checkFinite(outcome as number[], 'primeGroupAdvantage: outcome');
  if (N < 2) return tokenRewards.map((steps) => steps.map((tok) => tok.map(() => 0)));
  const flat = tokenRewards.map((steps, i) => {
    const f = steps.flat();
    checkFinite(f, `primeGroupAdvantage: tokenRewards[${i}]`);
    return f;
  });
  const perToken = flat.map((f) => mean(f));
  const perTokenSum = perToken.reduce((a, b) => a + b, 0);
  const outcomeSum = outcome.reduce((a, b) => a + b, 0);
  return tokenRewards.map((steps, i) => {
    const b = (perTokenSum - perToken[i]) / (N - 1);
    const outcomeAdv = outcome[i] - (outcomeSum - outcome[i]) / (N - 1);
    const f = flat[i];
    const adv = new Array<number>(f.length);
    let acc = 0;
    for (let k = f.length - 1; k >= 0; k--) {
      acc += f[k] - b;
      adv[k] = acc + outcomeAdv;
    }
    let k = 0;
    return steps.map((tok) => tok.map(() => adv[k++]));
  });
}
