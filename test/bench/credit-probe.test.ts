import { describe, expect, it } from 'vitest';
import { creditAuc, labelSteps } from '../../bench/credit-probe';
import type { RolloutBatch, Step, Trajectory } from '../../src/algo';
import { parseRunConfig } from '../../src/config/run-config';
import { ACTIONS, applyAction, solve, type SokobanEnv } from '../../src/envs/sokoban';
import { runSetup } from '../../src/pipeline';

const setup = runSetup(parseRunConfig({ env: 'sokoban' }));

/** A level whose start has a wall next to the player (an action that leaves the room unchanged). */
function levelWithBump(): { seed: number; plan: string[]; bump: string } {
  for (let seed = 0; seed < 200; seed++) {
    const env = setup.spec.create() as SokobanEnv;
    env.reset(seed);
    const room = env.currentRoom();
    const plan = solve(room);
    const bump = ACTIONS.find((a) => !applyAction(room, a).moved);
    if (plan && plan.length >= 2 && bump) return { seed, plan, bump };
  }
  throw new Error('no level with a wall next to the start in seeds 0-199');
}

const step = (actionText: string, valid = true): Step =>
  ({ context: [1], action: [1], oldLogProbs: [-1], envReward: 0, valid, anchor: '', actionText }) as Step;
const trajectory = (steps: Step[]): Trajectory => ({
  steps,
  outcomeReward: 0,
  success: false,
  score: 0,
  length: steps.length,
});

describe('bench/credit-probe: solver labels of Sokoban steps', () => {
  const { seed, plan, bump } = levelWithBump();
  const batch: RolloutBatch = {
    groups: [
      {
        groupId: 'g',
        taskSeed: seed,
        trajectories: [
          // The solver's own plan: every step brings the room one move closer to solved.
          trajectory(plan.map((a) => step(a))),
          // A wall bumped into, an unparsable action, then the plan.
          trajectory([step(bump), step('jump', false), ...plan.map((a) => step(a))]),
        ],
      },
    ],
  };

  it('labels optimal moves true, a bump into a wall false and invalid actions not at all', () => {
    const { optimal } = labelSteps(setup, batch);
    expect(optimal[0][0]).toEqual(plan.map(() => true));
    expect(optimal[0][1]).toEqual([false, null, ...plan.map(() => true)]);
  });

  it('AUC: a credit that ranks the bump below every optimal step is 1, a constant one 0.5', () => {
    const labels = labelSteps(setup, batch);
    const ranking = [plan.map(() => 1), [-1, 5, ...plan.map(() => 1)]]; // the invalid step's 5 is ignored
    expect(creditAuc([ranking], labels)).toEqual({ pooled: 1, withinGroup: 1 });
    const constant = [plan.map(() => 0), [0, 0, ...plan.map(() => 0)]];
    expect(creditAuc([constant], labels)).toEqual({ pooled: 0.5, withinGroup: 0.5 });
  });
});
