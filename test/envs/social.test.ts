import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../src/envs/prng';
import { parseSocialAction, type Act } from '../../src/envs/social/actions';
import { SCENARIO_FAMILIES } from '../../src/envs/social/families';
import { judgeTranscript } from '../../src/envs/social/judge';
import { chatCompletion, chatCompletionSync, llmConfigFromEnv } from '../../src/envs/social/llm';
import type { Turn } from '../../src/envs/social/partner';
import { SocialEnv, makeScenario, socialSpec } from '../../src/envs/social/env';
import { MALFORMED_ACTIONS } from './malformed';

const agent = (verb: Act['verb'], arg?: string): Turn => ({ speaker: 'agent', act: { verb, arg }, text: '' });
const partner = (verb: Act['verb'], arg?: string): Turn => ({
  speaker: 'partner',
  act: { verb, arg },
  text: '',
});
const HELD_OUT = Array.from({ length: 500 }, (_, i) => 2 ** 16 + i);

function scenarioOf(family: string) {
  for (let seed = 0; ; seed++) {
    const s = makeScenario(seed);
    if (s.family === family) return s;
  }
}

describe('social scenarios and actions', () => {
  it('has >= 5 parameterised families with private goals for both roles', () => {
    expect(SCENARIO_FAMILIES.length).toBeGreaterThanOrEqual(5);
    for (const f of SCENARIO_FAMILIES) {
      const a = f.make(createRng(1));
      const b = f.make(createRng(2));
      expect(a.agentGoal.length).toBeGreaterThan(0);
      expect(a.partnerGoal.length).toBeGreaterThan(0);
      expect(JSON.stringify([a.params, a.sets, a.persona])).not.toBe(
        JSON.stringify([b.params, b.sets, b.persona]),
      );
    }
    expect(JSON.stringify(makeScenario(70_000))).toBe(JSON.stringify(makeScenario(70_000)));
  });

  it('parses the action language strictly against the scenario vocabulary', () => {
    const s = scenarioOf('negotiation');
    expect(parseSocialAction(' Greet ', s.vocabulary)).toEqual({ verb: 'greet' });
    expect(parseSocialAction(`propose[${s.vocabulary.propose[3]}]`, s.vocabulary)).toEqual({
      verb: 'propose',
      arg: s.vocabulary.propose[3],
    });
    expect(parseSocialAction('ask[ Lowest  Price ]', s.vocabulary)).toEqual({
      verb: 'ask',
      arg: 'lowest price',
    });
    for (const bad of ['propose[1]', 'greet[x]', 'propose', 'dance', 'accept now', 'ask[weather]'])
      expect(parseSocialAction(bad, s.vocabulary)).toBeNull();
  });
});

