import { z } from 'zod';

/**
 * The one input of a training run (workflow `istarTraining`, `istar train`). Every field is optional with a
 * default, so `{}` typed into the Temporal UI's Start Workflow form starts a sensible iStar run on Sokoban.
 * Validated once at the boundary; unknown fields are errors (a typo must not be silently ignored).
 * Pure (zod only): imported by workflow code.
 */

export const ENV_NAMES = ['sokoban', 'sokoban-visual', 'webshop', 'social'] as const;
export const ALGORITHM_NAMES = ['istar', 'rloo', 'grpo', 'reinforce++', 'gigpo', 'prime', 'ppo'] as const;
export const EPISODE_ESTIMATORS = ['rloo', 'grpo', 'grpo-mean', 'reinforce++'] as const;
export const ISTAR_VARIANTS = ['istar', 'process-only', 'merged-rewards', 'token-level'] as const;

const EXPERIMENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const experimentIdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .refine((s) => !s.includes('..'), 'must not contain ".." (path traversal)')
  .regex(EXPERIMENT_ID, 'use letters, digits, "-", "_", "." and start with a letter or digit');

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const prob = z.number().min(0).max(1);
const positive = z.number().positive().finite();

export const modelSizeSchema = z
  .object({
    /** Width of the residual stream. */
    dModel: int(8, 1024).optional(),
    /** Number of transformer blocks. */
    nLayers: int(1, 24).optional(),
    /** Attention heads; must divide dModel. */
    nHeads: int(1, 32).optional(),
    /** Hidden width of the MLP. */
    dFF: int(8, 8192).optional(),
    /** Context window in tokens. */
    contextLength: int(16, 4096).optional(),
    /**
     * Add line/column position embeddings of each token's place in the text (image patches: their grid
     * row/column), so the cells of a board share row and column structure (docs/results.md, finding 11).
     */
    layoutPositions: z.boolean().optional(),
    /**
     * Add a copy (pointer) head, so the policy can emit a token of its context directly (a search word or
     * a product id on WebShop; docs/results.md, finding 19).
     */
    copyHead: z.boolean().optional(),
  })
  .strict()
  .refine((m) => m.dModel === undefined || m.nHeads === undefined || m.dModel % m.nHeads === 0, {
    message: 'nHeads must divide dModel',
    path: ['nHeads'],
  });

export const sftSchema = z
  .object({
    /** Expert demonstration episodes for the base policy. */
    episodes: int(1, 100_000).default(200),
    /** Fraction of random actions mixed into the demonstrations (a weak base: paper bases start at 14-21%). */
    randomActionFraction: prob.default(0.5),
    /**
     * Fraction of demonstration steps that take an invalid action instead (the env's typical mistake, e.g. a
     * WebShop click on a product not on the page), each followed by the expert's recovery: with
     * `envOptions.invalidActionFeedback` the base learns what to do after a failed action. Unset = 0, and
     * then the demonstrations (and a stored base's identity) are what they were without the field.
     */
    invalidActionFraction: prob.optional(),
    /** Epochs of teacher-forced training. */
    epochs: int(1, 1000).default(4),
    /** SFT learning rate. */
    lr: positive.default(3e-3),
    /** SFT minibatch size. */
    batchSize: int(1, 4096).default(32),
    /**
     * SFT targets: `expert` = the expert's action in every visited state (random actions only steer which
     * states are visited); `taken` = the action actually taken, random ones included (a noisier base);
     * `demonstrator` = the noisy demonstrator's action distribution in every visited state as a soft target
     * (the expert's action with weight 1 - randomActionFraction, the rest spread over the admissible actions):
     * the base learns to read the board like `expert` but keeps the demonstrator's hesitation.
     */
    labels: z.enum(['expert', 'taken', 'demonstrator']).default('taken'),
  })
  .strict();

