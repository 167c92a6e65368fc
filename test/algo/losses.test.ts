import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { entropyFromLogits, ppoClipLoss, prmDpoLoss, primePrmLoss, valueLoss } from '../../src/algo';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const t2 = (rows: number[][]) => tf.tensor2d(rows);
const softplus = (x: number) => Math.log(1 + Math.exp(x));

/** Runs loss(args) (args built first) and checks that it leaves no tensor behind but the loss (which we dispose). */
function noLeak<A, T extends { loss: tf.Scalar }>(args: A, loss: (a: A) => T): T {
  const before = tf.memory().numTensors;
  const out = loss(args);
  out.loss.dispose();
  expect(tf.memory().numTensors).toBe(before);
  return out;
}

describe('prmDpoLoss, iStar eq. (2)', () => {
  // rows (steps), T = 3, padded: row 0 and 1 belong to trajectory 0 (tau+), row 2 to trajectory 1 (tau-)
  // row 0: prm [-0.5, -1] vs old [-1, -2] -> step log-ratio 1.5; row 1: [-0.3] vs [-0.3] -> 0; row 2: [-1] vs [-0.5] -> -0.5
  const rows = () => ({
    prmLogProbs: t2([
      [-0.5, -1, -7],
      [-0.3, -7, -7],
      [-1, -7, -7],
    ]),
    oldLogProbs: t2([
      [-1, -2, -3],
      [-0.3, -3, -3],
      [-0.5, -3, -3],
    ]),
    actionMask: t2([
      [1, 1, 0],
      [1, 0, 0],
      [1, 0, 0],
    ]),
    stepToTrajectory: [0, 0, 1],
    pairs: { pos: [0], neg: [1] },
  });

  it('sum over steps (paper): margin 0.05 * (1.5 - (-0.5)) = 0.1, loss = softplus(-0.1) = 0.6443967', () => {
    const r = rows();
    const out = noLeak({ ...r, beta: 0.05 }, prmDpoLoss);
    expect(out.metrics['prm/loss']).toBeCloseTo(softplus(-0.1), 6);
    expect(out.metrics['prm/loss']).toBeCloseTo(0.6443967, 6);
    expect(out.metrics['prm/accuracy']).toBe(1);
    expect(out.metrics['prm/margin']).toBeCloseTo(0.1, 6);
    expect(out.metrics['prm/chosen_reward']).toBeCloseTo(0.075, 6);
    expect(out.metrics['prm/rejected_reward']).toBeCloseTo(-0.025, 6);
  });

  it('mean over steps (released code): tau+ = (1.5 + 0) / 2 = 0.75, margin 0.05 * 1.25', () => {
    const out = noLeak({ ...rows(), beta: 0.05, aggregation: 'mean' }, prmDpoLoss);
    expect(out.metrics['prm/loss']).toBeCloseTo(softplus(-0.0625), 6);
  });

  it('gradient: -beta * (1 - sigmoid(0.1)) on tau+ action tokens, the opposite on tau-, 0 on padding', () => {
    const r = rows();
    const g = tf.grad(
      (lp: tf.Tensor) => prmDpoLoss({ ...r, prmLogProbs: lp as tf.Tensor2D, beta: 0.05 }).loss,
    )(r.prmLogProbs);
    const k = 0.05 * (1 - 1 / (1 + Math.exp(-0.1))); // 0.0237510
    const got = g.arraySync() as number[][];
    const want = [
      [-k, -k, 0],
      [-k, 0, 0],
      [k, 0, 0],
    ];
    want.forEach((row, i) => row.forEach((v, j) => expect(got[i][j]).toBeCloseTo(v, 6)));
  });

  it('averages over pairs and names bad input', () => {
    const r = rows();
    // pairs (0, 1) and (1, 0): margins +0.1 and -0.1 -> mean of softplus(-0.1) and softplus(0.1)
    const out = noLeak({ ...r, pairs: { pos: [0, 1], neg: [1, 0] } }, prmDpoLoss);
    expect(out.metrics['prm/loss']).toBeCloseTo((softplus(-0.1) + softplus(0.1)) / 2, 6);
    expect(out.metrics['prm/accuracy']).toBe(0.5);
    // A PRM equal to pi_old ties every pair: each counts half, so accuracy 0.5 (chance), not 0.
    const tied = noLeak(
      { ...r, prmLogProbs: r.oldLogProbs, pairs: { pos: [0, 1], neg: [1, 0] } },
      prmDpoLoss,
    );
    expect(tied.metrics['prm/accuracy']).toBe(0.5);
    expect(tied.metrics['prm/margin']).toBe(0);
    expect(() => prmDpoLoss({ ...r, pairs: { pos: [], neg: [] } })).toThrow(/no preference pairs/);
    expect(() => prmDpoLoss({ ...r, stepToTrajectory: [0, 1] })).toThrow(
      'prmDpoLoss: stepToTrajectory has 2 entries for 3 rows',
    );
    expect(() => prmDpoLoss({ ...r, pairs: { pos: [0], neg: [5] } })).toThrow(
      /pair 0 \(0, 5\) indexes outside the 2 trajectories/,
    );
    expect(() => prmDpoLoss({ ...r, oldLogProbs: t2([[0, 0]]) })).toThrow(
      'prmDpoLoss: oldLogProbs has shape [1,2], expected [3,3]',
    );
  });
});

