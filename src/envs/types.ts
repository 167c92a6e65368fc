import type { Rng } from './prng';

/** What one env step reports besides the reward. */
export interface StepInfo {
  /** The task is solved (Sokoban: all boxes on targets; WebShop: reward 1; Social: goal > threshold). */
  won: boolean;
  /** The action text parsed and was applicable in the current state. */
  valid: boolean;
  /** Env-specific score (Sokoban: return so far; WebShop: reward x 100; Social: goal 0-10). */
  score: number;
}

export interface StepResult {
  observation: string;
  reward: number;
  done: boolean;
  info: StepInfo;
}

/** A text-in/text-out environment, as an LLM agent sees it. */
export interface Env {
  readonly name: string;
  readonly maxSteps: number;
  /** Starts the episode of level/task `seed`; returns the first observation text. */
  reset(seed: number): string;
  /** Malformed or inapplicable action text is an invalid step (valid=false, the env's penalty); never throws. */
  step(actionText: string): StepResult;
  /** Task instruction text shown to the agent. */
  instruction(): string;
  /** Concrete actions that are valid now (empty where the env has no such list). */
  admissibleActions(): string[];
  /** Canonical string of the current state (GiGPO anchor groups). */
  anchor(): string;
  /** Visual variant only: RGB in 0..1, height x width x 3, row-major. */
  image?(): EnvImage;
  /** The scripted expert's next action from the current state. */
  expertAction(): string;
  /**
   * A plausible action that is invalid in the current state, the kind of mistake a policy makes (WebShop: a
   * click on a product that is not on the page), for demonstrations that show the expert recovering from it
   * (`sft.invalidActionFraction`). Envs without one get no invalid demonstration steps.
   */
  invalidAction?(rng: Rng): string;
}

export interface EnvImage {
  height: number;
  width: number;
  channels: 3;
  data: Float32Array;
}

/** Half-open range [start, end) of episode seeds. */
export interface SeedRange {
  start: number;
  end: number;
}

export interface EnvSpec {
  name: string;
  /** `options.maxSteps` sets the episode budget (every built-in env honours it); the rest are the env's own. */
  create(options?: Record<string, unknown>): Env;
  /** Texts from which a tokenizer vocabulary is built; deterministic. */
  vocabularyTexts(): string[];
  /** Training seeds; disjoint from heldOutSeeds. */
  trainSeeds: SeedRange;
  /** Held-out evaluation seeds; all >= 2**16 as in the original benchmarks. */
  heldOutSeeds: SeedRange;
  /** Scored envs: an episode with score > successThreshold counts as positive (Social: goal > 6). */
  successThreshold?: number;
  /**
   * Default of the run config's maxActionTokens: room for the longest action a demonstration takes, with
   * its <eos>, plus headroom (Sokoban 2 tokens; WebShop: the expert's searches up to 23, the admissible
   * search, the whole instruction, up to 74; Social: utterances up to 17).
   */
  maxActionTokens: number;
}

/** First held-out seed, as in gym-sokoban/WebShop splits used by the paper. */
export const HELD_OUT_SEED_START = 2 ** 16;
