import { createRng, mixSeed, type Rng } from '../prng';
import type { Env, EnvSpec, StepResult } from '../types';
import { HELD_OUT_SEED_START } from '../types';
import { ARG_VERBS, PLAIN_VERBS, allActions, formatAct, parseSocialAction, type Act } from './actions';
import { SCENARIO_FAMILIES, getFamily } from './families';
import { judgeTranscript, type SocialScores } from './judge';
import { chatCompletionSync, llmConfigFromEnv, type ChatMessage, type LlmConfig } from './llm';
import { applySocialEffects, scriptedReply, type PartnerReply, type Turn } from './partner';
import { initialPartnerState, type PartnerState, type Scenario, type ScenarioFamily } from './scenario';

export interface SocialOptions {
  /** Agent turns per episode (default 10). */
  maxTurns?: number;
  /** The same as maxTurns, under the name every env takes (the run config's `maxSteps`); maxTurns wins. */
  maxSteps?: number;
  /** Restrict to these scenario families (default all five). */
  families?: string[];
  /** `llm` = partner replies from the OpenAI-compatible endpoint (falls back to scripted on errors). */
  partner?: 'scripted' | 'llm';
  /** `llm` = dimension scores from the endpoint (falls back to the rule judge on errors). */
  judge?: 'rule' | 'llm';
  /** Endpoint; default from ISTAR_LLM_BASE_URL / ISTAR_LLM_MODEL / ISTAR_LLM_API_KEY. */
  llm?: LlmConfig;
}

/** Social episodes with goal > 6 count as positive (SOTOPIA preference threshold of the paper). */
export const SOCIAL_SUCCESS_THRESHOLD = 6;

/** The scenario of a seed: families in turn, parameters from the seed. */
export function makeScenario(seed: number, families: ScenarioFamily[] = SCENARIO_FAMILIES): Scenario {
  const family = families[((seed % families.length) + families.length) % families.length];
  return family.make(createRng(mixSeed(seed, 0x50c1a1)));
}

export class SocialEnv implements Env {
  readonly name = 'social';
  readonly maxSteps: number;
  private readonly families: ScenarioFamily[];
  private readonly options: SocialOptions;
  private readonly llm: LlmConfig | null;
  private scenario: Scenario | null = null;
  private family: ScenarioFamily | null = null;
  private ps: PartnerState | null = null;
  private transcript: Turn[] = [];
  private rng: Rng = createRng(0);
  private seed = 0;
  private turns = 0;
  private done = false;
  private lastObservation = '';
  private finalScores: SocialScores | null = null;

  constructor(options: SocialOptions = {}) {
    this.options = options;
    this.maxSteps = options.maxTurns ?? options.maxSteps ?? 10;
    this.families = (options.families ?? SCENARIO_FAMILIES.map((f) => f.name)).map(getFamily);
    this.llm =
      options.llm ?? (options.partner === 'llm' || options.judge === 'llm' ? llmConfigFromEnv() : null);
    if ((options.partner === 'llm' || options.judge === 'llm') && !this.llm) {
      throw new Error(
        'SocialEnv: partner/judge "llm" needs ISTAR_LLM_BASE_URL (and ISTAR_LLM_MODEL, ISTAR_LLM_API_KEY) or options.llm',
      );
    }
  }

  reset(seed: number): string {
    this.seed = seed;
    this.scenario = makeScenario(seed, this.families);
    this.family = getFamily(this.scenario.family);
    this.ps = initialPartnerState(this.scenario);
    this.rng = createRng(mixSeed(seed, 0x9a27));
    const opening = this.scenario.opening;
    this.transcript = [{ speaker: 'partner', act: opening.act ?? { verb: 'greet' }, text: opening.text }];
    this.turns = 0;
    this.done = false;
    this.finalScores = null;
    this.lastObservation = this.render({ act: opening.act ?? { verb: 'greet' }, text: opening.text });
    return this.lastObservation;
  }

  currentScenario(): Scenario {
    return this.require().s;
  }

  /** The transcript so far (partner opening first). */
  currentTranscript(): Turn[] {
    return this.transcript.slice();
  }

  /** The judge's scores once the episode has ended. */
  scores(): SocialScores | null {
    return this.finalScores;
  }

