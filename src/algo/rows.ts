import { check } from './errors';
import {
  flattenSteps,
  trajectoryIndices,
  type RolloutBatch,
  type StepRef,
  type StepValues,
  type TokenValues,
} from './batch';
import type { PreferencePair } from './preferences';
import { maxOf } from './stats';

/**
 * Between the nested batch ([G][N][S][L]) and the tensor losses ([B,T] step rows). Row b is step
 * flattenSteps(batch)[b]: its context then its action tokens, right-padded to T = the longest
 * context + action, the layout of src/model's buildActionBatch. Action token k of the step sits at
 * position context.length + k; the model's log-probs at that position are log pi(action[k] | everything before).
 */
export interface StepRowLayout {
  rows: StepRef[];
  /** Row length: max over steps of context.length + action.length. */
  T: number;
  /** Position of the first action token of every row, [B]. */
  actionStart: number[];
  /** Trajectory (flattened index) of every row, [B]: prmDpoLoss / primePrmLoss `stepToTrajectory`. */
  stepToTrajectory: number[];
  numTrajectories: number;
}

export function stepRowLayout(batch: RolloutBatch): StepRowLayout {
  const rows = flattenSteps(batch);
  const steps = rows.map((r) => batch.groups[r.group].trajectories[r.trajectory].steps[r.step]);
  return {
    rows,
    T: Math.max(0, maxOf(steps.map((s) => s.context.length + s.action.length))),
    actionStart: steps.map((s) => s.context.length),
    stepToTrajectory: rows.map((r) => r.trajectoryIndex),
    numTrajectories: batch.groups.reduce((n, g) => n + g.trajectories.length, 0),
  };
}

/** The action mask [B][T]: 1 on every step's action tokens. */
export function packActionMask(
  batch: RolloutBatch,
  layout: StepRowLayout = stepRowLayout(batch),
): number[][] {
  return layout.rows.map((r, b) => {
    const row = new Array<number>(layout.T).fill(0);
    const L = batch.groups[r.group].trajectories[r.trajectory].steps[r.step].action.length;
    row.fill(1, layout.actionStart[b], layout.actionStart[b] + L);
    return row;
  });
}

/** Per-action-token values [G][N][S][L] (advantages, pi_old log-probs, ...) into rows [B][T], `fill` elsewhere. */
export function packTokenValues(
  batch: RolloutBatch,
  values: TokenValues,
  layout: StepRowLayout = stepRowLayout(batch),
  fill = 0,
): number[][] {
  return layout.rows.map((r, b) => {
    const row = new Array<number>(layout.T).fill(fill);
    const v = values[r.group]?.[r.trajectory]?.[r.step];
    const L = batch.groups[r.group].trajectories[r.trajectory].steps[r.step].action.length;
    check(
      Array.isArray(v) && v.length === L,
      () =>
        `packTokenValues: group ${r.group} trajectory ${r.trajectory} step ${r.step} needs ${L} values, got ${v?.length}`,
    );
    for (let k = 0; k < L; k++) row[layout.actionStart[b] + k] = v[k];
    return row;
  });
}

/** pi_old's log-probs of the batch as rows [B][T]. */
export function packOldLogProbs(
  batch: RolloutBatch,
  layout: StepRowLayout = stepRowLayout(batch),
): number[][] {
  return packTokenValues(
    batch,
    batch.groups.map((g) => g.trajectories.map((t) => t.steps.map((s) => s.oldLogProbs))),
    layout,
  );
}

/** One value per step [G][N][S] broadcast onto the step's action tokens, rows [B][T]. */
export function packStepValues(
  batch: RolloutBatch,
  values: StepValues,
  layout: StepRowLayout = stepRowLayout(batch),
): number[][] {
  return packTokenValues(
    batch,
    batch.groups.map((g, gi) =>
      g.trajectories.map((t, ti) =>
        t.steps.map((s, si) => new Array<number>(s.action.length).fill(values[gi][ti][si])),
      ),
    ),
    layout,
  );
}

/**
 * Reads the action-token values back out of rows [B][T] (e.g. the PRM's tokenLogProbs) into
 * [G][N][S][L], the input of istarAdvantages / primeAdvantages. `rows` may be a flat row-major array.
 */
export function unpackTokenValues(
  batch: RolloutBatch,
  rows: ArrayLike<number> | number[][],
  layout: StepRowLayout = stepRowLayout(batch),
): TokenValues {
  const B = layout.rows.length;
  const at: (b: number, t: number) => number = isNested(rows)
    ? (b, t) => rows[b][t]
    : (b, t) => rows[b * layout.T + t];
  if (isNested(rows)) check(rows.length === B, () => `unpackTokenValues: ${rows.length} rows for ${B} steps`);
  else
    check(
      rows.length === B * layout.T,
      () => `unpackTokenValues: ${rows.length} values, expected ${B} x ${layout.T} = ${B * layout.T}`,
    );
  const out: TokenValues = batch.groups.map((g) =>
    g.trajectories.map((t) => t.steps.map(() => [] as number[])),
  );
  layout.rows.forEach((r, b) => {
    const L = batch.groups[r.group].trajectories[r.trajectory].steps[r.step].action.length;
    const v = out[r.group][r.trajectory][r.step];
    for (let k = 0; k < L; k++) v.push(at(b, layout.actionStart[b] + k));
  });
  return out;
}

function isNested(rows: ArrayLike<number> | number[][]): rows is number[][] {
  return rows.length > 0 && Array.isArray((rows as number[][])[0]);
}

/** Whether each row's action was invalid, [B]: ppoClipLoss `invalidSteps`. */
export function invalidStepRows(
  batch: RolloutBatch,
  layout: StepRowLayout = stepRowLayout(batch),
): boolean[] {
  return layout.rows.map((r) => !batch.groups[r.group].trajectories[r.trajectory].steps[r.step].valid);
}

/** Preference pairs as flattened trajectory indices: prmDpoLoss `pairs`. */
export function pairTrajectoryIndices(
  batch: RolloutBatch,
  pairs: readonly PreferencePair[],
): { pos: number[]; neg: number[] } {
  const idx = trajectoryIndices(batch);
  const at = (g: number, i: number, what: string) => {
    const v = idx[g]?.[i];
    check(
      v !== undefined,
      () => `pairTrajectoryIndices: ${what} trajectory ${i} of group ${g} is not in the batch`,
    );
    return v;
  };
  return {
    pos: pairs.map((p) => at(p.group, p.pos, 'positive')),
    neg: pairs.map((p) => at(p.group, p.neg, 'negative')),
  };
}
