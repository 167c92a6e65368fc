import { AlgoInputError } from './errors';

/**
 * The rollout batch shared by every stage of an iteration (DESIGN.md section 3): groups of N
 * rollouts of the same task, each a list of steps with the context the policy saw, the action tokens
 * it generated and pi_old's log-prob of each of those tokens. Generic on purpose: the model and env
 * code convert to and from it.
 */
export interface RolloutBatch {
  groups: Group[];
}

/** N rollouts of one task/level (the paper's group; N = groupSize, paper 8). */
export interface Group {
  groupId: string;
  /** Seed of the env level the whole group played. */
  taskSeed: number;
  trajectories: Trajectory[];
}

export interface Trajectory {
  steps: Step[];
  /** Outcome reward R_i of eq. (3) (e.g. the episode's summed env reward, or the WebShop score in [0, 1]). */
  outcomeReward: number;
  /** The env's success flag (Sokoban solved, WebShop r == 1, ...); positive for preference labelling. */
  success: boolean;
  /** Env score (WebShop r x 100, social goal 0-10); used by threshold/ranking labelling. */
  score: number;
  /** Number of env steps; always equal to steps.length. */
  length: number;
}

export interface Step {
  /** Token ids of c_t: task + last H observations/actions + current observation. */
  context: number[];
  /** Token ids of a_t, the tokens the policy generated at this step, including the end token. */
  action: number[];
  /** log pi_old of each action token given the context and the previous action tokens; same length as action. */
  oldLogProbs: number[];
  /** Env reward of this step. */
  envReward: number;
  /** False when the env could not parse the action (invalid-action penalty applies). */
  valid: boolean;
  /** String of the env state the action was taken in (GiGPO anchor groups). */
  anchor: string;
  observationText?: string;
  actionText?: string;
}

/** Per-step values [G][N][S_i]: group, trajectory, step. */
export type StepValues = number[][][];
/** Per-action-token values [G][N][S_i][L_it]: group, trajectory, step, action token. */
export type TokenValues = number[][][][];

/** Raised by validateBatch; lists every problem found (the first 20). */
export class BatchValidationError extends AlgoInputError {
  override name = 'BatchValidationError';
  constructor(readonly problems: string[]) {
    super(
      `invalid rollout batch (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ` +
        problems.slice(0, 20).join('\n  ') +
        (problems.length > 20 ? `\n  ... and ${problems.length - 20} more` : ''),
    );
  }
}

const isFiniteNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isTokenId = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 0;
/** tfjs computes log-probs in float32; allow its rounding above 0. */
const LOG_PROB_MAX = 1e-4;

/** Every problem of a batch as `path: what is wrong` strings; empty when the batch is valid. */
export function batchProblems(batch: RolloutBatch): string[] {
  const problems: string[] = [];
  if (!batch || !Array.isArray(batch.groups)) return ['batch.groups is not an array'];
  if (batch.groups.length === 0) problems.push('batch has no groups');
  batch.groups.forEach((g, gi) => {
    const gp = `groups[${gi}]`;
    if (typeof g.groupId !== 'string') problems.push(`${gp}.groupId is not a string`);
    if (!isFiniteNumber(g.taskSeed))
      problems.push(`${gp}.taskSeed is ${String(g.taskSeed)}; expected a number`);
    if (!Array.isArray(g.trajectories) || g.trajectories.length === 0) {
      problems.push(`${gp} (groupId ${String(g.groupId)}) is empty: a group needs at least one trajectory`);
      return;
    }
    g.trajectories.forEach((tr, ti) => {
      const tp = `${gp}.trajectories[${ti}]`;
      if (!isFiniteNumber(tr.outcomeReward))
        problems.push(`${tp}.outcomeReward is ${String(tr.outcomeReward)}; expected a finite number`);
      if (!isFiniteNumber(tr.score))
        problems.push(`${tp}.score is ${String(tr.score)}; expected a finite number`);
      if (typeof tr.success !== 'boolean') problems.push(`${tp}.success is not a boolean`);
      if (!Array.isArray(tr.steps) || tr.steps.length === 0) {
        problems.push(`${tp} has no steps`);
        return;
      }
      if (tr.length !== tr.steps.length)
        problems.push(`${tp}.length is ${String(tr.length)} but it has ${tr.steps.length} steps`);
      tr.steps.forEach((s, si) => {
        const sp = `${tp}.steps[${si}]`;
        if (!Array.isArray(s.context) || !s.context.every(isTokenId))
          problems.push(`${sp}.context must be an array of non-negative integer token ids`);
        if (!Array.isArray(s.action) || s.action.length === 0)
          problems.push(`${sp}.action is empty: it must hold at least the end token`);
        else if (!s.action.every(isTokenId))
          problems.push(`${sp}.action must be an array of non-negative integer token ids`);
        if (!Array.isArray(s.oldLogProbs)) problems.push(`${sp}.oldLogProbs is not an array`);
        else {
          if (Array.isArray(s.action) && s.oldLogProbs.length !== s.action.length)
            problems.push(
              `${sp}.oldLogProbs has ${s.oldLogProbs.length} entries but action has ${s.action.length} tokens; they must match`,
            );
          const bad = s.oldLogProbs.findIndex((x) => !isFiniteNumber(x) || x > LOG_PROB_MAX);
          if (bad >= 0)
            problems.push(
              `${sp}.oldLogProbs[${bad}] is ${String(s.oldLogProbs[bad])}; expected a finite log-probability <= 0`,
            );
        }
        if (!isFiniteNumber(s.envReward))
          problems.push(`${sp}.envReward is ${String(s.envReward)}; expected a finite number`);
        if (typeof s.valid !== 'boolean') problems.push(`${sp}.valid is not a boolean`);
        if (typeof s.anchor !== 'string') problems.push(`${sp}.anchor is not a string`);
      });
    });
  });
  return problems;
}

