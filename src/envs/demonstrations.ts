import { createRng, type Rng } from './prng';
import type { Env, EnvSpec, SeedRange } from './types';

/** One expert episode for SFT: observations[t] is what the agent saw before actions[t]. */
export interface Demonstration {
  seed: number;
  instruction: string;
  /** actions.length + 1 observations: the reset observation, then one after each action. */
  observations: string[];
  /** The env's canonical state string before each action (for Sokoban the board text; renders the image of the visual variant). */
  anchors: string[];
  actions: string[];
  /** Per-step env rewards, aligned with actions. */
  rewards: number[];
  /** Whether each action was the expert's (false = an injected random or invalid action). */
  expert: boolean[];
  /** Whether each action was an injected invalid one (`invalidActionFraction`); never an SFT target. */
  invalid: boolean[];
  /** The expert's action in each visited state (what it would have done where a random action was taken). */
  expertActions: string[];
  /** The admissible actions of each visited state (what a random action is drawn from). */
  admissible: string[][];
  won: boolean;
  /** Episode return (sum of rewards). */
  reward: number;
  /** Final info.score. */
  score: number;
}

export interface DemonstrationOptions {
  /** Number of episodes. */
  episodes: number;
  /** Seeds to draw levels/tasks from (a range is sampled uniformly; a list is cycled); default spec.trainSeeds. */
  seeds?: SeedRange | number[];
  /** Probability that a step takes a random admissible action instead of the expert's (0 = pure expert). */
  randomActionFraction?: number;
  /**
   * Probability that a step takes an invalid action (`Env.invalidAction`) instead, drawn before the random
   * one: the next state shows the mistake (an env with feedback says so) and is labelled with the expert's
   * action, so SFT teaches recovering from it. 0 (default) draws nothing, so demonstrations without it are
   * unchanged.
   */
  invalidActionFraction?: number;
  /** PRNG seed for seed sampling and action noise. */
  seed?: number;
  /** Options passed to spec.create. */
  envOptions?: Record<string, unknown>;
}

/**
 * Expert demonstrations with a configurable share of random actions, so that a model trained on
 * them starts weak but not at zero (the paper's base models start at 14-21% success).
 * Deterministic for a given spec and options.
 */
export function collectDemonstrations(spec: EnvSpec, options: DemonstrationOptions): Demonstration[] {
  const rng = createRng(options.seed ?? 0);
  const fraction = options.randomActionFraction ?? 0;
  if (!(fraction >= 0 && fraction <= 1))
    throw new Error(`randomActionFraction must be in [0, 1], got ${fraction}`);
  const invalidFraction = options.invalidActionFraction ?? 0;
  if (!(invalidFraction >= 0 && invalidFraction <= 1))
    throw new Error(`invalidActionFraction must be in [0, 1], got ${invalidFraction}`);
  const seeds = options.seeds ?? spec.trainSeeds;
  const env = spec.create(options.envOptions);
  const out: Demonstration[] = [];
  for (let i = 0; i < options.episodes; i++) {
    const seed = Array.isArray(seeds)
      ? seeds[i % seeds.length]
      : seeds.start + rng.int(seeds.end - seeds.start);
    out.push(runEpisode(env, seed, fraction, invalidFraction, rng));
  }
  return out;
}

function runEpisode(
  env: Env,
  seed: number,
  fraction: number,
  invalidFraction: number,
  rng: Rng,
): Demonstration {
  const observations = [env.reset(seed)];
  const demo: Demonstration = {
    seed,
    instruction: env.instruction(),
    observations,
    anchors: [],
    actions: [],
    rewards: [],
    expert: [],
    invalid: [],
    expertActions: [],
    admissible: [],
    won: false,
    reward: 0,
    score: 0,
  };
  for (let t = 0; t < env.maxSteps; t++) {
    const admissible = env.admissibleActions();
    // The invalid draw first and only when asked for, so that demonstrations without it keep their PRNG stream.
    const invalid = invalidFraction > 0 && env.invalidAction !== undefined && rng.chance(invalidFraction);
    const random = !invalid && fraction > 0 && admissible.length > 0 && rng.chance(fraction);
    const expertAction = env.expertAction();
    const action = invalid ? env.invalidAction!(rng) : random ? rng.pick(admissible) : expertAction;
    demo.anchors.push(env.anchor());
    const result = env.step(action);
    observations.push(result.observation);
    demo.actions.push(action);
    demo.rewards.push(result.reward);
    demo.expert.push(!random && !invalid);
    demo.invalid.push(invalid);
    demo.expertActions.push(expertAction);
    demo.admissible.push(admissible);
    demo.reward += result.reward;
    demo.won = result.info.won;
    demo.score = result.info.score;
    if (result.done) break;
  }
  return demo;
}