export const runConfigSchema = z
  .object({
    /** Storage id of the run (letters, digits, -, _, .); default: derived from the workflow id. */
    experimentId: experimentIdSchema.optional(),
    /** Environment (DESIGN.md section 4). */
    env: z.enum(ENV_NAMES).default('sokoban'),
    /** Training algorithm; `istar` is RLOO/GRPO/REINFORCE++ + implicit step rewards. */
    algorithm: z.enum(ALGORITHM_NAMES).default('istar'),
    /** iStar's episode-level estimator, eq. (3). */
    episodeEstimator: z.enum(EPISODE_ESTIMATORS).default('rloo'),
    /** iStar ablations: process-only (A = A_S), merged rewards, token-level PRM rewards. */
    variant: z.enum(ISTAR_VARIANTS).default('istar'),
    /** RL iterations after the SFT warm start. */
    iterations: int(1, 100_000).default(20),
    /** G: groups (tasks/levels) per iteration. */
    groups: int(1, 4096).default(8),
    /** N: rollouts per group (paper 8). */
    groupSize: int(2, 256).default(8),
    /**
     * Steps per episode: every env of the run (rollouts, demonstrations, evaluation) ends an episode after this
     * many actions. Default: the env's own (Sokoban 15, the paper's; WebShop and Social 10).
     */
    maxSteps: int(1, 200).optional(),
    /** Max action tokens the policy may generate per step; default: the env's own (Sokoban 8, WebShop 80, Social 24). */
    maxActionTokens: int(1, 256).optional(),
    /**
     * Options of the environment. `productIds` (WebShop only): `catalog` (default) shows every product under
     * its fixed id; `per-episode` under an id drawn afresh for each episode, so that a policy must copy the
     * id from the page instead of recalling its demonstrations' ids (docs/results.md, finding 27).
     * `invalidActionFeedback` (WebShop only, default false): after an invalid action the next observation
     * starts with `Invalid action: <the action>`, so that a policy without history can tell it failed.
     * `boxes` (Sokoban and VisualSokoban, default 1, the paper's): boxes per level; with 2 the shortest
     * solutions are ~8 steps instead of ~3.5, so that credit has longer episodes to be assigned over.
     * `minTrainMoves` (Sokoban and VisualSokoban): train on long levels only. A training level whose shortest
     * solution is under this many moves, or over the episode's `maxSteps` (15 by default), is replaced by one that
     * needs this many to `maxSteps` (rollouts and SFT demonstrations); held-out levels never are, so evaluation is unchanged.
     */
    envOptions: z
      .object({
        productIds: z.enum(['catalog', 'per-episode']).optional(),
        invalidActionFeedback: z.boolean().optional(),
        boxes: int(1, 4).optional(),
        minTrainMoves: int(1, 200).optional(),
      })
      .strict()
      .default({}),
    /** H: previous observations/actions kept in the context (paper 2). */
    historyLength: int(0, 16).default(2),
    /**
     * Whether each history turn shows its observation and action (default, the paper's c_t) or only the action
     * (`Previous action: ...` lines): the last actions fit beside a long page (WebShop's ~380 tokens), where a
     * full turn would be dropped for length.
     */
    historyObservations: z.boolean().default(true),
    /**
     * Whether every context starts with the env's task instruction, as an LLM agent's prompt does. On
     * Sokoban it is the fixed rules (~130 tokens a model trained from scratch learns nothing from); on
     * WebShop and Social it holds the episode's goal (the product to buy, the negotiation target), which
     * no observation repeats, so `false` leaves the agent blind to it.
     */
    promptInstruction: z.boolean().default(true),
    /** Sampling temperature of rollouts. */
    temperature: positive.max(10).default(1),
    /**
     * Take every log-prob of the RL update (pi_old's at rollout, the PPO ratio, the KL to the reference,
     * the PRM's DPO loss and implicit rewards) from the tempered distribution softmax(logits / temperature)
     * that samples the rollouts, as verl does, so that a rollout temperature below 1 stays on-policy.
     * false: at temperature 1 (with temperature 1 the two are the same).
     */
    temperedLogProbs: z.boolean().default(false),
    /** Policy model size (defaults sized for the env, < 1M parameters). */
    model: modelSizeSchema.default({}),
    /** Base policy by SFT on noisy expert demonstrations. */
    sft: sftSchema.default(sftSchema.parse({})),
    /** alpha of eq. (5): weight of the step advantage. */
    alpha: z.number().finite().min(0).max(100).default(1),
    /**
     * iStar: how alpha is applied. 'fixed' (default, the paper's); 'prm-accuracy': alpha * clamp(2p - 1, 0, 1)
     * with p the PRM's held-out pair accuracy on this iteration's batch (prm/heldout_accuracy), 0 when the
     * PRM was not trained this iteration. Logged as istar/alpha.
     */
    alphaGate: z.enum(['fixed', 'prm-accuracy']).default('fixed'),
    /** beta of eqs. (1)-(2): implicit reward scale. */
    beta: positive.max(100).default(0.05),
    /**
     * iStar: step credit of invalid actions. 'non-positive' (default): never above 0 (the DPO-trained PRM
     * otherwise comes to reward unseen text and the policy collapses into invalid actions); 'prm': as the
     * PRM gives it (the paper).
     */
    invalidStepCredit: z.enum(['non-positive', 'prm']).default('non-positive'),
    /** Policy (AdamW) learning rate. */
    policyLr: positive.max(1).default(2e-4),
    /** PRM learning rate (paper 1e-6 for 7B models; scaled up for small ones). */
    prmLr: positive.max(1).default(2e-4),
    /** PRM updates (passes over the pairs) per iteration. */
    prmEpochs: int(1, 100).default(1),
    /** Trajectory log-ratio of eq. (2): sum over steps (paper) or mean (released code). */
    prmLogRatio: z.enum(['sum', 'mean']).default('sum'),
    /**
     * Which trajectories of a group the PRM is taught to prefer (eq. 2's pairs): 'success' (the paper's:
     * successes over failures; scored envs: above the env's threshold over the rest) or 'return' (every
     * trajectory over each one of its group with a lower episode return, so a shorter success is preferred
     * to a longer one and groups where every episode succeeds or fails still teach the PRM).
     */
    preferences: z.enum(['success', 'return']).default('success'),
    /**
     * Where each iteration's PRM update starts: 'carry' (default, the paper's) from the previous iteration's
     * PRM; 'policy' from pi_old, so the PRM cannot drift from pi_old across iterations and its step rewards
     * come from this batch's preferences alone (docs/results.md, finding 20).
     */
    prmInit: z.enum(['carry', 'policy']).default('carry'),
    /** Which PRM scores eq. (1): the updated one (paper) or the previous one (released code). */
    prmScoring: z.enum(['updated', 'previous']).default('updated'),
    /** epsilon of the PPO clip, eq. (6). */
    clipEps: positive.max(1).default(0.2),
    /** Dual-clip constant c for A < 0 (0 disables). */
    dualClip: z.number().min(0).max(100).default(3),
    /**
     * How the policy loss weighs the steps of a batch: `uniform` (paper: token-mean, so a 15-step failure
     * counts 3x a 5-step success) or `per-trajectory` (each step's advantage scaled by mean length / its
     * episode's length, so every episode weighs the same and shared tokens such as <eos> get no net push
     * from length alone).
     */
    stepWeighting: z.enum(['uniform', 'per-trajectory']).default('uniform'),
    /** Importance ratio per step (paper) or per token. */
    ratioLevel: z.enum(['step', 'token']).default('step'),
    /** Entropy bonus coefficient. */
    entropyCoef: z.number().min(0).max(1).default(0.001),
    /** k3 KL to the reference (SFT) policy; 0 disables (paper default). */
    klCoef: z.number().min(0).max(10).default(0),
    /** Penalty on the advantage of an invalid-action step. */
    invalidPenalty: z.number().min(0).max(10).default(0.1),
    /**
     * Trust region of the policy update: a minibatch whose approx-KL from pi_old (measured before its step)
     * is already above this is skipped, so an iteration moves the policy by about this much at most
     * (CleanRL's and Stable-Baselines3's target_kl); 0 disables (the paper).
     */
    targetKl: z.number().min(0).max(10).default(0),
    /** Policy epochs over the batch per iteration. */
    ppoEpochs: int(1, 50).default(1),
    /** Steps per policy minibatch (one optimizer step each; the wasm heap bounds how many sequences one backward pass holds). */
    miniBatchSteps: int(1, 4096).default(32),
    /** Sequences per backward pass inside a minibatch (gradients accumulate; bounds memory, not the math). */
    microBatchSteps: int(1, 1024).default(8),
    /** Global gradient-norm clip. */
    maxGradNorm: positive.default(1),
    /**
     * Linear learning-rate warm-up over the first N optimizer steps of the policy and of the PRM (both start RL
     * with fresh AdamW moments, whose first steps move every weight by about the full learning rate); 0 = none.
     */
    lrWarmupSteps: int(0, 100_000).default(20),
    /**
     * AdamW epsilon of the policy and PRM updates. Adam scales every weight's step to about the learning rate
     * however small its gradient; a larger epsilon lets weights whose gradients are tiny (tokens the policy
     * rarely emits) stay put instead of drifting at full speed.
     */
    adamEps: z.number().positive().max(1).default(1e-4),
    /**
     * Learning-rate multiplier of the policy's token embedding (tied to the output layer, so it holds the
     * overall preference for each action word) in RL updates; 0 freezes it.
     */
    embeddingLrScale: z.number().min(0).max(1).default(1),
    /** GiGPO: discount of step returns and weight of the step-group advantage. */
    gamma: prob.default(0.95),
    gigpoWeight: z.number().min(0).max(100).default(1),
    /** PPO: GAE lambda. */
    gaeLambda: prob.default(0.95),
    /** Evaluate on held-out levels every K iterations (and after the last). */
    evalEvery: int(1, 100_000).default(5),
    /** Held-out episodes per evaluation. */
    evalEpisodes: int(1, 100_000).default(64),
    /** Sampling temperature of evaluation (paper 0.4). */
    evalTemperature: positive.max(10).default(0.4),
    /** Parallel collectRollouts activities per iteration. */
    rolloutShards: int(1, 256).default(2),
    /** Master seed of the run (levels, sampling, initialisation). */
    seed: int(0, 2 ** 31 - 1).default(0),
    /** Start from another run's stored checkpoint instead of SFT. */
    resumeFrom: z
      .object({ experimentId: experimentIdSchema, iteration: int(0, 999_999) })
      .strict()
      .optional(),
    /** Task queue of the CPU activities (rollouts, preferences, evaluation). */
    rolloutTaskQueue: z.string().min(1).max(200).default('istar-rollout'),
    /** Task queue of the GPU activities (SFT, PRM, advantages, policy). */
    trainerTaskQueue: z.string().min(1).max(200).default('istar-trainer'),
    /** Heartbeat timeout of long activities: how long a dead worker's attempt is waited for before a retry. */
    heartbeatTimeoutSeconds: int(5, 3600).default(120),
    /** Continue-as-new every K iterations (also when the server suggests it). */
    continueAsNewEvery: int(1, 10_000).default(25),
  })
  .strict();

