import type { ModelSizeOverrides } from './types';
import { collectDemonstrations, type EnvSpec } from '../envs';
import { defaultModelConfig, Tokenizer, type ContextAction, type ModelConfig } from '../model';
import { encodeAction, encodeContext, PROMPT_WORDS, type Turn } from './prompt';

/** The tokenizer of an env: its vocabulary texts plus the prompt template's words. Deterministic. */
export function tokenizerFor(spec: EnvSpec): Tokenizer {
  return Tokenizer.fromTexts([...spec.vocabularyTexts(), PROMPT_WORDS.join(' ')]);
}

/** The policy's model config for an env: the default size with the run's overrides. */
export function modelConfigFor(
  spec: EnvSpec,
  tokenizer: Tokenizer,
  overrides: ModelSizeOverrides = {},
  valueHead = false,
): ModelConfig {
  const base = defaultModelConfig(tokenizer.vocab.length);
  const { layoutPositions, ...sizes } = overrides;
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
  if (valueHead) config.valueHead = true;
  return config;
}

/** Lines and columns of the layout tables; a 6x6 board with its prompt needs 9 lines and 7 columns. */
const LAYOUT_TABLE = 32;

export interface DemonstrationSet {
  train: ContextAction[];
  heldOut: ContextAction[];
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
    seed: number;
    historyLength: number;
    maxContextTokens: number;
    /**
     * SFT targets: `expert` = the expert's action in every visited state (the random actions only steer which
     * states are visited, DAgger-style); `taken` = the action actually taken, random ones included.
     */
    labels?: 'expert' | 'taken';
    /** Whether contexts start with the env's task instruction (default true). */
    instruction?: boolean;
    /** For models with an image prefix: the image of a state from its anchor (each pair renders it lazily). */
    image?: (anchor: string) => Float32Array;
  },
): DemonstrationSet {
  const demos = collectDemonstrations(spec, {
    episodes: options.episodes,
    randomActionFraction: options.randomActionFraction,
    seed: options.seed,
  });
  const train: ContextAction[] = [];
  const heldOut: ContextAction[] = [];
  demos.forEach((demo, i) => {
    const history: Turn[] = [];
    const target = i % 10 === 9 ? heldOut : train;
    demo.actions.forEach((action, t) => {
      const observation = demo.observations[t];
      const anchor = demo.anchors[t];
      const render = options.image;
      target.push({
        ...(render ? { image: () => render(anchor) } : {}),
        context: encodeContext(
          tokenizer,
          { instruction: options.instruction === false ? '' : demo.instruction, history, observation },
          options.historyLength,
          options.maxContextTokens,
        ),
        action: encodeAction(tokenizer, options.labels === 'expert' ? demo.expertActions[t] : action),
      });
      history.push({ observation, action });
    });
  });
  return {
    train,
    heldOut: heldOut.length > 0 ? heldOut : train.slice(0, 1),
    demonstratorSuccess: demos.filter((d) => d.won).length / Math.max(1, demos.length),
  };
}
