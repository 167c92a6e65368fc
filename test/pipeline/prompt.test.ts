import { describe, expect, it } from 'vitest';
import { contextText, encodeContext } from '../../src/agent/prompt';
import { demonstrationPairs, demonstratorTarget, tokenizerFor } from '../../src/agent/setup';
import { collectDemonstrations, getEnvSpec } from '../../src/envs';
import { parseRunConfig } from '../../src/config/run-config';
import type { RolloutBatch } from '../../src/algo';
import { collectShard, envOptionsIdentity, initialPolicy, runSetup, stepWeights } from '../../src/pipeline';

const sokoban = getEnvSpec('sokoban');
const board = '####\n#P_#\n####';

describe('agent contexts', () => {
  it('start with the task line, then the last H turns, then the observation', () => {
    const text = contextText(
      {
        instruction: 'Solve it.',
        history: [
          { observation: 'A', action: 'up' },
          { observation: 'B', action: 'left' },
        ],
        observation: board,
      },
      1,
    );
    expect(text).toBe(
      `Task: Solve it.\nPrevious observation:\nB\nPrevious action: left\nObservation:\n${board}\nAction:`,
    );
  });

  it('leave the task line out for an empty instruction (promptInstruction: false)', () => {
    expect(contextText({ instruction: '', history: [], observation: board }, 2)).toBe(
      `Observation:\n${board}\nAction:`,
    );
  });

  it('historyObservations false: history turns show the action alone, in SFT contexts and in rollouts', async () => {
    expect(
      contextText(
        {
          instruction: '',
          history: [
            { observation: '', action: 'up' },
            { observation: '', action: 'left' },
          ],
          observation: board,
        },
        2,
      ),
    ).toBe(`Previous action: up\nPrevious action: left\nObservation:\n${board}\nAction:`);
    const tokenizer = tokenizerFor(sokoban);
    const options = {
      episodes: 1,
      randomActionFraction: 0,
      seed: 3,
      historyLength: 2,
      maxContextTokens: 512,
    };
    const demos = collectDemonstrations(sokoban, { episodes: 1, randomActionFraction: 0, seed: 3 });
    const [a0, a1] = demos[0].actions;
    const actionsOnly = demonstrationPairs(sokoban, tokenizer, {
      ...options,
      instruction: false,
      historyObservations: false,
    });
    const third = tokenizer.decode(actionsOnly.train[2].context);
    expect(third).toBe(
      `Previous action: ${a0}\nPrevious action: ${a1}\nObservation:\n${demos[0].observations[2]}\nAction:`,
    );
    const full = demonstrationPairs(sokoban, tokenizer, { ...options, instruction: false });
    expect(tokenizer.decode(full.train[2].context)).toContain(
      `Previous observation:\n${demos[0].observations[1]}`,
    );
    // Rollouts build the same contexts.
    const setup = runSetup(
      parseRunConfig({
        groups: 1,
        groupSize: 2,
        rolloutShards: 1,
        promptInstruction: false,
        historyObservations: false,
        model: { dModel: 16, nLayers: 1, nHeads: 2, dFF: 32, contextLength: 160 },
      }),
    );
    const policy = initialPolicy(setup);
    const { batch } = await collectShard(setup, policy, 1, 0, 1);
    policy.dispose();
    const steps = batch.groups[0].trajectories[0].steps;
    expect(steps.length).toBeGreaterThan(2);
    expect(setup.tokenizer.decode(steps[2].context)).toMatch(
      new RegExp(
        `^Previous action: ${steps[0].actionText}\nPrevious action: ${steps[1].actionText}\nObservation:\n`,
      ),
    );
    // The base's identity tells the two prompts apart.
    expect(envOptionsIdentity(setup.config)).toEqual([{ historyObservations: false }]);
  });

  it('drop the instruction from every SFT context when asked: ~4x fewer tokens on Sokoban', () => {
    const tokenizer = tokenizerFor(sokoban);
    const options = {
      episodes: 2,
      randomActionFraction: 0,
      seed: 3,
      historyLength: 0,
      maxContextTokens: 512,
    };
    const full = demonstrationPairs(sokoban, tokenizer, options);
    const compact = demonstrationPairs(sokoban, tokenizer, { ...options, instruction: false });
    expect(compact.train.length).toBe(full.train.length);
    const text = tokenizer.decode(compact.train[0].context);
    expect(text.startsWith('Observation:')).toBe(true);
    expect(tokenizer.decode(full.train[0].context)).toContain('Task: ');
    // 6x6 board = 41 tokens + template (48), vs 185 with the instruction.
    expect(compact.train[0].context.length).toBeLessThan(50);
    expect(full.train[0].context.length).toBeGreaterThan(3.5 * compact.train[0].context.length);
    // The current observation survives truncation either way.
    const cut = encodeContext(
      tokenizer,
      { instruction: 'x '.repeat(300), history: [], observation: board },
      0,
      20,
    );
    expect(cut.length).toBe(20);
    expect(tokenizer.decode(cut)).toContain('Action:');
  });

  it("every env's tokenizer has the template's characters: no line break is <unk>", () => {
    for (const name of ['sokoban', 'sokoban-visual', 'webshop', 'social']) {
      const tokenizer = tokenizerFor(getEnvSpec(name));
      const ids = tokenizer.encode(contextText({ instruction: 'a', history: [], observation: 'b' }, 0));
      expect(ids, name).not.toContain(tokenizer.unkId);
      expect(tokenizer.id('\n'), name).toBeDefined();
    }
  });

  it('cut in the middle when too long: the Task line (the goal) and the end stay', () => {
    const webshop = getEnvSpec('webshop');
    const tokenizer = tokenizerFor(webshop);
    const instruction = 'Instruction: find me jump rope that is anti burst, with color: orange';
    const page = Array.from(
      { length: 30 },
      (_, i) => `[B${10000 + i}] Orbis anti burst jump rope | $41.99`,
    ).join('\n');
    const parts = { instruction, history: [], observation: page };
    const whole = encodeContext(tokenizer, parts, 0, 10_000);
    const task = tokenizer.encode(`Task: ${instruction}\n`);
    const cut = encodeContext(tokenizer, parts, 0, 120);
    expect(cut).toHaveLength(120);
    expect(cut.slice(0, 1 + task.length)).toEqual(whole.slice(0, 1 + task.length)); // <bos> + Task line
    expect(cut.slice(1 + task.length)).toEqual(whole.slice(whole.length - (119 - task.length))); // the end
    const text = tokenizer.decode(cut);
    expect(text.startsWith(`Task: ${instruction}\n`)).toBe(true);
    expect(text.endsWith('| $41.99\nAction:')).toBe(true);
    expect(text).not.toContain('[B10000]'); // the middle (the page's first rows) is what goes
    // A Task line longer than half the budget is cut like the rest (the end always stays).
    const small = encodeContext(tokenizer, parts, 0, 2 * task.length);
    expect(small).toHaveLength(2 * task.length);
    expect(small.slice(1)).toEqual(whole.slice(whole.length - (2 * task.length - 1)));
  });
});