describe('primePrmLoss', () => {
  it('BCE of sigmoid(beta * sum log-ratio) against the outcome', () => {
    // z0 = 0.05 * 1.5 = 0.075 (y = 1): softplus(-0.075); z1 = 0.05 * -0.5 = -0.025 (y = 0): softplus(-0.025)
    const out = noLeak(
      {
        prmLogProbs: t2([
          [-0.5, -1],
          [-0.3, -7],
          [-1, -7],
        ]),
        refLogProbs: t2([
          [-1, -2],
          [-0.3, -3],
          [-0.5, -3],
        ]),
        actionMask: t2([
          [1, 1],
          [1, 0],
          [1, 0],
        ]),
        stepToTrajectory: [0, 0, 1],
        outcomes: [1, 0],
      },
      primePrmLoss,
    );
    expect(out.metrics['prm/loss']).toBeCloseTo((softplus(-0.075) + softplus(-0.025)) / 2, 6);
    expect(out.metrics['prm/accuracy']).toBe(1);
    expect(() =>
      primePrmLoss({
        prmLogProbs: t2([[-1]]),
        refLogProbs: t2([[-1]]),
        actionMask: t2([[1]]),
        stepToTrajectory: [0],
        outcomes: [0.5],
      }),
    ).toThrow(/outcomes\[0\] is 0.5/);
  });
});