describe('social judge on scripted transcripts', () => {
  it('negotiation: a deal at the target scores goal 10; above it less; none 0', () => {
    const s = scenarioOf('negotiation');
    const grid = s.sets.grid;
    const t = s.params.target;
    const opening = partner('propose', grid[10]);
    const deal = judgeTranscript(s, [
      opening,
      agent('greet'),
      partner('thank'),
      agent('propose', grid[t]),
      partner('accept'),
      agent('leave'),
      partner('leave'),
    ]);
    expect(deal.goal).toBe(10);
    expect(deal.relationship).toBe(Math.round(s.persona.initialRapport + 1));
    expect(deal.financial).toBeCloseTo(5 - t);
    const atList = judgeTranscript(s, [opening, agent('accept'), partner('accept')]);
    expect(atList.goal).toBe(0);
    expect(atList.financial).toBe(-5);
    const counter = judgeTranscript(s, [
      opening,
      agent('propose', grid[0]),
      partner('propose', grid[9]),
      agent('accept'),
    ]);
    expect(counter.goal).toBeCloseTo(Math.round(((10 * 1) / (10 - t)) * 10) / 10);
    expect(judgeTranscript(s, [opening, agent('leave')]).goal).toBe(0);
  });

  it('scores secret, social rules, believability and knowledge by rule', () => {
    const s = scenarioOf('favour');
    const rude = judgeTranscript(s, [
      partner('greet'),
      agent('insist'),
      agent('insist'),
      agent('reveal'),
      agent('leave'),
    ]);
    expect(rude.secret).toBe(-10);
    expect(rude.socialRules).toBe(-2 * 2 - 2);
    expect(rude.believability).toBe(8);
    expect(rude.relationship).toBe(Math.round(s.persona.initialRapport - 2 - 0.5 - 2 + 0.5));
    const curious = judgeTranscript(s, [
      partner('greet'),
      agent('greet'),
      ...s.vocabulary.ask.map((a) => agent('ask', a)),
    ]);
    expect(curious.knowledge).toBe(10);
    expect(curious.secret).toBe(0);
    expect(curious.socialRules).toBe(0);
    const full = judgeTranscript(s, [
      partner('greet'),
      agent('propose', s.sets.values[0]),
      partner('accept'),
    ]);
    expect(full.goal).toBe(10);
    const partial = judgeTranscript(s, [
      partner('greet'),
      agent('propose', s.sets.values[0]),
      partner('propose', s.sets.values[1]),
      agent('accept'),
    ]);
    expect(partial.goal).toBe(6);
    // Proposing again after the deal does not change the outcome but is less believable.
    const after = judgeTranscript(s, [
      partner('greet'),
      agent('propose', s.sets.values[1]),
      partner('accept'),
      agent('propose', s.sets.values[0]),
      partner('accept'),
    ]);
    expect(after.goal).toBe(6);
    expect(after.believability).toBe(8);
  });

  it('scheduling and conflict goals', () => {
    const sch = scenarioOf('scheduling');
    const both = sch.sets.preferred.find((p) => sch.sets.free.includes(p))!;
    expect(judgeTranscript(sch, [agent('propose', both), partner('accept')]).goal).toBe(10);
    const other = sch.sets.free.find((f) => !sch.sets.preferred.includes(f))!;
    expect(judgeTranscript(sch, [agent('propose', other), partner('accept')]).goal).toBe(5);
    const con = scenarioOf('conflict');
    expect(judgeTranscript(con, [agent('propose', 'quiet after midnight'), partner('accept')]).goal).toBe(2);
  });
});

function play(policy: (env: SocialEnv) => string, seeds: number[]) {
  const env = new SocialEnv();
  let total = 0;
  let wins = 0;
  for (const seed of seeds) {
    env.reset(seed);
    let r = env.step(policy(env));
    while (!r.done) r = env.step(policy(env));
    expect(r.reward).toBe(r.info.score);
    total += r.info.score;
    if (r.info.won) wins++;
  }
  return { goal: total / seeds.length, positive: wins / seeds.length };
}

describe('social episodes', () => {
  it('expert vs random goal scores over 500 held-out scenarios', () => {
    const expert = play((env) => env.expertAction(), HELD_OUT);
    const rng = createRng(5);
    const random = play((env) => rng.pick(env.admissibleActions()), HELD_OUT);
    console.log(
      `[social] expert mean goal ${expert.goal.toFixed(2)} (goal > 6: ${(100 * expert.positive).toFixed(1)}%); ` +
        `random mean goal ${random.goal.toFixed(2)} (goal > 6: ${(100 * random.positive).toFixed(1)}%)`,
    );
    expect(expert.goal).toBeGreaterThan(8.5);
    expect(expert.positive).toBeGreaterThan(0.9);
    expect(random.goal).toBeLessThan(expert.goal / 2);
  });

  it('leaving ends the episode with the goal score as reward; max turns ends it too', () => {
    const env = new SocialEnv();
    env.reset(3);
    const r = env.step('leave');
    expect(r.done).toBe(true);
    expect(r.reward).toBe(0);
    expect(env.scores()).not.toBeNull();
    const short = new SocialEnv({ maxTurns: 3 });
    short.reset(4);
    expect(short.step('compliment').done).toBe(false);
    expect(short.step('thank').done).toBe(false);
    expect(short.step('compliment').done).toBe(true);
  });

  it('malformed actions are invalid steps with reward 0 and unchanged state, never exceptions', () => {
    const env = socialSpec.create();
    for (const bad of [...MALFORMED_ACTIONS, 'propose[a million]', 'ask[]', 'greet[loudly]']) {
      env.reset(8);
      env.step('greet');
      const before = env.anchor();
      const r = env.step(bad);
      expect(r.info.valid).toBe(false);
      expect(r.reward).toBe(0);
      expect(env.anchor()).toBe(before);
    }
  });

  it('is deterministic per seed', () => {
    const a = new SocialEnv();
    const b = new SocialEnv();
    expect(a.reset(77)).toBe(b.reset(77));
    for (const act of ['greet', 'compliment', a.admissibleActions()[20]])
      expect(a.step(act)).toEqual(b.step(act));
    expect(socialSpec.successThreshold).toBe(6);
  });
});