describe('SFT labels', () => {
  const demos = collectDemonstrations(sokoban, { episodes: 20, randomActionFraction: 0.5, seed: 11 });
  const random = demos.flatMap((d) =>
    d.actions.map((a, t) => ({ a, e: d.expertActions[t], expert: d.expert[t] })),
  );

  it("record the expert's action in every visited state, random steps included", () => {
    expect(random.every((s) => ['up', 'down', 'left', 'right'].includes(s.e))).toBe(true);
    const expertSteps = random.filter((s) => s.expert);
    expect(expertSteps.every((s) => s.a === s.e)).toBe(true);
    // Some random actions differ from what the expert would have done (else the noise would be invisible).
    expect(random.filter((s) => !s.expert && s.a !== s.e).length).toBeGreaterThan(5);
  });

  it("`expert` labels train on the expert's action; `taken` on the action taken", () => {
    const tokenizer = tokenizerFor(sokoban);
    const options = {
      episodes: 20,
      randomActionFraction: 0.5,
      seed: 11,
      historyLength: 0,
      maxContextTokens: 512,
    };
    const taken = demonstrationPairs(sokoban, tokenizer, { ...options, labels: 'taken' });
    const expert = demonstrationPairs(sokoban, tokenizer, { ...options, labels: 'expert' });
    const texts = (items: { action: number[] }[]) =>
      items.map((p) => tokenizer.decode(p.action).replace('<eos>', '').trim());
    // Episodes 10 and 20 are held out (every 10th), the rest train: same order as the demonstrations.
    const train = demos.filter((_, i) => i % 10 !== 9);
    const held = demos.filter((_, i) => i % 10 === 9);
    expect(texts(taken.train)).toEqual(train.flatMap((d) => d.actions));
    expect(texts(expert.train)).toEqual(train.flatMap((d) => d.expertActions));
    expect(texts(expert.train)).not.toEqual(texts(taken.train));
    // Accuracy is agreement with the expert, whatever the labels: held-out and trainExpert carry its actions.
    for (const set of [taken, expert]) {
      expect(texts(set.heldOut)).toEqual(held.flatMap((d) => d.expertActions));
      expect(texts(set.trainExpert)).toEqual(train.flatMap((d) => d.expertActions));
    }
  });

  it('invalid demonstration steps show the mistake and its feedback, and only the recovery is taught', () => {
    const webshop = getEnvSpec('webshop');
    const spec = { ...webshop, create: () => webshop.create({ invalidActionFeedback: true }) };
    const base = { episodes: 20, randomActionFraction: 0.2, seed: 5 };
    // 0 (or unset) draws nothing extra: the same demonstrations as without the option.
    expect(collectDemonstrations(spec, { ...base, invalidActionFraction: 0 })).toEqual(
      collectDemonstrations(spec, base),
    );
    const demos = collectDemonstrations(spec, { ...base, invalidActionFraction: 0.3 });
    const steps = demos.flatMap((d) => d.actions.map((a, t) => ({ d, t, a })));
    const invalid = steps.filter(({ d, t }) => d.invalid[t]);
    expect(invalid.length).toBeGreaterThan(10);
    for (const { d, t, a } of invalid) {
      expect(a).toMatch(/^click\[B\d+\]$/);
      expect(d.expert[t]).toBe(false);
      expect(d.observations[t + 1].startsWith(`Invalid action: ${a}\n`)).toBe(true);
    }
    expect(() => collectDemonstrations(spec, { ...base, invalidActionFraction: 1.5 })).toThrow(
      'invalidActionFraction must be in [0, 1], got 1.5',
    );
    // `taken` labels teach the random actions but never an invalid one: the expert's action stands in.
    const tokenizer = tokenizerFor(webshop);
    const pairs = demonstrationPairs(spec, tokenizer, {
      ...base,
      invalidActionFraction: 0.3,
      labels: 'taken',
      historyLength: 0,
      maxContextTokens: 512,
    });
    const taught = pairs.train.map((p) => tokenizer.decode(p.action).replace('<eos>', '').trim());
    const train = demos.filter((_, i) => i % 10 !== 9);
    expect(taught).toEqual(
      train.flatMap((d) => d.actions.map((a, t) => (d.invalid[t] ? d.expertActions[t] : a))),
    );
    expect(train.some((d) => d.invalid.some(Boolean))).toBe(true);
  });

  it('demonstratorTarget: the expert with 1 - f, f spread over the admissible actions', () => {
    const moves = ['up', 'down', 'left', 'right'];
    // f = 0.75: up 0.25 + 0.75 / 4 = 0.4375, each other move 0.1875.
    expect(demonstratorTarget('up', moves, 0.75)).toEqual([
      ['up', 0.4375],
      ['down', 0.1875],
      ['left', 0.1875],
      ['right', 0.1875],
    ]);
    // An expert action outside the admissible set keeps 1 - f; nothing admissible: the expert alone.
    expect(demonstratorTarget('wait', ['a', 'b'], 0.5)).toEqual([
      ['wait', 0.5],
      ['a', 0.25],
      ['b', 0.25],
    ]);
    expect(demonstratorTarget('up', [], 0.5)).toEqual([['up', 1]]);
    expect(demonstratorTarget('up', moves, 0)).toEqual([['up', 1]]);
  });

  it('`demonstrator` labels: every training state is one item per move, weighted by the target', () => {
    const tokenizer = tokenizerFor(sokoban);
    const options = {
      episodes: 20,
      randomActionFraction: 0.75,
      seed: 11,
      historyLength: 0,
      maxContextTokens: 512,
    };
    const soft = demonstrationPairs(sokoban, tokenizer, { ...options, labels: 'demonstrator' });
    const expert = demonstrationPairs(sokoban, tokenizer, { ...options, labels: 'expert' });
    expect(soft.train).toHaveLength(4 * expert.train.length);
    expect(soft.heldOut).toEqual(expert.heldOut);
    expert.train.forEach((e, k) => {
      const items = soft.train.slice(4 * k, 4 * k + 4);
      expect(items.every((it) => JSON.stringify(it.context) === JSON.stringify(e.context))).toBe(true);
      expect(items.reduce((a, it) => a + it.weight!, 0)).toBeCloseTo(1, 12);
      const own = items.find((it) => JSON.stringify(it.action) === JSON.stringify(e.action))!;
      expect(own.weight).toBeCloseTo(0.4375, 12);
    });
    expect(parseRunConfig({ sft: { labels: 'demonstrator' } }).sft.labels).toBe('demonstrator');
  });

  it('are a validated run-config field', () => {
    expect(parseRunConfig({}).sft.labels).toBe('taken');
    expect(parseRunConfig({ sft: { labels: 'expert' } }).sft.labels).toBe('expert');
    expect(() => parseRunConfig({ sft: { labels: 'oracle' } })).toThrow(/sft\.labels/);
    expect(parseRunConfig({}).promptInstruction).toBe(true);
    expect(() => parseRunConfig({ promptInstruction: 'no' })).toThrow(/promptInstruction/);
  });
});

