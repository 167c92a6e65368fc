import type { Group, RolloutBatch, Step } from '../algo';
import type { Env, EnvSpec } from '../envs';
import type { Tokenizer, TransformerLM } from '../model';
import { decodeAction, encodeContext, type Turn } from './prompt';

export interface CollectOptions {
  spec: EnvSpec;
  envOptions?: Record<string, unknown>;
  /** One level/task seed per group. */
  seeds: readonly number[];
  /** N: rollouts per group (the same level N times). */
  groupSize: number;
  /** Episode cap; default the env's own. */
  maxSteps?: number;
  temperature: number;
  /** Store log-probs of the tempered sampling distribution instead of temperature 1's (SampleOptions). */
  temperedLogProbs?: boolean;
  maxActionTokens: number;
  historyLength: number;
  /** Whether history turns keep their observation (default true) or show only the action taken. */
  historyObservations?: boolean;
  /** Whether contexts start with the env's task instruction (default true). */
  instruction?: boolean;
  /** Seed of the sampling PRNG; each env step uses a seed derived from it. */
  samplingSeed: number;
  /** Group ids (default `g<seed>`). */
  groupIds?: readonly string[];
  /** Awaited after every batched env step with (steps done, active envs): heartbeat, cancellation, yielding. */
  onStep?: (stepIndex: number, active: number) => Promise<void> | void;
}

interface Slot {
  env: Env;
  group: number;
  history: Turn[];
  observation: string;
  steps: Step[];
  done: boolean;
  won: boolean;
  score: number;
  return: number;
}

/** Largest context that leaves room for the action in the model's window. */
export function contextBudget(model: TransformerLM, maxActionTokens: number): number {
  return model.config.contextLength - maxActionTokens;
}

/**
 * Play G groups x N episodes with the policy, all envs stepped in lock step and every env step's actions
 * sampled in one batched call (DESIGN.md section 3, step 1). Records what every later stage needs: context
 * and action tokens, pi_old's per-token log-probs, env rewards, validity, anchors, outcome and success.
 */
export async function collectRollouts(
  model: TransformerLM,
  tokenizer: Tokenizer,
  options: CollectOptions,
): Promise<RolloutBatch> {
  const { spec, seeds, groupSize } = options;
  const eos = tokenizer.id('<eos>');
  const budget = contextBudget(model, options.maxActionTokens);
  if (budget < 8)
    throw new Error(
      `model window ${model.config.contextLength} leaves no room for contexts after ${options.maxActionTokens} action tokens`,
    );
  const slots: Slot[] = [];
  seeds.forEach((seed, group) => {
    for (let i = 0; i < groupSize; i++) {
      const env = spec.create(options.envOptions);
      const observation = env.reset(seed);
      slots.push({
        env,
        group,
        history: [],
        observation,
        steps: [],
        done: false,
        won: false,
        score: 0,
        return: 0,
      });
    }
  });
  const maxSteps = Math.min(options.maxSteps ?? Infinity, slots[0]?.env.maxSteps ?? 0);
  for (let t = 0; t < maxSteps; t++) {
    const active = slots.filter((s) => !s.done);
    if (active.length === 0) break;
    const contexts = active.map((s) =>
      encodeContext(
        tokenizer,
        {
          instruction: options.instruction === false ? '' : s.env.instruction(),
          history: s.history,
          observation: s.observation,
        },
        options.historyLength,
        budget,
      ),
    );
    const images = model.config.image ? active.map((s) => s.env.image!().data) : undefined;
    const sampled = model.sample(contexts, {
      temperature: options.temperature,
      temperedLogProbs: options.temperedLogProbs,
      maxTokens: options.maxActionTokens,
      seed: (options.samplingSeed * 1_000_003 + t * 7919) >>> 0,
      stopTokenId: eos,
      images,
    });
    active.forEach((slot, b) => {
      const actionText = decodeAction(tokenizer, sampled.tokens[b]);
      const anchor = slot.env.anchor();
      const result = slot.env.step(actionText);
      slot.steps.push({
        context: contexts[b],
        action: sampled.tokens[b],
        oldLogProbs: sampled.logProbs[b],
        envReward: result.reward,
        valid: result.info.valid,
        anchor,
        observationText: slot.observation,
        actionText,
      });
      slot.history.push({
        observation: options.historyObservations === false ? '' : slot.observation,
        action: actionText,
      });
      slot.observation = result.observation;
      slot.return += result.reward;
      slot.won = result.info.won;
      slot.score = result.info.score;
      if (result.done) slot.done = true;
    });
    await options.onStep?.(t + 1, active.length);
  }
  const groups: Group[] = seeds.map((seed, g) => ({
    groupId: options.groupIds?.[g] ?? `g${seed}`,
    taskSeed: seed,
    trajectories: slots
      .filter((s) => s.group === g)
      .map((s) => ({
        steps: s.steps,
        outcomeReward: s.return,
        success: s.won,
        score: s.score,
        length: s.steps.length,
      })),
  }));
  return { groups };
}

export interface EpisodeSummary {
  episodes: number;
  successRate: number;
  meanScore: number;
  meanReturn: number;
  meanLength: number;
  invalidActionRate: number;
}

/** Success, score, return, length and invalid-action rate of a batch's trajectories. */
export function summarizeBatch(batch: RolloutBatch): EpisodeSummary {
  const trajectories = batch.groups.flatMap((g) => g.trajectories);
  const n = trajectories.length || 1;
  const steps = trajectories.flatMap((t) => t.steps);
  return {
    episodes: trajectories.length,
    successRate: trajectories.filter((t) => t.success).length / n,
    meanScore: trajectories.reduce((a, t) => a + t.score, 0) / n,
    meanReturn: trajectories.reduce((a, t) => a + t.outcomeReward, 0) / n,
    meanLength: trajectories.reduce((a, t) => a + t.length, 0) / n,
    invalidActionRate: steps.length ? steps.filter((s) => !s.valid).length / steps.length : 0,
  };
}