// A tiny OpenAI-compatible server on 127.0.0.1 in a worker thread (its own event loop, so the
// synchronous client in the main thread can reach it). No other network is touched.
const SERVER = `
const http = require('node:http');
const { parentPort } = require('node:worker_threads');
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const parsed = JSON.parse(body);
    const system = parsed.messages[0].content;
    const content = system.includes('evaluate')
      ? 'Scores: {"goal": 7.5, "believability": 9, "secret": 3}'
      : 'ACT: reject | SAY: Not today, friend.';
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: content + ' [' + parsed.model + '|' + (req.headers.authorization || '') + ']' } }] }));
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', () => server.close(() => process.exit(0)));
`;

describe('social LLM partner and judge (local test server)', () => {
  let worker: Worker;
  let baseUrl = '';
  beforeAll(async () => {
    worker = new Worker(SERVER, { eval: true });
    const port = await new Promise<number>((resolve) => worker.once('message', resolve));
    baseUrl = `http://127.0.0.1:${port}/v1`;
  });
  afterAll(async () => {
    worker.postMessage('stop');
    await new Promise((resolve) => worker.once('exit', resolve));
  });

  it('reads the endpoint from ISTAR_LLM_* and sends model and key', async () => {
    const config = llmConfigFromEnv({
      ISTAR_LLM_BASE_URL: baseUrl,
      ISTAR_LLM_MODEL: 'tiny',
      ISTAR_LLM_API_KEY: 'k1',
    })!;
    expect(config).toMatchObject({ baseUrl, model: 'tiny', apiKey: 'k1' });
    expect(llmConfigFromEnv({})).toBeNull();
    const messages = [{ role: 'system' as const, content: 'hi' }];
    expect(await chatCompletion(config, messages)).toContain('[tiny|Bearer k1]');
    expect(chatCompletionSync(config, messages)).toContain('[tiny|Bearer k1]');
  });

  it('uses the LLM partner reply and the LLM judge scores, clamped, with rule fallbacks', () => {
    const env = new SocialEnv({
      partner: 'llm',
      judge: 'llm',
      llm: { baseUrl, model: 'tiny', timeoutMs: 10_000 },
    });
    env.reset(1);
    let r = env.step('greet');
    expect(r.observation).toContain('Not today, friend.');
    expect(r.observation).toContain('[reject]');
    r = env.step('leave');
    expect(r.done).toBe(true);
    const scores = env.scores()!;
    expect(scores.goal).toBe(7.5);
    expect(r.reward).toBe(7.5);
    expect(scores.secret).toBe(0);
    expect(scores.believability).toBe(9);
    expect(r.info.won).toBe(true);
  });

  it('falls back to the scripted partner and rule judge when the endpoint fails', () => {
    const env = new SocialEnv({
      partner: 'llm',
      judge: 'llm',
      llm: { baseUrl: 'http://127.0.0.1:9/v1', model: 'x', timeoutMs: 2_000 },
    });
    env.reset(2);
    const r = env.step('greet');
    expect(r.info.valid).toBe(true);
    expect(r.observation).toMatch(/\[(thank|leave)\]/);
    expect(env.step('leave').done).toBe(true);
    expect(env.scores()!.goal).toBe(0);
  });
});
