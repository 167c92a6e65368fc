import type { Env, EnvImage, EnvSpec, StepResult } from '../types';
import { HELD_OUT_SEED_START } from '../types';
import { mixSeed } from '../prng';
import { generateRoom, type GenerateOptions } from './generate';
import { renderImage } from './image';
import {
  ACTIONS,
  SYMBOLS,
  applyAction,
  boxesOnTarget,
  isSolved,
  renderText,
  type Action,
  type Room,
} from './room';
import { solve } from './solver';

/** gym-sokoban reward constants (verl-agent/RAGEN use the same). */
export const SOKOBAN_REWARDS = {
  step: -0.1,
  boxOnTarget: 1,
  boxOffTarget: -1,
  finished: 10,
} as const;

export interface SokobanOptions {
  /** Max actions per episode (paper 15). */
  maxSteps?: number;
  /** Visual variant: observation text is `<image>` and the state comes from image(). */
  visual?: boolean;
  /** Overrides of the level generator (dim 6, 1 box, search depth 30 by default). */
  generate?: Partial<GenerateOptions>;
  /** Boxes per level (the run config's `envOptions.boxes`); overrides `generate.numBoxes`. */
  boxes?: number;
  /**
   * Training levels only (seeds below HELD_OUT_SEED_START; the run config's `envOptions.minTrainMoves`): a
   * seed whose level the breadth-first solver solves in fewer moves than this, or not within `maxSteps`,
   * is replaced by the first level of a derived train seed that needs this many to `maxSteps` moves. Held-out
   * levels are never replaced, so evaluation is the same with or without it.
   */
  minTrainMoves?: number;
}

/** Derived seeds tried before giving up on a filtered training level (about 1 in 2 qualify on 2 boxes, 7 moves). */
const MAX_LEVEL_DRAWS = 10_000;

