import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { flattenSteps, prmDpoLoss, type RolloutBatch } from '../../src/algo';
import { parseRunConfig, type RunConfigInput } from '../../src/config/run-config';
import { initBackend, type TransformerLM } from '../../src/model';
import {
  collectShard,
  computeAdvantages,
  initialPolicy,
  iterationInProcess,
  preferencePairs,
  rowsBatch,
  runSetup,
  scatterToActions,
  sftBasePolicy,
  stepRows,
  trainPolicy,
  trainPrm,
  warmedUpLr,
  type StageRunner,
} from '../../src/pipeline';

const tiny: RunConfigInput = {
  groups: 2,
  groupSize: 4,
  model: { dModel: 16, nLayers: 1, nHeads: 2, dFF: 32, contextLength: 160 },
  temperature: 1.5,
  entropyCoef: 0,
  policyLr: 1e-2,
  prmLr: 1e-2,
};

function weights(model: TransformerLM): Float32Array[] {
  return [...model.namedVariables().values()].map((v) => v.dataSync() as Float32Array);
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  a.forEach((x, i) => x.forEach((v, j) => (d = Math.max(d, Math.abs(v - b[i][j])))));
  return d;
}

/** A batch where group 0 has both a success and a failure, so DPO has pairs. */
function batchWithPairs(batch: RolloutBatch): RolloutBatch {
  const g = batch.groups[0];
  g.trajectories[0].success = true;
  g.trajectories[1].success = false;
  return batch;
}

beforeAll(async () => {
  await initBackend('cpu');
});

describe('the SFT base', () => {
  it('hands RL a policy with fresh optimizer state: step 0, zero AdamW moments', async () => {
    const setup = runSetup(parseRunConfig({ ...tiny, sft: { episodes: 6, epochs: 2, batchSize: 8 } }));
    const model = initialPolicy(setup);
    const before = weights(model);
    const { metrics } = await sftBasePolicy(setup, model);
    expect(metrics['sft/demonstrations']).toBeGreaterThan(0);
    expect(maxDiff(before, weights(model))).toBeGreaterThan(0); // SFT trained it
    expect(model.step).toBe(0);
    for (const [name, v] of model.namedVariables())
      if (name.startsWith('optimizer/'))
        expect(Math.max(...(v.dataSync() as Float32Array).map(Math.abs))).toBe(0);
    model.dispose();
  });
});

describe('the SFT base of VisualSokoban (image-prefix model)', () => {
  it('trains on demonstrations that carry the image of each state (it failed on every row before)', async () => {
    const setup = runSetup(
      parseRunConfig({
        ...tiny,
        env: 'sokoban-visual',
        promptInstruction: false,
        historyLength: 0,
        sft: { episodes: 4, epochs: 1, batchSize: 8, labels: 'expert', lr: 1e-2 },
      }),
    );
    expect(setup.modelConfig.image).toBeDefined();
    const model = initialPolicy(setup);
    const before = weights(model);
    const { metrics } = await sftBasePolicy(setup, model);
    expect(metrics['sft/demonstrations']).toBeGreaterThan(0);
    expect(Number.isFinite(metrics['sft/loss'])).toBe(true);
    expect(maxDiff(before, weights(model))).toBeGreaterThan(0);
    model.dispose();
  });
});

