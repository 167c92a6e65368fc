import type { RunConfigInput } from '../config/run-config';
import type { SweepInput } from '../config/sweep-config';

/**
 * The paper's comparison (Table 1/3) and ablations as sweep suites for `npm run experiments -- <suite>`:
 * every variant x 3 seeds, equal iterations, all from one shared SFT base, evaluated on held-out levels/goals.
 * Sized for a 2-core machine (a few hours per environment); scale out with more workers and maxConcurrent.
 */
export interface Suite {
  name: string;
  description: string;
  sweep: SweepInput;
}

/** RLOO, GRPO, REINFORCE++, GiGPO, PRIME, PPO, then RLOO + iStar and GRPO + iStar (paper Table 1). */
export const PAPER_VARIANTS: { name: string; config: RunConfigInput }[] = [
  { name: 'rloo', config: { algorithm: 'rloo' } },
  { name: 'grpo', config: { algorithm: 'grpo' } },
  { name: 'reinforce++', config: { algorithm: 'reinforce++' } },
  { name: 'gigpo', config: { algorithm: 'gigpo' } },
  { name: 'prime', config: { algorithm: 'prime' } },
  { name: 'ppo', config: { algorithm: 'ppo' } },
  { name: 'rloo+istar', config: { algorithm: 'istar', episodeEstimator: 'rloo' } },
  { name: 'grpo+istar', config: { algorithm: 'istar', episodeEstimator: 'grpo' } },
];

/** RLOO and RLOO + iStar: the two-method suites' variants. */
const RLOO_VS_ISTAR = [PAPER_VARIANTS[0], PAPER_VARIANTS[6]];

/** iStar and its ablations (paper Table 4): process-only, merged rewards, token-level PRM rewards. */
export const ABLATION_VARIANTS: { name: string; config: RunConfigInput }[] = [
  { name: 'rloo+istar', config: { algorithm: 'istar' } },
  { name: 'process-only', config: { algorithm: 'istar', variant: 'process-only' } },
  { name: 'merged-rewards', config: { algorithm: 'istar', variant: 'merged-rewards' } },
  { name: 'token-level', config: { algorithm: 'istar', variant: 'token-level' } },
  { name: 'rloo', config: { algorithm: 'rloo' } },
];

/**
 * The small Sokoban setting: a 122k-parameter policy with line/column position embeddings, compact prompts
 * (the board only) and an SFT base on 300 expert-labelled episodes at lr 5e-4 (docs/results.md, finding 11:
 * with the 1/sqrt(d) init and line/column positions it reads the board after a few hundred steps; held-out
 * success 0.65 on 1,024 levels, where the earlier model needed 1,000 episodes for 0.438). The run-config
 * defaults add a 20-step learning-rate warm-up and AdamW epsilon 1e-4 (finding 10).
 */
export const SMALL_SOKOBAN: RunConfigInput = {
  env: 'sokoban',
  promptInstruction: false,
  historyLength: 0,
  model: { dModel: 64, nLayers: 2, nHeads: 4, dFF: 256, contextLength: 192, layoutPositions: true },
  sft: { labels: 'expert', episodes: 300, epochs: 6, lr: 5e-4, randomActionFraction: 0.5, batchSize: 32 },
};

/** SOKOBAN_RL's update and sampling settings without its batch and evaluation sizes (the WebShop suite's too). */
const STABLE_RL: RunConfigInput = {
  stepWeighting: 'per-trajectory',
  policyLr: 1e-4,
  prmLr: 1e-4,
  prmLogRatio: 'mean',
  preferences: 'return',
  miniBatchSteps: 256,
  entropyCoef: 0,
  klCoef: 1,
  temperature: 0.4,
  temperedLogProbs: true,
};

/**
 * The RL regime of the Sokoban suites and `npm start` (docs/results.md, findings 18, 20, 21): RL where its
 * updates carry signal, 32 levels x 8 rollouts per iteration, one optimizer step per 256 steps at lr 1e-4,
 * per-trajectory step weighting (token-mean PPO collapses a base that reads the board), no entropy bonus, a
 * KL anchor to the base (k3, coefficient 1). Rollouts at temperature 0.4 (the evaluation's) with every
 * log-prob of the update from the same tempered distribution, so that they stay on-policy (`temperedLogProbs`;
 * RLOO + iStar 0.728 +- 0.011 over 3 seeds vs 0.702 +- 0.008 at temperature 1, finding 22). The PRM learns
 * from every pair of a group's episodes ranked by return (shorter successes over longer ones), with the
 * trajectory log-ratio averaged over steps so that it cannot win by lowering every log-prob of the longer
 * episode (finding 21; with the paper's sum it drifts at lr 1e-4, finding 20). 12 iterations, held-out
 * evaluation on 1,024 levels at iterations 0, 6 and 12, so that a gain of 0.05 is about 2.4 standard errors.
 */