  step(actionText: string): StepResult {
    const { s, family, ps } = this.require();
    if (this.done) return this.result(0, false);
    this.turns++;
    const act = parseSocialAction(actionText, s.vocabulary);
    if (act) {
      const previous = [...this.transcript].reverse().find((t) => t.speaker === 'agent')?.act ?? null;
      this.transcript.push({ speaker: 'agent', act, text: formatAct(act) });
      const reply =
        this.options.partner === 'llm'
          ? this.llmReply(s, family, ps, act, previous)
          : scriptedReply(s, family, ps, act, previous, this.turns, this.rng);
      this.transcript.push({ speaker: 'partner', act: reply.act, text: reply.text });
      this.lastObservation = this.render(reply);
      if (act.verb === 'leave' || reply.act.verb === 'leave') this.done = true;
    }
    if (this.turns >= this.maxSteps) this.done = true;
    if (!this.done) return this.result(0, act !== null);
    this.finalScores = this.options.judge === 'llm' ? this.llmJudge(s) : judgeTranscript(s, this.transcript);
    return this.result(this.finalScores.goal, act !== null);
  }

  instruction(): string {
    const { s } = this.require();
    const v = s.vocabulary;
    return [
      `Scenario: ${s.background}`,
      `You are the ${s.agentRole}; ${s.persona.name} is the ${s.partnerRole}.`,
      `Your goal: ${s.agentGoal}`,
      `Private information (keep it to yourself): ${s.secret}`,
      `Say one action per turn: ${PLAIN_VERBS.join(', ')}, ${ARG_VERBS.map((a) => `${a}[...]`).join(', ')}.`,
      `ask: ${v.ask.join('; ')}. explain: ${v.explain.join('; ')}. offer: ${v.offer.join('; ')}. propose: ${v.propose.join('; ')}.`,
    ].join('\n');
  }

  admissibleActions(): string[] {
    return allActions(this.require().s.vocabulary);
  }

  /** Seed and the structured acts so far (wording variety excluded). */
  anchor(): string {
    this.require();
    return `${this.seed}|${this.transcript.map((t) => `${t.speaker[0]}:${formatAct(t.act)}`).join(' ')}`;
  }

  /**
   * Scripted expert with the hidden persona: build rapport with the acts the persona cares about,
   * then propose the best value the partner accepts (or accept a counter that is as good), then leave.
   */
  expertAction(): string {
    const { s, family, ps } = this.require();
    if (ps.agreed !== null) return 'leave';
    const said = new Set(this.transcript.filter((t) => t.speaker === 'agent').map((t) => formatAct(t.act)));
    const next = family.warmup(s).find((a) => !said.has(formatAct(a)));
    if (next) return formatAct(next);
    let best: string | null = null;
    for (const v of s.vocabulary.propose) {
      if (family.accepts(s, ps, v) && (best === null || family.goal(s, v) > family.goal(s, best))) best = v;
    }
    if (
      ps.partnerPending !== null &&
      (best === null || family.goal(s, ps.partnerPending) >= family.goal(s, best))
    )
      return 'accept';
    if (best !== null) return `propose[${best}]`;
    return `propose[${s.vocabulary.propose.reduce((a, b) => (family.goal(s, b) > family.goal(s, a) ? b : a))}]`;
  }

  private llmReply(
    s: Scenario,
    family: ScenarioFamily,
    ps: PartnerState,
    act: Act,
    previous: Act | null,
  ): PartnerReply {
    const backup = structuredClone(ps);
    try {
      applySocialEffects(s, ps, act, previous);
      if (act.verb === 'propose') ps.agentPending = act.arg!;
      const messages: ChatMessage[] = [
        {
          role: 'system',
          content:
            `You are ${s.persona.name}, the ${s.partnerRole}. ${s.background.replace(/You /g, 'The other person ')} Your private goal: ${s.partnerGoal} ` +
            `Reply with exactly one line: ACT: <accept | reject | propose[value] | thank | leave> | SAY: <one sentence>. Values: ${s.vocabulary.propose.join('; ')}.`,
        },
        {
          role: 'user',
          content: this.transcript
            .map((t) => `${t.speaker === 'agent' ? s.agentRole : s.persona.name}: ${t.text}`)
            .join('\n'),
        },
      ];
      const content = chatCompletionSync(this.llm!, messages);
      const m = /ACT:\s*([^|\n]+?)\s*\|\s*SAY:\s*(.+)/i.exec(content);
      const replyAct = m ? parseSocialAction(m[1], s.vocabulary) : null;
      if (!m || !replyAct || !['accept', 'reject', 'propose', 'thank', 'leave'].includes(replyAct.verb))
        throw new Error(`unparseable partner reply: ${content.slice(0, 100)}`);
      if (replyAct.verb === 'accept' && ps.agreed === null && ps.agentPending !== null)
        ps.agreed = ps.agentPending;
      if (replyAct.verb === 'propose') ps.partnerPending = replyAct.arg!;
      if (replyAct.verb === 'reject') ps.agentPending = null;
      return { act: replyAct, text: m[2].trim() };
    } catch {
      Object.assign(ps, backup);
      return scriptedReply(s, family, ps, act, previous, this.turns, this.rng);
    }
  }