describe('learning-rate warm-up and Adam epsilon of the RL updates', () => {
  it('warmedUpLr rises linearly over the warm-up steps, then stays at the learning rate', () => {
    expect(warmedUpLr(3e-4, 0, 50)).toBeCloseTo(6e-6, 12);
    expect(warmedUpLr(3e-4, 24, 50)).toBeCloseTo(1.5e-4, 12);
    expect(warmedUpLr(3e-4, 49, 50)).toBe(3e-4);
    expect(warmedUpLr(3e-4, 500, 50)).toBe(3e-4);
    expect(warmedUpLr(3e-4, 0, 0)).toBe(3e-4);
  });

  it('reach the policy update: the first AdamW step moves a weight by lr * g / (|g| + eps) at the warmed-up lr', async () => {
    const setup = runSetup(parseRunConfig({ ...tiny, algorithm: 'rloo', miniBatchSteps: 4096 }));
    const base = initialPolicy(setup);
    const { batch } = await collectShard(setup, base, 1, 0, 1);
    const targets = await computeAdvantages(setup, batch, {});
    const params = (m: TransformerLM) =>
      [...m.namedVariables()]
        .filter(([n]) => !n.startsWith('optimizer/'))
        .map(([, v]) => v.dataSync() as Float32Array);
    const moved = async (overrides: Partial<typeof setup.config>) => {
      const model = base.clone();
      await trainPolicy({ ...setup, config: { ...setup.config, ...overrides } }, model, batch, targets, 1);
      const d = maxDiff(params(model), params(base));
      model.dispose();
      return d;
    };
    const lr = setup.config.policyLr; // 1e-2
    // No warm-up, eps 1e-8 (negligible): with fresh moments step 1 is lr * sign(g) for every weight with a gradient.
    const plain = await moved({ lrWarmupSteps: 0, adamEps: 1e-8 });
    expect(plain).toBeGreaterThan(0.99 * lr);
    expect(plain).toBeLessThan(1.0001 * lr);
    // A 10-step warm-up: the first step is a tenth of that.
    const warm = await moved({ lrWarmupSteps: 10, adamEps: 1e-8 });
    expect(warm).toBeGreaterThan(0.099 * lr);
    expect(warm).toBeLessThan(0.10001 * lr);
    // eps 1 with gradients clipped to global norm 1 (so every |g| <= 1): no weight moves by more than lr / 2.
    const damped = await moved({ lrWarmupSteps: 0, adamEps: 1 });
    expect(damped).toBeLessThan(0.5 * lr);
    expect(damped).toBeGreaterThan(0);
    // embeddingLrScale 0: the token embedding stays, the rest of the policy moves.
    const frozen = base.clone();
    await trainPolicy(
      { ...setup, config: { ...setup.config, embeddingLrScale: 0 } },
      frozen,
      batch,
      targets,
      1,
    );
    const emb = (m: TransformerLM) => m.namedVariables().get('tok_emb')!.dataSync() as Float32Array;
    expect(maxDiff([emb(frozen)], [emb(base)])).toBe(0);
    expect(maxDiff(params(frozen), params(base))).toBeGreaterThan(0.5 * 0.05 * lr); // warmed-up 1/20 of lr
    frozen.dispose();
    base.dispose();
  });
});

describe('preference pairs of the PRM (run config preferences)', () => {
  it("'return' pairs every trajectory with its group's lower-return ones, also where all succeed", async () => {
    const setup = runSetup(parseRunConfig(tiny));
    const policy = initialPolicy(setup);
    const { batch } = await collectShard(setup, policy, 1, 0, 1);
    policy.dispose();
    // Group 0: four successes with returns 10.4, 9.8, 9.8 (+ rounding), 10.6 (shorter = higher return).
    [10.4, 9.8, 9.8 + 1e-12, 10.6].forEach((r, i) =>
      Object.assign(batch.groups[0].trajectories[i], { outcomeReward: r, success: true }),
    );
    const pairsOf = (preferences: 'success' | 'return') =>
      preferencePairs(runSetup(parseRunConfig({ ...tiny, preferences })), batch)
        .pairs.filter((p) => p.group === 0)
        .map((p) => [p.pos, p.neg]);
    expect(pairsOf('success')).toEqual([]); // the paper's pairs: none in an all-success group
    expect(pairsOf('return')).toEqual([
      [0, 1],
      [0, 2],
      [3, 0],
      [3, 1],
      [3, 2],
    ]);
  });
});

describe('rollouts at a temperature other than 1 (temperedLogProbs)', () => {
  it("stores and recomputes the tempered distribution's log-probs, so the first PPO step has ratio 1", async () => {
    // tiny samples at temperature 1.5.
    const run = async (temperedLogProbs: boolean) => {
      const setup = runSetup(
        parseRunConfig({ ...tiny, algorithm: 'rloo', temperedLogProbs, lrWarmupSteps: 0 }),
      );
      const policy = initialPolicy(setup);
      const { batch } = await collectShard(setup, policy, 1, 0, 1);
      const rows = stepRows(batch);
      const stored = rows.flatMap(
        (r) => batch.groups[r.group].trajectories[r.trajectory].steps[r.step].oldLogProbs,
      );
      const tb = rowsBatch(setup, batch, rows);
      const recomputed = policy.actionLogProbs(tb).flat();
      const atOne = policy.actionLogProbs({ ...tb, temperature: undefined }).flat();
      const perStep: Record<string, number>[] = [];
      const targets = await computeAdvantages(setup, batch, {});
      await trainPolicy(setup, policy, batch, targets, 1, { onStep: (_, __, m) => void perStep.push(m) });
      policy.dispose();
      return { tb, stored, recomputed, atOne, firstKl: perStep[0]['policy/approx_kl'] };
    };
    const on = await run(true);
    expect(on.tb.temperature).toBe(1.5);
    expect(on.stored.length).toBeGreaterThan(10);
    expect(Math.max(...on.stored.map((x, i) => Math.abs(x - on.recomputed[i])))).toBeLessThan(1e-4);
    expect(Math.max(...on.stored.map((x, i) => Math.abs(x - on.atOne[i])))).toBeGreaterThan(1e-2);
    expect(Math.abs(on.firstKl)).toBeLessThan(1e-6);
    const off = await run(false);
    expect(off.tb.temperature).toBeUndefined();
    expect(Math.max(...off.stored.map((x, i) => Math.abs(x - off.recomputed[i])))).toBeLessThan(1e-4);
    expect(Math.abs(off.firstKl)).toBeLessThan(1e-6);
  });
});