export const SOKOBAN_RL: RunConfigInput = {
  groups: 32,
  groupSize: 8,
  ...STABLE_RL,
  iterations: 12,
  evalEvery: 6,
  evalEpisodes: 1024,
};

/**
 * `npm start`'s run config (src/cli/start.ts): iStar on Sokoban, sized to show learning on 2 cores in ~15
 * minutes: the suites' small Sokoban policy and SFT base in the Sokoban suites' RL regime.
 */
export const QUICKSTART: RunConfigInput = { ...SMALL_SOKOBAN, ...SOKOBAN_RL, algorithm: 'istar' };

/**
 * Sokoban with 2 boxes per level (docs/results.md, findings 38-44): the solver's solutions are 8 steps long on
 * average (3.5 with one box), so there is credit to assign. 3,000 expert-labelled episodes give a base that solves
 * 0.597 of the 1,024 held-out levels (300 episodes: 0.197, where most groups of 8 hold one success or none and the
 * PRM ranks new pairs at chance, finding 38). Half the step weight (`alpha` 0.5, finding 39), 24 iterations.
 * Rollouts at temperature 0.7 (evaluation stays at 0.4): at 0.4 a level's 8 rollouts mostly agree, so that
 * levels of 10 or more moves teach nothing; at 0.7 over 4 seeds RLOO ends at 0.631 +- 0.015 and RLOO + iStar at
 * 0.652 +- 0.006, against 0.607 and 0.623 at 0.4 over 3 (findings 45, 46).
 */
export const SOKOBAN_2BOXES: RunConfigInput = {
  ...SMALL_SOKOBAN,
  ...SOKOBAN_RL,
  envOptions: { boxes: 2 },
  sft: { ...SMALL_SOKOBAN.sft, episodes: 3000 },
  alpha: 0.5,
  temperature: 0.7,
  iterations: 24,
};

/**
 * VisualSokoban's SFT: the text suites' 300 episodes x 6 epochs leave the image-patch policy on the marginal
 * plateau (loss 0.69 per token through epoch 4; held-out success 0.248), so that RL had nothing to build on
 * (docs/results.md, finding 28); 1,000 episodes x 12 epochs read the board: held-out success 0.586 on 256 levels.
 */
export const VISUAL_SOKOBAN_SFT: RunConfigInput['sft'] = { ...SMALL_SOKOBAN.sft, episodes: 1000, epochs: 12 };

/**
 * SFT of the WebShop suite (docs/results.md, findings 13, 19, 34, 51): expert labels at lr 5e-4 (lr 3e-3 kept
 * small models from reading their input, finding 1). With the copy head, 300 episodes x 4 epochs solved 0.117 of
 * 256 held-out goals and RL fell below it (finding 27); 3,000 x 2 (78 min here) solve 0.180, and RLOO holds
 * above that base (finding 51).
 */
const WEBSHOP_SFT: RunConfigInput['sft'] = { labels: 'expert', episodes: 3000, epochs: 2, lr: 5e-4 };

/**
 * Social's policy and SFT (docs/results.md, finding 33): the Sokoban suites' d64 L2 policy (139k parameters with
 * Social's vocabulary) in a 256-token window, SFT on 1,000 expert-labelled episodes x 6 epochs at lr 5e-4 (24 min
 * here): held-out success 0.273 on 256 scenarios with 3% invalid actions, where session 10's d128 base of 300 x 4
 * solved 0.156 of 64 and RL took it down (finding 17).
 */
export const SOCIAL_POLICY: RunConfigInput = {
  model: { dModel: 64, nLayers: 2, nHeads: 4, dFF: 256, contextLength: 256 },
  sft: { labels: 'expert', episodes: 1000, epochs: 6, lr: 5e-4, randomActionFraction: 0.5, batchSize: 32 },
};

const suite = (
  name: string,
  description: string,
  base: RunConfigInput,
  variants: { name: string; config: RunConfigInput }[],
  seeds = [0, 1, 2],
): Suite => ({
  name,
  description,
  sweep: { base: base as Record<string, unknown>, variants, seeds, sharedBase: true, maxConcurrent: 2 },
});