const ACTION_PATTERN = /^\s*["'`([{<]?\s*(up|down|left|right)\s*["'`)\]}>]?\s*\.?\s*$/i;

/** The action word, case-insensitive and trimmed, optionally quoted or bracketed; anything else is null. */
export function parseSokobanAction(text: unknown): Action | null {
  if (typeof text !== 'string' || text.length > 64) return null;
  const m = ACTION_PATTERN.exec(text);
  return m ? (m[1].toLowerCase() as Action) : null;
}

export const SOKOBAN_INSTRUCTION =
  'You are playing Sokoban. Push the box onto the target. ' +
  `Symbols: ${SYMBOLS.wall} wall, ${SYMBOLS.floor} floor, ${SYMBOLS.target} target, ${SYMBOLS.box} box, ` +
  `${SYMBOLS.boxOnTarget} box on target, ${SYMBOLS.player} player, ${SYMBOLS.playerOnTarget} player on target. ` +
  'You move by one cell per action and push a box when it is ahead of you; boxes cannot be pulled. ' +
  'Answer with one action: up, down, left or right.';

export class SokobanEnv implements Env {
  readonly name: string;
  readonly maxSteps: number;
  private readonly visual: boolean;
  private readonly generateOptions: Partial<GenerateOptions>;
  private readonly minTrainMoves: number | undefined;
  private room: Room | null = null;
  private steps = 0;
  private totalReward = 0;
  private done = false;
  /** Present on the visual variant only (the Env contract's optional image()). */
  readonly image?: () => EnvImage;

  constructor(options: SokobanOptions = {}) {
    this.visual = options.visual ?? false;
    if (this.visual) this.image = () => renderImage(this.requireRoom());
    this.name = this.visual ? 'sokoban-visual' : 'sokoban';
    this.maxSteps = options.maxSteps ?? 15;
    this.generateOptions =
      options.boxes === undefined
        ? (options.generate ?? {})
        : { ...options.generate, numBoxes: options.boxes };
    this.minTrainMoves = options.minTrainMoves;
  }

  reset(seed: number): string {
    return this.resetToRoom(this.level(seed));
  }

  /** The level of `seed`: its own, or with `minTrainMoves` on a train seed, the first qualifying derived one. */
  level(seed: number): Room {
    const min = this.minTrainMoves;
    if (min === undefined || seed >= HELD_OUT_SEED_START) return generateRoom(seed, this.generateOptions);
    for (let draw = 0; draw < MAX_LEVEL_DRAWS; draw++) {
      const candidate = draw === 0 ? seed : mixSeed(seed, draw) % HELD_OUT_SEED_START;
      const room = generateRoom(candidate, this.generateOptions);
      const plan = solve(room, this.maxSteps);
      if (plan !== null && plan.length >= min) return room;
    }
    throw new Error(
      `SokobanEnv: no training level from seed ${seed} needs ${min} to ${this.maxSteps} moves in ${MAX_LEVEL_DRAWS} draws; lower envOptions.minTrainMoves`,
    );
  }

  /** Starts an episode from a given room (hand-built rooms in tests). */
  resetToRoom(room: Room): string {
    this.room = room;
    this.steps = 0;
    this.totalReward = 0;
    this.done = isSolved(room);
    return this.observation();
  }

  /** The current room (read-only use). */
  currentRoom(): Room {
    return this.requireRoom();
  }

  step(actionText: string): StepResult {
    const room = this.room;
    if (!room || this.done) {
      return {
        observation: room ? this.observation() : '',
        reward: 0,
        done: true,
        info: { won: room ? isSolved(room) : false, valid: false, score: this.totalReward },
      };
    }
    this.steps++;
    const action = parseSokobanAction(actionText);
    let reward = SOKOBAN_REWARDS.step;
    if (action) {
      const before = boxesOnTarget(room);
      const next = applyAction(room, action).room;
      const after = boxesOnTarget(next);
      if (after > before) reward += SOKOBAN_REWARDS.boxOnTarget;
      else if (after < before) reward += SOKOBAN_REWARDS.boxOffTarget;
      if (isSolved(next)) reward += SOKOBAN_REWARDS.finished;
      this.room = next;
    }
    const won = isSolved(this.requireRoom());
    this.totalReward += reward;
    this.done = won || this.steps >= this.maxSteps;
    return {
      observation: this.observation(),
      reward,
      done: this.done,
      info: { won, valid: action !== null, score: this.totalReward },
    };
  }

  instruction(): string {
    return SOKOBAN_INSTRUCTION;
  }

  admissibleActions(): string[] {
    return [...ACTIONS];
  }

  anchor(): string {
    return renderText(this.requireRoom());
  }

  /** First action of a shortest solution (BFS); `up` when the room can no longer be solved. */
  expertAction(): string {
    const plan = solve(this.requireRoom());
    return plan && plan.length > 0 ? plan[0] : 'up';
  }

  private observation(): string {
    return this.visual ? '<image>' : renderText(this.requireRoom());
  }

  private requireRoom(): Room {
    if (!this.room) throw new Error('SokobanEnv: call reset(seed) before using the env');
    return this.room;
  }
}

function sokobanVocabulary(): string[] {
  const texts = [SOKOBAN_INSTRUCTION, ...ACTIONS, '<image>'];
  for (let seed = 0; seed < 8; seed++) texts.push(renderText(generateRoom(seed)));
  return texts;
}

const seedRanges = {
  trainSeeds: { start: 0, end: HELD_OUT_SEED_START },
  heldOutSeeds: { start: HELD_OUT_SEED_START, end: HELD_OUT_SEED_START + 100_000 },
  maxActionTokens: 8,
};

export const sokobanSpec: EnvSpec = {
  name: 'sokoban',
  create: (options) => new SokobanEnv({ ...(options as SokobanOptions), visual: false }),
  vocabularyTexts: sokobanVocabulary,
  ...seedRanges,
};

export const sokobanVisualSpec: EnvSpec = {
  name: 'sokoban-visual',
  create: (options) => new SokobanEnv({ ...(options as SokobanOptions), visual: true }),
  vocabularyTexts: sokobanVocabulary,
  ...seedRanges,
};