describe('trust region of the policy update (targetKl)', () => {
  it('skips exactly the minibatches whose approx-KL from pi_old is already above targetKl', async () => {
    const setup = runSetup(
      parseRunConfig({ ...tiny, algorithm: 'rloo', miniBatchSteps: 2, ppoEpochs: 3, lrWarmupSteps: 0 }),
    );
    const base = initialPolicy(setup);
    const { batch } = await collectShard(setup, base, 1, 0, 1);
    const targets = await computeAdvantages(setup, batch, {});
    const run = async (targetKl: number) => {
      const model = base.clone();
      const perStep: Record<string, number>[] = [];
      const result = await trainPolicy(
        { ...setup, config: { ...setup.config, targetKl } },
        model,
        batch,
        targets,
        1,
        {
          onStep: (_, __, m) => void perStep.push(m),
        },
      );
      return { model, result, perStep };
    };
    const free = await run(0);
    const total = free.result.steps;
    expect(total).toBeGreaterThan(6);
    expect(free.result.metrics['policy/skipped_updates']).toBe(0);
    expect(free.result.metrics['policy/updates']).toBe(total);
    const limit = 1e-3;
    // Unbounded, lr 1e-2 moves this policy far past the limit within the iteration.
    expect(Math.max(...free.perStep.map((m) => m['policy/approx_kl']))).toBeGreaterThan(10 * limit);
    const bounded = await run(limit);
    const skippedSteps = bounded.perStep.map((m) => m['policy/skipped_updates']);
    bounded.perStep.forEach((m, i) => expect(skippedSteps[i]).toBe(m['policy/approx_kl'] > limit ? 1 : 0));
    expect(skippedSteps[0]).toBe(0); // pi_theta = pi_old before the first step
    const skipped = skippedSteps.reduce((a, b) => a + b, 0);
    expect(skipped).toBeGreaterThan(0);
    expect(bounded.result.metrics['policy/skipped_updates']).toBe(skipped);
    expect(bounded.result.metrics['policy/updates']).toBe(total - skipped);
    expect(bounded.model.step).toBe(total - skipped);
    // It stays far nearer pi_old than the free run: its largest pre-step KL is that of one step past the limit.
    const maxBounded = Math.max(...bounded.perStep.map((m) => m['policy/approx_kl']));
    const maxFree = Math.max(...free.perStep.map((m) => m['policy/approx_kl']));
    expect(maxBounded).toBeLessThan(maxFree / 2);
    [base, free.model, bounded.model].forEach((m) => m.dispose());
  });
});