/** Throws a BatchValidationError naming every problem (mismatched lengths, NaN rewards, empty groups, ...). */
export function validateBatch(batch: RolloutBatch): RolloutBatch {
  const problems = batchProblems(batch);
  if (problems.length > 0) throw new BatchValidationError(problems);
  return batch;
}

/** Outcome rewards R_i of eq. (3), shape [G][N_g]. */
export function outcomeRewards(batch: RolloutBatch): number[][] {
  return batch.groups.map((g) => g.trajectories.map((t) => t.outcomeReward));
}

/** Action-token counts, shape [G][N][S_i]. */
export function actionLengths(batch: RolloutBatch): StepValues {
  return batch.groups.map((g) => g.trajectories.map((t) => t.steps.map((s) => s.action.length)));
}

/** pi_old log-probs of the action tokens, shape [G][N][S_i][L_it]. */
export function oldLogProbs(batch: RolloutBatch): TokenValues {
  return batch.groups.map((g) => g.trajectories.map((t) => t.steps.map((s) => s.oldLogProbs)));
}

/** One step of the batch in flattened order (groups, then trajectories, then steps). */
export interface StepRef {
  group: number;
  trajectory: number;
  step: number;
  /** Index of the trajectory in flattened order over the whole batch. */
  trajectoryIndex: number;
}

/**
 * The steps of the batch in flattened order: the row order the tensor losses expect (one row per
 * step, its context followed by its action). `stepToTrajectory[b]` of prmDpoLoss is
 * `flattenSteps(batch)[b].trajectoryIndex`.
 */
export function flattenSteps(batch: RolloutBatch): StepRef[] {
  const rows: StepRef[] = [];
  let trajectoryIndex = 0;
  batch.groups.forEach((g, gi) =>
    g.trajectories.forEach((t, ti) => {
      t.steps.forEach((_, si) => rows.push({ group: gi, trajectory: ti, step: si, trajectoryIndex }));
      trajectoryIndex++;
    }),
  );
  return rows;
}

/** Index of trajectory (group g, trajectory i) in flattened order, shape [G][N_g]. */
export function trajectoryIndices(batch: RolloutBatch): number[][] {
  let k = 0;
  return batch.groups.map((g) => g.trajectories.map(() => k++));
}

/** Checks that `values` has shape [G][N][S_i] matching the batch. */
export function checkStepValues(batch: RolloutBatch, values: StepValues, what: string): void {
  const fail = (msg: string) => {
    throw new AlgoInputError(`${what}: ${msg}`);
  };
  if (!Array.isArray(values) || values.length !== batch.groups.length)
    fail(
      `expected ${batch.groups.length} groups, got ${Array.isArray(values) ? values.length : typeof values}`,
    );
  batch.groups.forEach((g, gi) => {
    if (!Array.isArray(values[gi]) || values[gi].length !== g.trajectories.length)
      fail(`group ${gi} should have ${g.trajectories.length} trajectories, got ${values[gi]?.length}`);
    g.trajectories.forEach((t, ti) => {
      const v = values[gi][ti];
      if (!Array.isArray(v) || v.length !== t.steps.length)
        fail(`group ${gi} trajectory ${ti} should have ${t.steps.length} steps, got ${v?.length}`);
      const bad = v.findIndex((x) => !isFiniteNumber(x));
      if (bad >= 0)
        fail(`group ${gi} trajectory ${ti} step ${bad} is ${String(v[bad])}; expected a finite number`);
    });
  });
}

/** Checks that `values` has shape [G][N][S_i][L_it] matching the batch's action tokens. */
export function checkTokenValues(batch: RolloutBatch, values: TokenValues, what: string): void {
  const fail = (msg: string) => {
    throw new AlgoInputError(`${what}: ${msg}`);
  };
  if (!Array.isArray(values) || values.length !== batch.groups.length)
    fail(
      `expected ${batch.groups.length} groups, got ${Array.isArray(values) ? values.length : typeof values}`,
    );
  batch.groups.forEach((g, gi) => {
    if (!Array.isArray(values[gi]) || values[gi].length !== g.trajectories.length)
      fail(`group ${gi} should have ${g.trajectories.length} trajectories, got ${values[gi]?.length}`);
    g.trajectories.forEach((t, ti) => {
      const v = values[gi][ti];
      if (!Array.isArray(v) || v.length !== t.steps.length)
        fail(`group ${gi} trajectory ${ti} should have ${t.steps.length} steps, got ${v?.length}`);
      t.steps.forEach((s, si) => {
        const tok = v[si];
        if (!Array.isArray(tok) || tok.length !== s.action.length)
          fail(
            `group ${gi} trajectory ${ti} step ${si} should have ${s.action.length} action-token values, got ${tok?.length}`,
          );
        const bad = tok.findIndex((x) => !isFiniteNumber(x));
        if (bad >= 0)
          fail(
            `group ${gi} trajectory ${ti} step ${si} token ${bad} is ${String(tok[bad])}; expected a finite number`,
          );
      });
    });
  });
}

/** Broadcasts one value per step to every action token of that step: [G][N][S] -> [G][N][S][L]. */
export function broadcastToTokens(batch: RolloutBatch, stepValues: StepValues): TokenValues {
  return batch.groups.map((g, gi) =>
    g.trajectories.map((t, ti) =>
      t.steps.map((s, si) => new Array<number>(s.action.length).fill(stepValues[gi][ti][si])),
    ),
  );
}