describe('policy step weighting', () => {
  const traj = (n: number) => ({ steps: Array.from({ length: n }, () => ({})) });
  const batch = {
    groups: [{ trajectories: [traj(15), traj(5)] }, { trajectories: [traj(10), traj(0)] }],
  } as unknown as RolloutBatch;

  it('uniform: every step weighs 1 (the paper token-mean)', () => {
    expect(stepWeights(batch, 'uniform')).toEqual([
      [1, 1],
      [1, 1],
    ]);
  });

  it('per-trajectory: mean length / own length, so every episode sums to the same weight', () => {
    // Mean over the non-empty episodes: (15 + 5 + 10) / 3 = 10.
    const w = stepWeights(batch, 'per-trajectory');
    expect(w[0][0]).toBeCloseTo(10 / 15, 12);
    expect(w[0][1]).toBeCloseTo(2, 12);
    expect(w[1]).toEqual([1, 0]);
    expect(15 * w[0][0]).toBeCloseTo(5 * w[0][1], 12);
    expect(parseRunConfig({}).stepWeighting).toBe('uniform');
    expect(() => parseRunConfig({ stepWeighting: 'by-length' })).toThrow(/stepWeighting/);
  });
});

describe('action token budget', () => {
  it("every env's demonstration actions fit its default maxActionTokens; a smaller budget is named", () => {
    for (const name of ['sokoban', 'webshop', 'social']) {
      const spec = getEnvSpec(name);
      const tokenizer = tokenizerFor(spec);
      const options = {
        episodes: 60,
        randomActionFraction: 0.5,
        seed: 1,
        historyLength: 0,
        maxContextTokens: 512,
        labels: 'taken' as const,
        maxActionTokens: spec.maxActionTokens,
      };
      const { train, heldOut } = demonstrationPairs(spec, tokenizer, options);
      const longest = Math.max(...[...train, ...heldOut].map((p) => p.action.length));
      expect(longest, name).toBeLessThanOrEqual(spec.maxActionTokens);
      if (name === 'sokoban') expect(longest).toBe(2);
      // WebShop's searches and Social's utterances are longer than the old one-size budget of 8 tokens.
      else {
        expect(longest, name).toBeGreaterThan(8);
        expect(() => demonstrationPairs(spec, tokenizer, { ...options, maxActionTokens: 8 })).toThrow(
          new RegExp(
            `sft: the ${name} demonstration action ".+" is \\d+ tokens .*more than maxActionTokens 8`,
          ),
        );
      }
    }
  });

  it('runSetup takes the env default unless the run config sets one, and refuses a budget the window cannot hold', () => {
    expect(runSetup(parseRunConfig({ env: 'sokoban' })).maxActionTokens).toBe(8);
    expect(runSetup(parseRunConfig({ env: 'webshop' })).maxActionTokens).toBe(80);
    expect(runSetup(parseRunConfig({ env: 'social' })).maxActionTokens).toBe(24);
    expect(runSetup(parseRunConfig({ env: 'webshop', maxActionTokens: 40 })).maxActionTokens).toBe(40);
    expect(() => parseRunConfig({ maxActionTokens: 300 })).toThrow(/maxActionTokens/);
    expect(() => runSetup(parseRunConfig({ maxActionTokens: 64, model: { contextLength: 64 } }))).toThrow(
      /maxActionTokens 64 leaves no room for contexts in the model's window \(model.contextLength 64\)/,
    );
    expect(() => parseRunConfig({ maxActionTokens: 0 })).toThrow(/maxActionTokens/);
  });
});