  private llmJudge(s: Scenario): SocialScores {
    const rule = judgeTranscript(s, this.transcript);
    try {
      const content = chatCompletionSync(this.llm!, [
        {
          role: 'system',
          content:
            'You evaluate a social interaction as in SOTOPIA. Answer with one JSON object with numeric keys: goal (0..10), believability (0..10), ' +
            'knowledge (0..10), secret (-10..0), relationship (-5..5), socialRules (-10..0), financial (-5..5).',
        },
        {
          role: 'user',
          content: `Scenario: ${s.background}\nAgent goal: ${s.agentGoal}\nAgent secret: ${s.secret}\nPartner goal: ${s.partnerGoal}\nTranscript:\n${this.transcript.map((t) => `${t.speaker}: ${t.text}`).join('\n')}`,
        },
      ]);
      const json = JSON.parse(/\{[\s\S]*\}/.exec(content)?.[0] ?? '') as Record<string, unknown>;
      const ranges: Record<string, [number, number]> = {
        goal: [0, 10],
        believability: [0, 10],
        knowledge: [0, 10],
        secret: [-10, 0],
        relationship: [-5, 5],
        socialRules: [-10, 0],
        financial: [-5, 5],
      };
      const out = { ...rule };
      for (const [k, [lo, hi]] of Object.entries(ranges)) {
        const v = json[k];
        if (typeof v === 'number' && Number.isFinite(v))
          (out as Record<string, number>)[k] = Math.min(hi, Math.max(lo, v));
      }
      const dims = Object.keys(ranges).map((k) => (out as Record<string, number>)[k]);
      out.overall = Math.round((100 * dims.reduce((a, b) => a + b, 0)) / dims.length) / 100;
      return out;
    } catch {
      return rule;
    }
  }

  private render(reply: PartnerReply): string {
    return `${this.require().s.persona.name}: ${reply.text} [${formatAct(reply.act)}]`;
  }

  private result(reward: number, valid: boolean): StepResult {
    const goal = this.finalScores?.goal ?? 0;
    return {
      observation: this.lastObservation,
      reward,
      done: this.done,
      info: { won: this.finalScores !== null && goal > SOCIAL_SUCCESS_THRESHOLD, valid, score: goal },
    };
  }

  private require(): { s: Scenario; family: ScenarioFamily; ps: PartnerState } {
    if (!this.scenario || !this.family || !this.ps)
      throw new Error('SocialEnv: call reset(seed) before using the env');
    return { s: this.scenario, family: this.family, ps: this.ps };
  }
}

export const socialSpec: EnvSpec = {
  name: 'social',
  create: (options) => new SocialEnv(options as SocialOptions),
  vocabularyTexts: () => {
    const env = new SocialEnv();
    const texts: string[] = [];
    for (let seed = 0; seed < 200; seed++) {
      texts.push(env.reset(seed), env.instruction(), ...env.admissibleActions());
      let r = env.step(env.expertAction());
      texts.push(r.observation);
      while (!r.done) {
        r = env.step(env.expertAction());
        texts.push(r.observation);
      }
    }
    return texts;
  },
  trainSeeds: { start: 0, end: HELD_OUT_SEED_START },
  heldOutSeeds: { start: HELD_OUT_SEED_START, end: HELD_OUT_SEED_START + 10_000 },
  successThreshold: SOCIAL_SUCCESS_THRESHOLD,
  maxActionTokens: 24,
};