describe('micro-batched training steps are exact', () => {
  it('a policy minibatch split into micro-batches of 1 gives the same update as one backward pass', async () => {
    const setup = runSetup(parseRunConfig({ ...tiny, algorithm: 'rloo', miniBatchSteps: 4096 }));
    const base = initialPolicy(setup);
    const { batch } = await collectShard(setup, base, 1, 0, 1);
    const targets = await computeAdvantages(setup, batch, {});
    const whole = base.clone();
    const micro = base.clone();
    await trainPolicy(
      { ...setup, config: { ...setup.config, microBatchSteps: 4096 } },
      whole,
      batch,
      targets,
      1,
    );
    await trainPolicy(
      { ...setup, config: { ...setup.config, microBatchSteps: 1 } },
      micro,
      batch,
      targets,
      1,
    );
    expect(maxDiff(weights(whole), weights(base))).toBeGreaterThan(1e-4); // the step did something
    expect(maxDiff(weights(whole), weights(micro))).toBeLessThan(2e-6);
    [base, whole, micro].forEach((m) => m.dispose());
  });

  it('the two-pass PRM update equals the direct trajectory-DPO gradient step (eq. 2)', async () => {
    const setup = runSetup(parseRunConfig({ ...tiny, microBatchSteps: 3 }));
    const policy = initialPolicy(setup);
    const batch = batchWithPairs((await collectShard(setup, policy, 1, 0, 1)).batch);
    const { pairs } = preferencePairs(setup, batch);
    expect(pairs.length).toBeGreaterThan(0);
    const twoPass = policy.clone();
    const result = await trainPrm(setup, twoPass, batch, 1, { pairs });
    // Direct: all rows of group 0 in one graph through prmDpoLoss.
    const direct = policy.clone();
    const rows = flattenSteps(batch).filter((r) => r.group === 0);
    const tb = rowsBatch(setup, batch, rows);
    const old = scatterToActions(
      tb,
      rows.map((r) => batch.groups[0].trajectories[r.trajectory].steps[r.step].oldLogProbs),
    );
    let directLoss = 0;
    direct.trainStep(
      () => {
        const out = prmDpoLoss({
          prmLogProbs: direct.tokenLogProbs(tb),
          oldLogProbs: tf.tensor2d(old),
          actionMask: tf.tensor2d(tb.actionMask),
          stepToTrajectory: rows.map((r) => r.trajectory),
          numTrajectories: batch.groups[0].trajectories.length,
          pairs: { pos: pairs.map((p) => p.pos), neg: pairs.map((p) => p.neg) },
          beta: setup.config.beta,
        });
        directLoss = out.metrics['prm/loss'] ?? Number(out.loss.dataSync()[0]);
        return out.loss;
      },
      {
        lr: warmedUpLr(setup.config.prmLr, 0, setup.config.lrWarmupSteps),
        maxGradNorm: setup.config.maxGradNorm,
        eps: setup.config.adamEps,
      },
    );
    expect(result.metrics['prm/loss']).toBeCloseTo(directLoss, 5);
    expect(maxDiff(weights(twoPass), weights(policy))).toBeGreaterThan(1e-4);
    expect(maxDiff(weights(twoPass), weights(direct))).toBeLessThan(2e-6);
    [policy, twoPass, direct].forEach((m) => m.dispose());
  });
});

describe("the PRM's held-out accuracy and alphaGate 'prm-accuracy'", () => {
  it('prm/heldout_accuracy is the pair-weighted accuracy of the first pass, each group scored before its own update', async () => {
    const setup = runSetup(parseRunConfig({ ...tiny, prmEpochs: 2 }));
    const policy = initialPolicy(setup);
    const batch = (await collectShard(setup, policy, 1, 0, 1)).batch;
    // group 0: 1 success x 3 failures = 3 pairs; group 1: 2 x 2 = 4 pairs
    batch.groups[0].trajectories.forEach((t, i) => (t.success = i === 0));
    batch.groups[1].trajectories.forEach((t, i) => (t.success = i < 2));
    const { pairs } = preferencePairs(setup, batch);
    expect(pairs.length).toBe(7);
    const steps: Record<string, number>[] = [];
    const prm = policy.clone();
    const result = await trainPrm(setup, prm, batch, 1, { pairs, onStep: (_s, _n, m) => void steps.push(m) });
    expect(steps).toHaveLength(4); // 2 groups x 2 epochs
    // The first pass scores each group once; weight each by its pairs (3 or 4, told apart by the pair count
    // the step's accuracy can take: k/3 or k/4).
    const firstPass = steps.slice(0, 2).map((m) => m['prm/accuracy']);
    const weighted = (w: number[]) => (firstPass[0] * w[0] + firstPass[1] * w[1]) / 7;
    const candidates = [weighted([3, 4]), weighted([4, 3])];
    expect(candidates.some((c) => Math.abs(c - result.metrics['prm/heldout_accuracy']) < 1e-6)).toBe(true);
    expect(result.metrics['prm/accuracy']).toBeCloseTo(
      steps.reduce((a, m) => a + m['prm/accuracy'], 0) / 4,
      6,
    );
    [policy, prm].forEach((m) => m.dispose());
  });

  it('computeAdvantages gates alpha by the accuracy the PRM stage measured: istar/alpha = alpha * clamp(2p - 1, 0, 1)', async () => {
    const setup = runSetup(
      parseRunConfig({ ...tiny, algorithm: 'istar', alpha: 2.5, alphaGate: 'prm-accuracy' }),
    );
    const policy = initialPolicy(setup);
    const batch = batchWithPairs((await collectShard(setup, policy, 1, 0, 1)).batch);
    const prm = policy.clone();
    const trained = await trainPrm(setup, prm, batch, 1);
    const p = trained.metrics['prm/heldout_accuracy'];
    expect(p).toBeGreaterThanOrEqual(0);
    const gated = await computeAdvantages(setup, batch, { prm }, undefined, p);
    expect(gated.metrics['istar/alpha']).toBeCloseTo(2.5 * Math.min(1, Math.max(0, 2 * p - 1)), 9);
    // nothing measured (no PRM update this iteration): the step advantage is off
    const unmeasured = await computeAdvantages(setup, batch, { prm });
    expect(unmeasured.metrics['istar/alpha']).toBe(0);
    [policy, prm].forEach((m) => m.dispose());
    expect(() => parseRunConfig({ alphaGate: 'accuracy' as never })).toThrow(/alphaGate/);
  });
});