describe('ppoClipLoss, iStar eq. (6)', () => {
  // row 0: lp [-0.9, -1.0] vs old [-1, -1], A = 1 -> step ratio e^0.1 = 1.10517 (inside [0.8, 1.2]): -1.10517 per token
  // row 1: lp [-1.5] vs old [-1], A = -2 -> ratio e^-0.5 = 0.60653 < 0.8: max(2 * 0.60653, 2 * 0.8) = 1.6 (clipped)
  // token mean: (2 * -1.10517 + 1.6) / 3 = -0.2034472
  const args = () => ({
    logProbs: t2([
      [-0.9, -1.0],
      [-1.5, -9],
    ]),
    oldLogProbs: t2([
      [-1, -1],
      [-1, -2],
    ]),
    advantages: t2([
      [1, 1],
      [-2, -2],
    ]),
    actionMask: t2([
      [1, 1],
      [1, 0],
    ]),
    entCoef: 0,
  });

  it('step-level ratio (paper) by hand, with clip fraction and approx KL', () => {
    const out = noLeak(args(), ppoClipLoss);
    expect(out.metrics['policy/loss']).toBeCloseTo((2 * -Math.exp(0.1) + 1.6) / 3, 5);
    expect(out.metrics['policy/clip_fraction']).toBeCloseTo(1 / 3, 6);
    // k3 per token: (e^x - 1) - x for x = 0.1, 0, -0.5
    const k3 = (x: number) => Math.exp(x) - 1 - x;
    expect(out.metrics['policy/approx_kl']).toBeCloseTo((k3(0.1) + k3(0) + k3(-0.5)) / 3, 6);
  });

  it("gradient w.r.t. log-probs: 0 on the clipped step, -A * rho / #tokens on the other's tokens", () => {
    const a = args();
    const g = tf
      .grad((lp: tf.Tensor) => ppoClipLoss({ ...a, logProbs: lp as tf.Tensor2D }).loss)(a.logProbs)
      .arraySync() as number[][];
    // loss = (2 * -rho0 + ...) / 3 with rho0 = exp(lp00 + lp01 - old): d/dlp0k = -2 * rho0 / 3
    expect(g[0][0]).toBeCloseTo((-2 * Math.exp(0.1)) / 3, 5);
    expect(g[0][1]).toBeCloseTo((-2 * Math.exp(0.1)) / 3, 5);
    expect(g[1][0]).toBe(0);
    expect(g[1][1]).toBe(0);
  });

  it('token level: gradient is 0 outside the clip range on the clipped side only', () => {
    // tokens: (A > 0, rho 1.5) clipped; (A > 0, rho 0.5) not; (A < 0, rho 0.5) clipped; (A < 0, rho 1.5) not
    const old = t2([[0, 0, 0, 0]].map((r) => r.map(() => -2)));
    const lp = t2([[-2 + Math.log(1.5), -2 + Math.log(0.5), -2 + Math.log(0.5), -2 + Math.log(1.5)]]);
    const A = t2([[1, 1, -1, -1]]);
    const mask = t2([[1, 1, 1, 1]]);
    const f = (x: tf.Tensor) =>
      ppoClipLoss({
        logProbs: x as tf.Tensor2D,
        oldLogProbs: old,
        advantages: A,
        actionMask: mask,
        ratioLevel: 'token',
        entCoef: 0,
      }).loss;
    const g = (tf.grad(f)(lp).arraySync() as number[][])[0];
    expect(g[0]).toBe(0);
    expect(g[1]).toBeCloseTo((-1 * 0.5) / 4, 6); // d(-A rho)/dlp / 4 tokens
    expect(g[2]).toBe(0);
    expect(g[3]).toBeCloseTo((1 * 1.5) / 4, 6);
    const out = noLeak(
      { logProbs: lp, oldLogProbs: old, advantages: A, actionMask: mask, ratioLevel: 'token', entCoef: 0 },
      ppoClipLoss,
    );
    // losses: -1.2, -0.5, +0.8, +1.5 -> mean 0.15
    expect(out.metrics['policy/pg_loss']).toBeCloseTo((-1.2 - 0.5 + 0.8 + 1.5) / 4, 5);
    expect(out.metrics['policy/clip_fraction']).toBeCloseTo(0.5, 6);
  });

  it('step-mean ratio: exp of the mean token log-ratio of the step', () => {
    const out = noLeak({ ...args(), ratioLevel: 'step-mean' }, ppoClipLoss);
    // row 0: exp(0.05); row 1: exp(-0.5) still clipped -> 1.6
    expect(out.metrics['policy/pg_loss']).toBeCloseTo((2 * -Math.exp(0.05) + 1.6) / 3, 5);
  });

  it('dual clip caps the loss of A < 0 at -c * A, with zero gradient', () => {
    // A = -1, rho = e^2 = 7.389: max(7.389, 1.2) = 7.389; dual clip c = 3 -> min(7.389, 3) = 3
    const old = t2([[-3]]);
    const lp = t2([[-1]]);
    const base = { oldLogProbs: old, advantages: t2([[-1]]), actionMask: t2([[1]]), entCoef: 0 };
    expect(noLeak({ ...base, logProbs: lp }, ppoClipLoss).metrics['policy/pg_loss']).toBeCloseTo(
      Math.exp(2),
      4,
    );
    expect(noLeak({ ...base, logProbs: lp, dualClip: 3 }, ppoClipLoss).metrics['policy/pg_loss']).toBeCloseTo(
      3,
      6,
    );
    const g = tf.grad(
      (x: tf.Tensor) => ppoClipLoss({ ...base, logProbs: x as tf.Tensor2D, dualClip: 3 }).loss,
    )(lp);
    expect(g.dataSync()[0]).toBe(0);
  });

  it('entropy bonus, k3 KL to the reference and the invalid-action penalty', () => {
    // one token, rho = 1, A = 0: pg loss 0
    const base = {
      logProbs: t2([[-1]]),
      oldLogProbs: t2([[-1]]),
      advantages: t2([[0]]),
      actionMask: t2([[1]]),
    };
    // entropy 2, coef 0.001 -> -0.002
    expect(noLeak({ ...base, entropy: t2([[2]]) }, ppoClipLoss).metrics['policy/loss']).toBeCloseTo(
      -0.002,
      7,
    );
    // ref - lp = 0.5: k3 = e^0.5 - 0.5 - 1 = 0.1487213; coef 0.1 -> 0.0148721
    const kl = noLeak({ ...base, entCoef: 0, refLogProbs: t2([[-0.5]]), klCoef: 0.1 }, ppoClipLoss);
    expect(kl.metrics['policy/kl_ref']).toBeCloseTo(0.1487213, 6);
    expect(kl.metrics['policy/loss']).toBeCloseTo(0.0148721, 6);
    // invalid step: A - 0.1 = -0.1, rho = 1 -> loss 0.1
    expect(
      noLeak({ ...base, entCoef: 0, invalidSteps: [true] }, ppoClipLoss).metrics['policy/loss'],
    ).toBeCloseTo(0.1, 7);
    expect(
      noLeak({ ...base, entCoef: 0, invalidSteps: [false] }, ppoClipLoss).metrics['policy/loss'],
    ).toBeCloseTo(0, 7);
    expect(() => ppoClipLoss(base)).toThrow(/entCoef > 0 needs `entropy`/);
    expect(() => ppoClipLoss({ ...base, entCoef: 0, klCoef: 0.1 })).toThrow(/klCoef > 0 needs `refLogProbs`/);
    expect(() => ppoClipLoss({ ...base, entCoef: 0, advantages: t2([[1, 2]]) })).toThrow(
      'ppoClipLoss: advantages has shape [1,2], expected [1,1]',
    );
  });

  it('entropyFromLogits: uniform over 4 tokens has entropy log 4', () => {
    const h = entropyFromLogits(tf.zeros([1, 2, 4]) as tf.Tensor3D);
    expect(h.shape).toEqual([1, 2]);
    expect(h.dataSync()[0]).toBeCloseTo(Math.log(4), 6);
    h.dispose();
  });
});

describe('valueLoss', () => {
  it('clipped: 0.5 * mean(max((V - R)^2, (clip(V) - R)^2))', () => {
    // elem 0: V 1 (old 0.5, clipped to 0.7), R 2: max(1, 1.69) = 1.69; elem 1: V 0, R 0.1: 0.01 -> 0.5 * 0.85 = 0.425
    const out = noLeak(
      {
        values: tf.tensor1d([1, 0]),
        oldValues: tf.tensor1d([0.5, 0]),
        returns: tf.tensor1d([2, 0.1]),
        clipRange: 0.2,
      },
      valueLoss,
    );
    expect(out.metrics['value/loss']).toBeCloseTo(0.425, 6);
    expect(out.metrics['value/clip_fraction']).toBeCloseTo(0.5, 6);
    // unclipped: 0.5 * (1 + 0.01) / 2
    const plain = noLeak(
      {
        values: tf.tensor1d([1, 0]),
        oldValues: tf.tensor1d([0.5, 0]),
        returns: tf.tensor1d([2, 0.1]),
        clipRange: null,
      },
      valueLoss,
    );
    expect(plain.metrics['value/loss']).toBeCloseTo(0.2525, 6);
  });
});
