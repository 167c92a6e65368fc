import * as tf from '@tensorflow/tfjs';
import { flattenSteps, type RolloutBatch, type StepValues, type TokenValues } from '../algo';
import { parseRoom, renderImage } from '../envs/sokoban';
import { buildActionBatch, type TokenBatch, type TransformerLM } from '../model';
import type { RunSetup } from './setup';

/**
 * One row per step (context then action), the layout of the model's `tokenLogProbs` and the algorithm
 * losses. Rows are processed in chunks so memory stays bounded.
 */
export interface StepRow {
  group: number;
  trajectory: number;
  step: number;
  trajectoryIndex: number;
}

export function stepRows(batch: RolloutBatch): StepRow[] {
  return flattenSteps(batch);
}

/** The image of a state for visual models, rendered from its anchor (the board text). */
export function anchorImage(anchor: string): Float32Array {
  return renderImage(parseRoom(anchor)).data;
}

/** The image of a step for visual models, re-rendered from its anchor. */
function stepImage(setup: RunSetup, batch: RolloutBatch, row: StepRow): Float32Array | undefined {
  if (!setup.modelConfig.image) return undefined;
  return anchorImage(batch.groups[row.group].trajectories[row.trajectory].steps[row.step].anchor);
}

export function rowsBatch(setup: RunSetup, batch: RolloutBatch, rows: readonly StepRow[]): TokenBatch {
  const items = rows.map((r) => batch.groups[r.group].trajectories[r.trajectory].steps[r.step]);
  const images = setup.modelConfig.image ? rows.map((r) => stepImage(setup, batch, r)!) : undefined;
  const tokenBatch = buildActionBatch(items, images);
  // The RL update's distribution is the tempered one that sampled the rollouts (run config temperedLogProbs).
  if (setup.config.temperedLogProbs && setup.config.temperature !== 1)
    tokenBatch.temperature = setup.config.temperature;
  return tokenBatch;
}

/** Values of the action positions of each row of a [B,T] matrix: row b -> its action tokens' entries. */
export function actionEntries(matrix: number[][], tokenBatch: TokenBatch): number[][] {
  return matrix.map((row, b) => row.filter((_, t) => tokenBatch.actionMask[b][t] === 1));
}

/** Per-action-token log-probs of every step under `model`, as [G][N][S_i][L_it]. Forward only. */
export async function tokenLogProbsOf(
  setup: RunSetup,
  model: TransformerLM,
  batch: RolloutBatch,
  chunk = 32,
  onChunk?: (done: number, total: number) => Promise<void> | void,
): Promise<TokenValues> {
  const rows = stepRows(batch);
  const out: TokenValues = batch.groups.map((g) =>
    g.trajectories.map((t) => t.steps.map(() => [] as number[])),
  );
  for (let i = 0; i < rows.length; i += chunk) {
    const slice = rows.slice(i, i + chunk);
    const lp = model.actionLogProbs(rowsBatch(setup, batch, slice));
    slice.forEach((r, b) => (out[r.group][r.trajectory][r.step] = lp[b]));
    await onChunk?.(Math.min(i + chunk, rows.length), rows.length);
  }
  return out;
}

/** Value-head estimate V(c_t) of every step (the value at the last context position), [G][N][S_i]. */
export async function stepValuesOf(
  setup: RunSetup,
  model: TransformerLM,
  batch: RolloutBatch,
  chunk = 32,
  onChunk?: (done: number, total: number) => Promise<void> | void,
): Promise<StepValues> {
  const rows = stepRows(batch);
  const out: StepValues = batch.groups.map((g) => g.trajectories.map((t) => t.steps.map(() => 0)));
  for (let i = 0; i < rows.length; i += chunk) {
    const slice = rows.slice(i, i + chunk);
    const tb = rowsBatch(setup, batch, slice);
    const v = tf.tidy(() => model.values(tb).arraySync());
    slice.forEach((r, b) => {
      const contextLength = batch.groups[r.group].trajectories[r.trajectory].steps[r.step].context.length;
      out[r.group][r.trajectory][r.step] = v[b][contextLength - 1];
    });
    await onChunk?.(Math.min(i + chunk, rows.length), rows.length);
  }
  return out;
}

/** A [B,T] matrix holding per-token values at the action positions of each row, 0 elsewhere. */
export function scatterToActions(tokenBatch: TokenBatch, perRow: readonly (readonly number[])[]): number[][] {
  return tokenBatch.actionMask.map((mask, b) => {
    let k = 0;
    return mask.map((m) => (m === 1 ? perRow[b][k++] : 0));
  });
}