describe('iterationInProcess (the workflow iteration without Temporal, for benchmarks and probes)', () => {
  it('runs the stages an algorithm needs, in the workflow order, updating the policy in place', async () => {
    const setup = runSetup(parseRunConfig({ ...tiny, iterations: 2, evalEvery: 2, evalEpisodes: 3 }));
    const policy = initialPolicy(setup);
    const models = { policy, prm: policy.clone(), reference: policy.clone() };
    const before = weights(policy);
    const order: string[] = [];
    const record: StageRunner = async (stage, fn) => {
      order.push(stage);
      return fn();
    };
    const first = await iterationInProcess(setup, models, 1, record);
    expect(order).toEqual([
      'collectRollouts',
      'labelPreferences',
      ...(order.includes('trainPrm') ? ['trainPrm'] : []),
      'computeStepAdvantages',
      'trainPolicy',
    ]);
    // The PRM trains exactly when the batch has preference pairs.
    expect(order.includes('trainPrm')).toBe(first.metrics['prm/updates'] !== undefined);
    // Two shards of groups 0..1: every group and rollout is there.
    expect(first.batch.groups).toHaveLength(2);
    expect(first.batch.groups.every((g) => g.trajectories.length === 4)).toBe(true);
    expect(first.metrics['policy/updates']).toBeGreaterThan(0);
    expect(first.evaluation).toBeUndefined();
    expect(maxDiff(weights(policy), before)).toBeGreaterThan(1e-5);
    const second = await iterationInProcess(setup, models, 2);
    expect(second.evaluation?.episodes).toBe(3); // the last iteration evaluates on evalEpisodes levels
    expect(second.evaluation!.successRate).toBeGreaterThanOrEqual(0);
    expect(second.evaluation!.successRate).toBeLessThanOrEqual(1);
    Object.values(models).forEach((m) => m.dispose());
  });
});

describe('prmInit: where each iteration PRM update starts', () => {
  // With a PRM learning rate of 1e-12 the PRM stays where its iteration starts: pi_old ('policy'), so its
  // step rewards beta * (log pi_phi - log pi_old) are 0; or the base ('carry'), so in iteration 2 they
  // are beta * (log pi_base - log pi_old), nonzero once the policy has moved.
  async function secondIterationRewards(prmInit: 'carry' | 'policy'): Promise<number[]> {
    const setup = runSetup(
      parseRunConfig({
        ...tiny,
        groups: 1,
        groupSize: 2,
        rolloutShards: 1,
        algorithm: 'istar',
        prmLr: 1e-12,
        prmInit,
      }),
    );
    const policy = initialPolicy(setup);
    const models = { policy, prm: policy.clone(), reference: policy.clone() };
    await iterationInProcess(setup, models, 1);
    const second = await iterationInProcess(setup, models, 2);
    Object.values(models).forEach((m) => m.dispose());
    return second.targets.stepRewards!.flat(2);
  }

  it("'policy' starts the PRM at pi_old every iteration (its step rewards stay 0); 'carry' keeps the previous PRM", async () => {
    const fromPolicy = await secondIterationRewards('policy');
    const carried = await secondIterationRewards('carry');
    expect(fromPolicy.length).toBeGreaterThan(0);
    expect(Math.max(...fromPolicy.map(Math.abs))).toBeLessThan(1e-5);
    expect(Math.max(...carried.map(Math.abs))).toBeGreaterThan(1e-3);
  });

  it('is validated', () => {
    expect(() => parseRunConfig({ prmInit: 'pi_old' as never })).toThrow(/prmInit/);
    expect(parseRunConfig({}).prmInit).toBe('carry');
  });
});