export const SUITES: Suite[] = [
  suite(
    'sokoban',
    'Table 1 on Sokoban (text): 8 methods x 3 seeds, 12 iterations',
    { ...SMALL_SOKOBAN, ...SOKOBAN_RL },
    PAPER_VARIANTS,
  ),
  suite(
    'sokoban-visual',
    'Table 1 on VisualSokoban (image patches): 8 methods x 3 seeds, 12 iterations',
    { ...SMALL_SOKOBAN, ...SOKOBAN_RL, env: 'sokoban-visual', sft: VISUAL_SOKOBAN_SFT },
    PAPER_VARIANTS,
  ),
  suite(
    'webshop',
    'Table 1 on WebShop: 8 methods x 3 seeds, 20 iterations',
    {
      env: 'webshop',
      // The instruction is the goal (the product to buy); no page repeats it.
      promptInstruction: true,
      historyLength: 0,
      iterations: 20,
      evalEvery: 5,
      // 256 held-out goals: the base solves ~0.18, so a run's standard error is ~0.024 (0.048 on 64).
      evalEpisodes: 256,
      // The Sokoban suites' regime (findings 21-22): one step per 256 steps, KL anchor, rollouts at the
      // evaluation's temperature 0.4 on-policy (at temperature 1, 73% of this base's actions are invalid, finding 19).
      ...STABLE_RL,
      // WebShop pages run to ~380 tokens (docs/results.md, finding 13); the copy head and the one-token product
      // ids give the first base above 0, 0.078 of 64 held-out goals (finding 19).
      model: { contextLength: 384, copyHead: true },
      sft: WEBSHOP_SFT,
    },
    PAPER_VARIANTS,
  ),
  suite(
    'social',
    'Table 3 on Social (negotiation): 8 methods x 3 seeds, 8 iterations',
    {
      env: 'social',
      // The goal and the scenario's argument lists are in the instruction; the partner's last line is the page.
      promptInstruction: true,
      historyLength: 1,
      ...SOCIAL_POLICY,
      // The Sokoban suites' regime (findings 21-22): 32 goals x 8 rollouts at the evaluation's temperature
      // on-policy, one step per 256 steps at lr 1e-4, KL anchor, return-ranked PRM pairs. Token-mean updates at
      // lr 5e-4 collapsed RLOO from session 10's base in 3 iterations (finding 17). From this base RLOO's
      // held-out success went 0.273 -> 0.309 -> 0.348 at iterations 0 / 3 / 6 (finding 33).
      ...STABLE_RL,
      groups: 32,
      groupSize: 8,
      iterations: 8,
      evalEvery: 4,
      // 256 held-out scenarios: a run's standard error ~0.03 at the base's 0.27.
      evalEpisodes: 256,
    },
    PAPER_VARIANTS,
  ),
  suite(
    'ablations',
    'iStar ablations on Sokoban: 5 variants x 3 seeds, 12 iterations',
    { ...SMALL_SOKOBAN, ...SOKOBAN_RL },
    ABLATION_VARIANTS,
  ),
  suite(
    'sokoban-quick',
    'RLOO vs RLOO + iStar on Sokoban, 3 seeds, 12 iterations (about 30 minutes here)',
    { ...SMALL_SOKOBAN, ...SOKOBAN_RL },
    RLOO_VS_ISTAR,
  ),
  suite(
    'sokoban-2boxes',
    'RLOO vs RLOO + iStar on 2-box Sokoban from a 3,000-episode SFT base, rollouts at temperature 0.7, 3 seeds, 24 iterations (about 80 minutes here)',
    SOKOBAN_2BOXES,
    RLOO_VS_ISTAR,
  ),
  suite(
    'smoke',
    'two tiny runs from one shared base (checks the runner end to end in a few minutes)',
    {
      env: 'sokoban',
      promptInstruction: false,
      historyLength: 0,
      iterations: 1,
      groups: 2,
      groupSize: 4,
      evalEvery: 1,
      evalEpisodes: 4,
      model: { dModel: 32, nLayers: 1, nHeads: 2, dFF: 64, contextLength: 96 },
      sft: { episodes: 10, epochs: 1 },
    },
    RLOO_VS_ISTAR,
    [0],
  ),
];

export function findSuite(name: string): Suite {
  const found = SUITES.find((s) => s.name === name);
  if (!found) throw new Error(`unknown suite "${name}"; one of: ${SUITES.map((s) => s.name).join(', ')}`);
  return found;
}
