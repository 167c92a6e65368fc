import type { ModelSizeOverrides } from './types';
import { collectDemonstrations, type EnvSpec } from '../envs';
import { defaultModelConfig, Tokenizer, type ContextAction, type ModelConfig } from '../model';
import { contextText, encodeAction, encodeContext, PROMPT_WORDS, type Turn } from './prompt';

/**
 * The tokenizer of an env: its vocabulary texts plus the prompt template's words and characters (its
 * newlines too: an env whose texts have none, WebShop's, would otherwise see every line break as <unk>).
 * Deterministic.
 */
export function tokenizerFor(spec: EnvSpec): Tokenizer {
  // The template's characters only (adding its words would change existing vocabularies).
  const template = contextText(
    { instruction: 'x', history: [{ observation: 'x', action: 'x' }], observation: 'x' },
    1,
  ).replace(/[a-zA-Z]/g, '');
  return Tokenizer.fromTexts([...spec.vocabularyTexts(), PROMPT_WORDS.join(' '), template]);
}

/** The policy's model config for an env: the default size with the run's overrides. */
export function modelConfigFor(
  spec: EnvSpec,
  tokenizer: Tokenizer,
  overrides: ModelSizeOverrides = {},
  valueHead = false,
): ModelConfig {
  const base = defaultModelConfig(tokenizer.vocab.length);
  const { layoutPositions, copyHead, ...sizes } = overrides;
  const config: ModelConfig = {
    ...base,
    ...Object.fromEntries(Object.entries(sizes).filter(([, v]) => v !== undefined)),
  };
  if (layoutPositions) {
    const newlineId = tokenizer.id('\n');
    if (newlineId === undefined)
      throw new Error(`model.layoutPositions: the ${spec.name} tokenizer has no newline token`);
    config.layout = { newlineId, rows: LAYOUT_TABLE, cols: LAYOUT_TABLE };
  }
  if (spec.name === 'sokoban-visual') config.image = { height: 96, width: 96, channels: 3, patchSize: 16 };
  if (copyHead) config.copyHead = true;
  if (valueHead) config.valueHead = true;
  return config;
}

/** Lines and columns of the layout tables; a 6x6 board with its prompt needs 9 lines and 7 columns. */
const LAYOUT_TABLE = 32;

export interface DemonstrationSet {
  /** SFT items (with `demonstrator` labels several weighted items per state). */
  train: ContextAction[];
  /** Held-out states labelled with the expert's action (accuracy = agreement with the expert). */
  heldOut: ContextAction[];
  /** The training states labelled with the expert's action (for the train accuracy). */
  trainExpert: ContextAction[];
  /** Success rate of the (noisy) demonstrator itself. */
  demonstratorSuccess: number;
}

/** SFT pairs (context, action) from noisy expert episodes, split 90/10 by episode. */
export function demonstrationPairs(
  spec: EnvSpec,
  tokenizer: Tokenizer,
  options: {
    episodes: number;
    randomActionFraction: number;
    /** Steps that take the env's invalid action instead (collectDemonstrations); default 0. */
    invalidActionFraction?: number;
    seed: number;
    historyLength: number;
    /** Whether history turns keep their observation (default true) or show only the action taken. */
    historyObservations?: boolean;
    maxContextTokens: number;
    /**
     * SFT targets: `expert` = the expert's action in every visited state (the random actions only steer which
     * states are visited, DAgger-style); `taken` = the action actually taken, random ones included;
     * `demonstrator` = the noisy demonstrator's action distribution in every visited state, as a soft target
     * (weighted items): the expert's action with weight 1 - randomActionFraction, plus randomActionFraction
     * spread evenly over the admissible actions. It is what `taken` converges to in expectation, without its
     * sampling noise.
     */
    labels?: 'expert' | 'taken' | 'demonstrator';
    /** Whether contexts start with the env's task instruction (default true). */
    instruction?: boolean;
    /** For models with an image prefix: the image of a state from its anchor (each pair renders it lazily). */
    image?: (anchor: string) => Float32Array;
    /** The policy's action budget: an SFT target longer than this (with its <eos>) is an error. */
    maxActionTokens?: number;
  },
): DemonstrationSet {
  const demos = collectDemonstrations(spec, {
    episodes: options.episodes,
    randomActionFraction: options.randomActionFraction,
    invalidActionFraction: options.invalidActionFraction,
    seed: options.seed,
  });
  const train: ContextAction[] = [];
  const trainExpert: ContextAction[] = [];
  const heldOut: ContextAction[] = [];
  const labels = options.labels ?? 'taken';
  const actionIds = (text: string): number[] => {
    const ids = encodeAction(tokenizer, text);
    const limit = options.maxActionTokens;
    if (limit !== undefined && ids.length > limit)
      throw new Error(
        `sft: the ${spec.name} demonstration action "${text}" is ${ids.length} tokens with its <eos>, more than maxActionTokens ${limit}: ` +
          'the policy could never emit it; raise maxActionTokens',
      );
    return ids;
  };
  demos.forEach((demo, i) => {
    const history: Turn[] = [];
    const held = i % 10 === 9;
    demo.actions.forEach((taken, t) => {
      const observation = demo.observations[t];
      const anchor = demo.anchors[t];
      const render = options.image;
      const state = {
        ...(render ? { image: () => render(anchor) } : {}),
        context: encodeContext(
          tokenizer,
          { instruction: options.instruction === false ? '' : demo.instruction, history, observation },
          options.historyLength,
          options.maxContextTokens,
        ),
      };
      const expert = { ...state, action: actionIds(demo.expertActions[t]) };
      if (held) heldOut.push(expert);
      else {
        trainExpert.push(expert);
        if (labels === 'expert') train.push(expert);
        // An injected invalid action is shown (in the next state), never taught.
        else if (labels === 'taken')
          train.push({ ...state, action: actionIds(demo.invalid[t] ? demo.expertActions[t] : taken) });
        else
          for (const [text, weight] of demonstratorTarget(
            demo.expertActions[t],
            demo.admissible[t],
            options.randomActionFraction,
          ))
            train.push({ ...state, action: actionIds(text), weight });
      }
      history.push({ observation: options.historyObservations === false ? '' : observation, action: taken });
    });
  });
  return {
    train,
    trainExpert,
    heldOut: heldOut.length > 0 ? heldOut : trainExpert.slice(0, 1),
    demonstratorSuccess: demos.filter((d) => d.won).length / Math.max(1, demos.length),
  };
}

/**
 * The noisy demonstrator's action distribution in one state: the expert's action with probability
 * 1 - randomActionFraction, otherwise one of the admissible actions uniformly (collectDemonstrations), as
 * [action, probability] pairs that add up to 1.
 */
export function demonstratorTarget(
  expertAction: string,
  admissible: readonly string[],
  randomActionFraction: number,
): [string, number][] {
  const probs = new Map<string, number>([[expertAction, 1 - randomActionFraction]]);
  const random = admissible.length > 0 ? randomActionFraction : 0;
  if (admissible.length === 0) probs.set(expertAction, 1);
  for (const a of admissible) probs.set(a, (probs.get(a) ?? 0) + random / admissible.length);
  return [...probs].filter(([, p]) => p > 0);
}
