// Workflow code imports this module (to read an algorithm's stages), so its import graph must stay
// deterministic-sandbox safe: no @tensorflow, no Node built-ins (test/algo/registry.test.ts checks).
import { z } from 'zod';
import { AlgoInputError } from './errors';
import {
  episodeAdvantages,
  istarAdvantages,
  ISTAR_OPTION_DEFAULTS,
  type AdvantageInput,
  type AdvantageOutput,
} from './advantages';
import {
  GIGPO_OPTION_DEFAULTS,
  gigpoAdvantages,
  PPO_OPTION_DEFAULTS,
  ppoAdvantages,
  PRIME_OPTION_DEFAULTS,
  primeAdvantages,
} from './baselines';
import { EPISODE_ESTIMATORS, type EpisodeEstimator } from './episode';

/** The stages of an iteration (DESIGN.md section 3) an algorithm needs beyond rollouts and the policy update. */
export interface AlgorithmStages {
  /** Train an implicit PRM pi_phi each iteration. */
  needsPrm: boolean;
  /** Its loss: trajectory DPO (iStar eq. 2) or PRIME's cross-entropy; null without a PRM. */
  prmLoss: 'dpo' | 'prime-ce' | null;
  /** labelPreferences before the PRM update (DPO only). */
  needsPreferences: boolean;
  /** A value head (PPO's GAE). */
  needsValueHead: boolean;
  /** A frozen reference model's log-probs (PRIME's implicit reward). */
  needsReference: boolean;
}

/** One algorithm: its stages, its options (a zod schema with every default), and its advantage function. */
export interface AlgorithmSpec<O extends Record<string, unknown> = Record<string, unknown>> {
  name: string;
  description: string;
  stages: AlgorithmStages;
  /** Validates options and fills defaults; `{}` gives the paper's setting. */
  options: z.ZodType<O>;
  /** Per-token advantages of a batch; `options` already validated. */
  advantages(input: AdvantageInput, options: O): AdvantageOutput;
}

/** A name -> spec registry that refuses duplicates and lists the valid names for unknown ones (verl core_algos). */
export class AlgorithmRegistry {
  private readonly specs = new Map<string, AlgorithmSpec>();

  register<O extends Record<string, unknown>>(spec: AlgorithmSpec<O>): void {
    if (this.specs.has(spec.name))
      throw new AlgoInputError(`algorithm '${spec.name}' is already registered; names must be unique`);
    this.specs.set(spec.name, spec as unknown as AlgorithmSpec);
  }

  get(name: string): AlgorithmSpec {
    const spec = this.specs.get(name);
    if (!spec)
      throw new AlgoInputError(`unknown algorithm '${name}'; valid algorithms: ${this.names().join(', ')}`);
    return spec;
  }

  has(name: string): boolean {
    return this.specs.has(name);
  }

  names(): string[] {
    return [...this.specs.keys()];
  }