export type RunConfigInput = z.input<typeof runConfigSchema>;
export type RunConfig = z.output<typeof runConfigSchema>;

/** Hyper-parameters that may change during a run (signal/update `setHyperparameters`). */
export const hyperparametersSchema = z
  .object({
    alpha: runConfigSchema.shape.alpha.removeDefault().optional(),
    beta: runConfigSchema.shape.beta.removeDefault().optional(),
    policyLr: runConfigSchema.shape.policyLr.removeDefault().optional(),
    prmLr: runConfigSchema.shape.prmLr.removeDefault().optional(),
  })
  .strict()
  .refine((h) => Object.keys(h).length > 0, 'give at least one of alpha, beta, policyLr, prmLr');
export type Hyperparameters = z.output<typeof hyperparametersSchema>;

export class RunConfigError extends Error {
  override name = 'RunConfigError';
  constructor(readonly issues: string[]) {
    super(`invalid run config: ${issues.join('; ')}`);
  }
}

/**
 * One line per issue naming its field (`groups: ...`, `model: unknown field "foo"`); `scope` puts the field
 * where it sits in a larger input (a sweep's `base` or `variants.<name>`).
 */
export function describeIssues(
  error: z.ZodError,
  scope: (issue: z.core.$ZodIssue) => string = () => '',
): string[] {
  return error.issues.map((issue) => {
    const path = [scope(issue), ...issue.path.map(String)].filter(Boolean).join('.') || '(input)';
    if (issue.code === 'unrecognized_keys') {
      return `${path === '(input)' ? '' : `${path}: `}unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    }
    return `${path}: ${issue.message}`;
  });
}

/** Validate and fill defaults; throws a RunConfigError naming every bad field. `null`/`undefined` mean `{}`. */
export function parseRunConfig(input: unknown): RunConfig {
  const result = runConfigSchema.safeParse(input ?? {});
  if (!result.success) throw new RunConfigError(describeIssues(result.error));
  const issues = crossFieldIssues(result.data);
  if (issues.length > 0) throw new RunConfigError(issues);
  return result.data;
}

/** What the schema's field-by-field checks cannot see: fields that only make sense together. */
export function crossFieldIssues(config: RunConfig): string[] {
  const issues: string[] = [];
  if (config.envOptions.productIds !== undefined && config.env !== 'webshop')
    issues.push(`envOptions.productIds: only the webshop env has product ids (env is ${config.env})`);
  if (config.envOptions.invalidActionFeedback !== undefined && config.env !== 'webshop')
    issues.push(
      `envOptions.invalidActionFeedback: only the webshop env reports invalid actions in its observation (env is ${config.env})`,
    );
  if (config.envOptions.boxes !== undefined && config.env !== 'sokoban' && config.env !== 'sokoban-visual')
    issues.push(`envOptions.boxes: only the sokoban envs have boxes (env is ${config.env})`);
  if (config.envOptions.minTrainMoves !== undefined) {
    if (config.env !== 'sokoban' && config.env !== 'sokoban-visual')
      issues.push(
        `envOptions.minTrainMoves: only the sokoban envs have solution lengths (env is ${config.env})`,
      );
    else {
      const budget = config.maxSteps ?? 15; // SokobanEnv's own budget
      if (config.envOptions.minTrainMoves > budget)
        issues.push(
          `envOptions.minTrainMoves: ${config.envOptions.minTrainMoves} is above the episode's ${budget} steps, so no training level could be solved within an episode`,
        );
    }
  }
  return issues;
}

export function parseHyperparameters(input: unknown): Hyperparameters {
  const result = hyperparametersSchema.safeParse(input ?? {});
  if (!result.success) throw new RunConfigError(describeIssues(result.error));
  return result.data;
}

/** A valid experiment id derived from any string (e.g. a workflow id). */
export function experimentIdFrom(raw: string): string {
  const cleaned = raw
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[^A-Za-z0-9]+/, '');
  return (cleaned || 'run').slice(0, 128);
}
