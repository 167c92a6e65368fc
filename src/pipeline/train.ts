import * as tf from '@tensorflow/tfjs';
import {
  labelPreferences,
  ppoClipLoss,
  prmDpoLoss,
  primePrmLoss,
  valueLoss,
  type PreferencePair,
  type RolloutBatch,
  type StepValues,
  type TokenValues,
} from '../algo';
import { Prng, type TransformerLM } from '../model';
import { rowsBatch, scatterToActions, stepRows, type StepRow } from './rows';
import { mixSeed, type RunSetup } from './setup';

/**
 * The training loops of an iteration (DESIGN.md section 3, steps 3 and 5). Each is a deterministic list
 * of optimizer steps, so a retried attempt that restores the model saved after step k continues at
 * k + 1 and reaches the same weights (`startStep`, `onStep`).
 */

export interface LoopOptions {
  /** First optimizer step to run (0 = from the start); earlier steps are skipped. */
  startStep?: number;
  /** Awaited after every optimizer step: heartbeat, partial checkpoint. */
  onStep?: (step: number, total: number, metrics: Record<string, number>) => Promise<void> | void;
}

export interface LoopResult {
  steps: number;
  metrics: Record<string, number>;
}

function meanMetrics(history: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of history) for (const [k, v] of Object.entries(m)) out[k] = (out[k] ?? 0) + v / history.length;
  return out;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const rng = new Prng(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Preference pairs of a batch (iStar section 3.1): success for binary envs, the threshold for scored ones. */
export function preferencePairs(setup: RunSetup, batch: RolloutBatch) {
  const threshold = setup.spec.successThreshold;
  return threshold === undefined ? labelPreferences(batch, { mode: 'success' }) : labelPreferences(batch, { mode: 'threshold', threshold });
}

/** Rows of the given trajectories (local trajectory index = position in `trajectories`). */
function rowsOfTrajectories(batch: RolloutBatch, trajectories: readonly [number, number][]): { rows: StepRow[]; local: number[] } {
  const rows: StepRow[] = [];
  const local: number[] = [];
  trajectories.forEach(([g, t], k) => {
    batch.groups[g].trajectories[t].steps.forEach((_, s) => {
      rows.push({ group: g, trajectory: t, step: s, trajectoryIndex: k });
      local.push(k);
    });
  });
  return { rows, local };
}

function oldLogProbMatrix(batch: RolloutBatch, rows: readonly StepRow[], tb: ReturnType<typeof rowsBatch>): number[][] {
  return scatterToActions(
    tb,
    rows.map((r) => batch.groups[r.group].trajectories[r.trajectory].steps[r.step].oldLogProbs),
  );
}

/**
 * Implicit PRM update, iStar eq. (2): trajectory DPO against pi_old over the pairs of each group; one
 * optimizer step per group with pairs, `prmEpochs` passes. PRIME instead: cross-entropy of
 * sigmoid(beta * sum r) against the binary outcome, with `reference` as pi_ref.
 */
export async function trainPrm(
  setup: RunSetup,
  prm: TransformerLM,
  batch: RolloutBatch,
  iteration: number,
  options: LoopOptions & { reference?: TransformerLM; pairs?: PreferencePair[] } = {},
): Promise<LoopResult> {
  const { config, algorithm } = setup;
  const prime = algorithm.stages.prmLoss === 'prime-ce';
  const pairs = options.pairs ?? preferencePairs(setup, batch).pairs;
  // One unit of work per group: its pairs (DPO) or all its trajectories (PRIME).
  const units = batch.groups
    .map((g, gi) => ({ group: gi, pairs: pairs.filter((p) => p.group === gi), size: g.trajectories.length }))
    .filter((u) => prime || u.pairs.length > 0);
  const plan: (typeof units)[number][] = [];
  for (let epoch = 0; epoch < config.prmEpochs; epoch++) plan.push(...shuffled(units, mixSeed(config.seed, iteration, 17, epoch)));
  const history: Record<string, number>[] = [];
  for (let step = options.startStep ?? 0; step < plan.length; step++) {
    const unit = plan[step];
    const trajectories = batch.groups[unit.group].trajectories.map((_, t) => [unit.group, t] as [number, number]);
    const { rows, local } = rowsOfTrajectories(batch, trajectories);
    const tb = rowsBatch(setup, batch, rows);
    let metrics: Record<string, number> = {};
    const consts = tf.tidy(() => ({
      mask: tf.tensor2d(tb.actionMask),
      old: tf.tensor2d(oldLogProbMatrix(batch, rows, tb)),
      ref: prime && options.reference ? options.reference.tokenLogProbs(tb) : undefined,
    }));
    try {
      const { loss, gradNorm } = prm.trainStep(
        () => {
          const prmLogProbs = prm.tokenLogProbs(tb);
          const result = prime
            ? primePrmLoss({
                prmLogProbs,
                refLogProbs: consts.ref ?? consts.old,
                actionMask: consts.mask,
                stepToTrajectory: local,
                numTrajectories: trajectories.length,
                outcomes: trajectories.map(([g, t]) => (batch.groups[g].trajectories[t].success ? 1 : 0)),
                beta: config.beta,
              })
            : prmDpoLoss({
                prmLogProbs,
                oldLogProbs: consts.old,
                actionMask: consts.mask,
                stepToTrajectory: local,
                numTrajectories: trajectories.length,
                pairs: { pos: unit.pairs.map((p) => p.pos), neg: unit.pairs.map((p) => p.neg) },
                beta: config.beta,
                aggregation: config.prmLogRatio,
              });
          metrics = result.metrics;
          return result.loss;
        },
        { lr: config.prmLr, maxGradNorm: config.maxGradNorm },
      );
      metrics = { ...metrics, 'prm/loss': loss, 'prm/grad_norm': gradNorm };
    } finally {
      tf.dispose([consts.mask, consts.old, ...(consts.ref ? [consts.ref] : [])]);
    }
    history.push(metrics);
    await options.onStep?.(step + 1, plan.length, metrics);
  }
  return { steps: plan.length, metrics: { ...meanMetrics(history), 'prm/pairs': pairs.length, 'prm/updates': plan.length } };
}

export interface PolicyTargets {
  /** A of every action token, [G][N][S_i][L_it]. */
  advantages: TokenValues;
  /** PPO value targets [G][N][S_i] and the value head's outputs at rollout time. */
  returns?: StepValues;
  oldValues?: StepValues;
}

/** A [B,T] one-hot of the last context position of each row (where V(c_t) is read). */
function valuePositions(batch: RolloutBatch, rows: readonly StepRow[], T: number): number[][] {
  return rows.map((r) => {
    const at = batch.groups[r.group].trajectories[r.trajectory].steps[r.step].context.length - 1;
    return Array.from({ length: T }, (_, t) => (t === at ? 1 : 0));
  });
}

/**
 * Policy update, iStar eq. (6): PPO-clip over minibatches of `miniBatchSteps` steps, `ppoEpochs` passes,
 * step-level ratio by default, dual clip, entropy bonus, optional k3 KL to `reference`, invalid-action
 * penalty; PPO adds the clipped value loss on the value head.
 */
export async function trainPolicy(
  setup: RunSetup,
  policy: TransformerLM,
  batch: RolloutBatch,
  targets: PolicyTargets,
  iteration: number,
  options: LoopOptions & { reference?: TransformerLM } = {},
): Promise<LoopResult> {
  const { config } = setup;
  const all = stepRows(batch);
  const plan: StepRow[][] = [];
  for (let epoch = 0; epoch < config.ppoEpochs; epoch++) {
    const order = shuffled(all, mixSeed(config.seed, iteration, 29, epoch));
    for (let i = 0; i < order.length; i += config.miniBatchSteps) plan.push(order.slice(i, i + config.miniBatchSteps));
  }
  const useValue = setup.algorithm.stages.needsValueHead && targets.returns !== undefined && targets.oldValues !== undefined;
  const history: Record<string, number>[] = [];
  for (let step = options.startStep ?? 0; step < plan.length; step++) {
    const rows = plan[step];
    const tb = rowsBatch(setup, batch, rows);
    const T = tb.tokens[0].length;
    const at = (r: StepRow) => batch.groups[r.group].trajectories[r.trajectory].steps[r.step];
    const consts = tf.tidy(() => ({
      mask: tf.tensor2d(tb.actionMask),
      old: tf.tensor2d(oldLogProbMatrix(batch, rows, tb)),
      adv: tf.tensor2d(scatterToActions(tb, rows.map((r) => targets.advantages[r.group][r.trajectory][r.step]))),
      ref: config.klCoef > 0 && options.reference ? options.reference.tokenLogProbs(tb) : undefined,
      valueAt: useValue ? tf.tensor2d(valuePositions(batch, rows, T)) : undefined,
      returns: useValue ? tf.tensor1d(rows.map((r) => targets.returns![r.group][r.trajectory][r.step])) : undefined,
      oldValues: useValue ? tf.tensor1d(rows.map((r) => targets.oldValues![r.group][r.trajectory][r.step])) : undefined,
    }));
    let metrics: Record<string, number> = {};
    try {
      const { loss, gradNorm } = policy.trainStep(
        () => {
          const result = ppoClipLoss({
            logProbs: policy.tokenLogProbs(tb),
            oldLogProbs: consts.old,
            advantages: consts.adv,
            actionMask: consts.mask,
            ratioLevel: config.ratioLevel,
            clipCoef: config.clipEps,
            dualClip: config.dualClip > 0 ? config.dualClip : null,
            entropy: config.entropyCoef > 0 ? policy.entropy(tb) : undefined,
            entCoef: config.entropyCoef,
            refLogProbs: consts.ref,
            klCoef: consts.ref ? config.klCoef : 0,
            invalidSteps: rows.map((r) => !at(r).valid),
            invalidActionPenalty: config.invalidPenalty,
          });
          metrics = result.metrics;
          if (!useValue) return result.loss;
          const v = tf.sum(tf.mul(policy.values(tb), consts.valueAt!), 1);
          const vl = valueLoss({ values: v, oldValues: consts.oldValues!, returns: consts.returns! });
          metrics = { ...metrics, ...vl.metrics };
          return tf.add(result.loss, vl.loss) as tf.Scalar;
        },
        { lr: config.policyLr, maxGradNorm: config.maxGradNorm },
      );
      metrics = { ...metrics, 'policy/loss': loss, 'policy/grad_norm': gradNorm };
    } finally {
      tf.dispose(Object.values(consts).filter(Boolean) as tf.Tensor[]);
    }
    history.push(metrics);
    await options.onStep?.(step + 1, plan.length, metrics);
  }
  return { steps: plan.length, metrics: { ...meanMetrics(history), 'policy/updates': plan.length } };
}