  /**
   * The spec, validated options (defaults filled) and a bound advantage function for `name`.
   * Bad options throw an AlgoInputError naming each bad field.
   */
  resolve(name: string, options: unknown = {}): ResolvedAlgorithm {
    const spec = this.get(name);
    const parsed = spec.options.safeParse(options ?? {});
    if (!parsed.success) {
      const fields = parsed.error.issues
        .map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`)
        .join('; ');
      throw new AlgoInputError(`invalid options for algorithm '${name}': ${fields}`);
    }
    const opts = parsed.data;
    return { spec, options: opts, stages: spec.stages, advantages: (input) => spec.advantages(input, opts) };
  }
}

export interface ResolvedAlgorithm {
  spec: AlgorithmSpec;
  options: Record<string, unknown>;
  stages: AlgorithmStages;
  advantages(input: AdvantageInput): AdvantageOutput;
}

const NO_EXTRA_STAGES: AlgorithmStages = {
  needsPrm: false,
  prmLoss: null,
  needsPreferences: false,
  needsValueHead: false,
  needsReference: false,
};
const estimatorNames = Object.keys(EPISODE_ESTIMATORS) as [EpisodeEstimator, ...EpisodeEstimator[]];

const istarOptions = z
  .object({
    beta: z.number().positive().default(ISTAR_OPTION_DEFAULTS.beta),
    alpha: z.number().nonnegative().default(ISTAR_OPTION_DEFAULTS.alpha),
    episodeEstimator: z.enum(estimatorNames).default(ISTAR_OPTION_DEFAULTS.episodeEstimator),
    variant: z
      .enum(['full', 'process-only', 'merged-rewards', 'token-level'])
      .default(ISTAR_OPTION_DEFAULTS.variant),
    invalidStepCredit: z.enum(['prm', 'non-positive']).default(ISTAR_OPTION_DEFAULTS.invalidStepCredit),
    alphaGate: z.enum(['fixed', 'prm-accuracy']).default(ISTAR_OPTION_DEFAULTS.alphaGate),
    /** PRM aggregation of eq. (2): 'sum' (paper) or 'mean' (released code). Read by the PRM stage. */
    prmAggregation: z.enum(['sum', 'mean']).default('sum'),
    /** Score steps with the PRM after its update (paper) or before it ('previous', released code). Read by the pipeline. */
    prmScoring: z.enum(['updated', 'previous']).default('updated'),
  })
  .strict();

const episodeOnly = (name: EpisodeEstimator, description: string): AlgorithmSpec<Record<string, never>> => ({
  name,
  description,
  stages: NO_EXTRA_STAGES,
  options: z.object({}).strict() as unknown as z.ZodType<Record<string, never>>,
  advantages: (input) => episodeAdvantages(input, name),
});

/** The built-in algorithms (the paper's method and its Table 1 baselines). */
export function builtinAlgorithms(): AlgorithmSpec[] {
  const specs: AlgorithmSpec[] = [
    {
      name: 'istar',
      description: 'iStar: implicit step rewards from a trajectory-DPO PRM; A = A_E + alpha * A_S (eqs. 1-5)',
      stages: {
        needsPrm: true,
        prmLoss: 'dpo',
        needsPreferences: true,
        needsValueHead: false,
        needsReference: false,
      },
      options: istarOptions as unknown as z.ZodType<Record<string, unknown>>,
      advantages: (input, o) => istarAdvantages(input, o as z.infer<typeof istarOptions>),
    },
    episodeOnly('rloo', 'RLOO: leave-one-out episode advantage (eq. 3)') as unknown as AlgorithmSpec,
    {
      name: 'grpo',
      description: 'GRPO: group-normalised episode advantage (eq. 3); meanOnly drops the std',
      stages: NO_EXTRA_STAGES,
      options: z.object({ meanOnly: z.boolean().default(false) }).strict() as unknown as z.ZodType<
        Record<string, unknown>
      >,
      advantages: (input, o) => episodeAdvantages(input, o.meanOnly ? 'grpo-mean' : 'grpo'),
    },
    episodeOnly(
      'reinforce++',
      'REINFORCE++-baseline: group-mean baseline, whitened over the batch (eq. 3)',
    ) as unknown as AlgorithmSpec,
    {
      name: 'gigpo',
      description: 'GiGPO: episode GRPO + anchor-state step groups of discounted returns',
      stages: NO_EXTRA_STAGES,
      options: z
        .object({
          gamma: z.number().min(0).max(1).default(GIGPO_OPTION_DEFAULTS.gamma),
          stepWeight: z.number().nonnegative().default(GIGPO_OPTION_DEFAULTS.stepWeight),
          norm: z.enum(['mean', 'std']).default(GIGPO_OPTION_DEFAULTS.norm),
        })
        .strict() as unknown as z.ZodType<Record<string, unknown>>,
      advantages: (input, o) => gigpoAdvantages(input, o),
    },
    {
      name: 'prime',
      description: 'PRIME: token-level implicit rewards vs a reference, PRM by outcome cross-entropy, RLOO',
      stages: {
        needsPrm: true,
        prmLoss: 'prime-ce',
        needsPreferences: false,
        needsValueHead: false,
        needsReference: true,
      },
      options: z
        .object({
          beta: z.number().positive().default(PRIME_OPTION_DEFAULTS.beta),
          whiten: z.boolean().default(PRIME_OPTION_DEFAULTS.whiten),
        })
        .strict() as unknown as z.ZodType<Record<string, unknown>>,
      advantages: (input, o) => primeAdvantages(input, o),
    },
    {
      name: 'ppo',
      description: 'PPO with a value head and step-level GAE',
      stages: { ...NO_EXTRA_STAGES, needsValueHead: true },
      options: z
        .object({
          gamma: z.number().min(0).max(1).default(PPO_OPTION_DEFAULTS.gamma),
          gaeLambda: z.number().min(0).max(1).default(PPO_OPTION_DEFAULTS.gaeLambda),
          reward: z.enum(['outcome', 'env']).default(PPO_OPTION_DEFAULTS.reward),
          whiten: z.boolean().default(PPO_OPTION_DEFAULTS.whiten),
        })
        .strict() as unknown as z.ZodType<Record<string, unknown>>,
      advantages: (input, o) => ppoAdvantages(input, o),
    },
  ];
  return specs;
}

/** A registry holding the built-in algorithms. */
export function createAlgorithmRegistry(): AlgorithmRegistry {
  const registry = new AlgorithmRegistry();
  for (const spec of builtinAlgorithms()) registry.register(spec);
  return registry;
}

/** The process-wide registry: istar, rloo, grpo, reinforce++, gigpo, prime, ppo. */
export const algorithms: AlgorithmRegistry = createAlgorithmRegistry();

/** Shorthand for algorithms.resolve(name, options). */
export function resolveAlgorithm(name: string, options: unknown = {}): ResolvedAlgorithm {
  return algorithms.resolve(name, options);
}

/** The names a run config may use for `algorithm`. */
export const ALGORITHM_NAMES = ['istar', 'rloo', 'grpo', 'reinforce++', 'gigpo', 'prime', 'ppo'] as const;
export type AlgorithmName = (typeof ALGORITHM_NAMES)[number];
