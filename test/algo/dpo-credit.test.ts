import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  flattenSteps,
  implicitStepReward,
  labelPreferences,
  prmDpoLoss,
  trajectoryIndices,
  type RolloutBatch,
} from '../../src/algo';
import { batchOf, rng, step, traj } from './helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/**
 * Toy credit-assignment problem: 3 steps, state = step index, 3 one-token actions, pi_old uniform.
 * Successful trajectories all take the good action 1 at step 1; their other steps are random. Failed
 * trajectories take action 0 or 2 at step 1 and random actions elsewhere. A tabular PRM (logits per
 * (state, action), initialised to pi_old) trained a few Adam steps on eq. (2) should give step 1 of
 * the successful trajectories the largest implicit reward (eq. 1): the credit lands on the right step.
 */
describe('trajectory DPO assigns credit to the step that matters', () => {
  const STATES = 3;
  const ACTIONS = 3;
  const GOOD_STEP = 1;
  const GOOD_ACTION = 1;
  const logUniform = Math.log(1 / ACTIONS);

  function makeBatch(): RolloutBatch {
    const r = rng(3);
    const pick = () => Math.floor(r() * ACTIONS);
    const trajectory = (success: boolean) => {
      const actions = [pick(), success ? GOOD_ACTION : r() < 0.5 ? 0 : 2, pick()];
      return traj(
        actions.map((a, t) => step([logUniform], { context: [t], action: [a], anchor: `s${t}` })),
        success ? 1 : 0,
      );
    };
    // two groups of 8: 4 successes, 4 failures each
    return batchOf(
      Array.from({ length: 8 }, (_, i) => trajectory(i % 2 === 0)),
      Array.from({ length: 8 }, (_, i) => trajectory(i % 2 === 1)),
    );
  }

  it('after a few DPO steps, the good step has the largest implicit reward in every successful trajectory', () => {
    const batch = makeBatch();
    const rows = flattenSteps(batch);
    const steps = rows.map((r) => batch.groups[r.group].trajectories[r.trajectory].steps[r.step]);
    const B = rows.length;
    // one-hot state and action per row: the PRM's log-prob of the row's action = sum(onehotS @ logSoftmax(W) * onehotA)
    const onehotS = tf
      .oneHot(
        steps.map((s) => s.context[0]),
        STATES,
      )
      .toFloat();
    const onehotA = tf
      .oneHot(
        steps.map((s) => s.action[0]),
        ACTIONS,
      )
      .toFloat();
    const oldLogProbs = tf.fill([B, 1], logUniform) as tf.Tensor2D;
    const actionMask = tf.ones([B, 1]) as tf.Tensor2D;
    const W = tf.variable(tf.zeros([STATES, ACTIONS])); // PRM initialised to pi_old (uniform)
    const prmLogProbs = () =>
      tf.sum(tf.mul(tf.matMul(onehotS, tf.logSoftmax(W)), onehotA), 1, true) as tf.Tensor2D;

    const { pairs } = labelPreferences(batch, { mode: 'success' });
    const idx = trajectoryIndices(batch);
    const pos = pairs.map((p) => idx[p.group][p.pos]);
    const neg = pairs.map((p) => idx[p.group][p.neg]);
    const stepToTrajectory = rows.map((r) => r.trajectoryIndex);

    const beta = 0.05;
    const optimizer = tf.train.adam(0.1);
    const losses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const loss = optimizer.minimize(
        () =>
          prmDpoLoss({
            prmLogProbs: prmLogProbs(),
            oldLogProbs,
            actionMask,
            stepToTrajectory,
            pairs: { pos, neg },
            beta,
          }).loss,
        true,
      )!;
      losses.push(loss.dataSync()[0]);
      loss.dispose();
    }
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);

    // implicit step rewards, eq. (1), from the trained PRM
    const lp = tf.tidy(() => prmLogProbs().dataSync());
    const reward = rows.map((_, b) => implicitStepReward([lp[b]], steps[b].oldLogProbs, beta));
    let k = 0;
    const byTrajectory = batch.groups.map((g) => g.trajectories.map((t) => t.steps.map(() => reward[k++])));
    batch.groups.forEach((g, gi) =>
      g.trajectories.forEach((t, ti) => {
        const r = byTrajectory[gi][ti];
        if (t.success) {
          expect(r.indexOf(Math.max(...r))).toBe(GOOD_STEP);
          expect(r[GOOD_STEP]).toBeGreaterThan(0);
        } else {
          expect(r[GOOD_STEP]).toBeLessThan(0); // the bad choice at the decisive step is blamed
        }
      }),
    );
    tf.dispose([onehotS, onehotA, oldLogProbs, actionMask, W]);
    optimizer.dispose();
  });
});
