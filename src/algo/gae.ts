import { check, checkFinite } from './errors';

/** PPO defaults (DESIGN.md section 3, CleanRL names). */
export const PPO_DEFAULTS = { gamma: 1, gaeLambda: 1 } as const;

/**
 * Generalised advantage estimation (Schulman et al. 2016) for one trajectory:
 * delta_t = r_t + gamma * V_{t+1} - V_t (V_S = lastValue, 0 for a finished episode),
 * A_t = sum_l (gamma * lambda)^l delta_{t+l}, returns_t = A_t + V_t (the value targets).
 * rewards [S], values [S] -> { advantages [S], returns [S] }.
 */
export function gae(
  rewards: readonly number[],
  values: readonly number[],
  gamma: number = PPO_DEFAULTS.gamma,
  gaeLambda: number = PPO_DEFAULTS.gaeLambda,
  lastValue = 0,
): { advantages: number[]; returns: number[] } {
  check(
    rewards.length === values.length,
    () => `gae: ${rewards.length} rewards but ${values.length} values; one value per step`,
  );
  checkFinite(rewards as number[], 'gae: rewards');
  checkFinite(values as number[], 'gae: values');
  const S = rewards.length;
  const advantages = new Array<number>(S);
  let next = 0;
  for (let t = S - 1; t >= 0; t--) {
    const nextValue = t === S - 1 ? lastValue : values[t + 1];
    const delta = rewards[t] + gamma * nextValue - values[t];
    next = delta + gamma * gaeLambda * next;
    advantages[t] = next;
  }
  return { advantages, returns: advantages.map((a, t) => a + values[t]) };
}
