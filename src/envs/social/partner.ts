/**
 * The scripted partner: how each agent act moves the partner's rapport and persuasion (pure rules
 * shared with the judge), and the partner's reply act and text (with seeded variety in wording).
 */
import type { Rng } from '../prng';
import { formatAct, type Act } from './actions';
import { initialPartnerState, type PartnerState, type Scenario, type ScenarioFamily } from './scenario';

export interface Turn {
  speaker: 'agent' | 'partner';
  act: Act;
  text: string;
}

export interface PartnerReply {
  act: Act;
  text: string;
}

/**
 * Rapport/persuasion effects of one agent act (SOTOPIA-style persona rules). Greeting, a first
 * compliment or two, thanks, an apology and a reason or offer the persona cares about help;
 * insisting hurts; repeating yourself annoys.
 */
export function applySocialEffects(s: Scenario, ps: PartnerState, act: Act, previous: Act | null): void {
  if (previous && formatAct(previous) === formatAct(act)) ps.rapport -= 0.5;
  const once = (key: string): boolean => {
    if (ps.used.has(key)) return false;
    ps.used.add(key);
    return true;
  };
  switch (act.verb) {
    case 'greet':
      if (!ps.greeted) ps.rapport += 1;
      ps.greeted = true;
      break;
    case 'compliment':
      if (ps.compliments < 2) ps.rapport += 0.5;
      ps.compliments++;
      break;
    case 'apologize':
      if (!ps.acknowledged) ps.rapport += 1;
      ps.acknowledged = true;
      break;
    case 'thank':
      if (!ps.thanked) ps.rapport += 0.5;
      ps.thanked = true;
      break;
    case 'insist':
      ps.rapport -= 2;
      break;
    case 'reveal':
      if (!ps.revealed) ps.rapport += 0.5;
      ps.revealed = true;
      break;
    case 'ask':
      ps.asked.add(act.arg!);
      if (act.arg === 'how you feel') ps.acknowledged = true;
      break;
    case 'explain':
      if (s.persona.persuasiveReasons.includes(act.arg!) && once(`explain:${act.arg}`)) {
        ps.persuaded++;
        ps.rapport += 0.5;
      }
      break;
    case 'offer':
      if (s.persona.wantedOffers.includes(act.arg!) && once(`offer:${act.arg}`)) {
        ps.persuaded++;
        ps.rapport += 0.5;
      }
      break;
    default:
      break;
  }
}

const VARIANTS: Record<string, string[]> = {
  greet: ['Hi there.', 'Hello to you too.', 'Hey.'],
  compliment: ['Thanks, that is kind of you.', 'Oh, thank you!', 'Ha, flattery works sometimes.'],
  apologize: ['Thanks for saying that. I appreciate it.', 'Okay. Apology accepted.'],
  thank: ['You are welcome.', 'No problem.'],
  insist: ['Please do not push me like that.', 'I do not like being pressured.'],
  reveal: ['Oh, good to know.', 'Interesting, thanks for telling me.'],
  explain: ['I see.', 'Hmm, okay.', 'Right.'],
  persuaded: ['That is a good point.', 'Oh, that does matter to me.'],
  offer: ['No thanks, I do not need that.', 'That is not really necessary.'],
  wanted: ['Oh, I would like that!', 'That would be nice, actually.'],
  accept: ['Great, it is a deal.', 'Alright, agreed.', 'Sounds good, deal.'],
  reject: ['Sorry, I cannot do that.', 'No, that does not work for me.'],
  counter: ['How about', 'I could do', 'What about'],
  agreed: ['We already agreed, right?', 'We have a deal already.'],
  nothing: ['There is nothing to accept yet.', 'Accept what?'],
  rejected: ['Okay, fair enough.', 'Alright.'],
  unknown: ['I do not know much about that.', 'No idea, sorry.'],
  leave: ['I have to go now. Bye.', 'Sorry, I need to leave.'],
  bye: ['Bye!', 'See you.'],
};

/**
 * The partner's reply to an agent act. Updates `ps` (effects, pending proposals, agreement). When
 * the partner's patience is spent without a deal, it leaves.
 */
export function scriptedReply(
  s: Scenario,
  family: ScenarioFamily,
  ps: PartnerState,
  act: Act,
  previous: Act | null,
  turn: number,
  rng: Rng,
): PartnerReply {
  const say = (key: string): string => rng.pick(VARIANTS[key]);
  applySocialEffects(s, ps, act, previous);
  if (act.verb === 'leave') return { act: { verb: 'leave' }, text: say('bye') };
  let reply: PartnerReply;
  switch (act.verb) {
    case 'propose': {
      ps.agentPending = act.arg!;
      if (ps.agreed !== null) reply = { act: { verb: 'reject' }, text: say('agreed') };
      else if (family.accepts(s, ps, act.arg!)) {
        ps.agreed = act.arg!;
        ps.partnerPending = null;
        reply = { act: { verb: 'accept' }, text: say('accept') };
      } else {
        const counter = family.counter(s, ps);
        if (counter !== null && counter !== act.arg) {
          ps.partnerPending = counter;
          reply = { act: { verb: 'propose', arg: counter }, text: `${say('counter')} ${counter}?` };
        } else reply = { act: { verb: 'reject' }, text: say('reject') };
      }
      break;
    }
    case 'accept':
      if (ps.agreed === null && ps.partnerPending !== null) {
        ps.agreed = ps.partnerPending;
        reply = { act: { verb: 'accept' }, text: say('accept') };
      } else reply = { act: { verb: 'thank' }, text: say(ps.agreed !== null ? 'agreed' : 'nothing') };
      break;
    case 'reject':
      ps.partnerPending = null;
      reply = { act: { verb: 'reject' }, text: say('rejected') };
      break;
    case 'ask':
      reply = { act: { verb: 'explain', arg: act.arg }, text: s.persona.answers[act.arg!] ?? say('unknown') };
      break;
    case 'explain':
      reply = {
        act: { verb: 'thank' },
        text: say(s.persona.persuasiveReasons.includes(act.arg!) ? 'persuaded' : 'explain'),
      };
      break;
    case 'offer':
      reply = {
        act: { verb: 'thank' },
        text: say(s.persona.wantedOffers.includes(act.arg!) ? 'wanted' : 'offer'),
      };
      break;
    default:
      reply = { act: { verb: act.verb === 'insist' ? 'reject' : 'thank' }, text: say(act.verb) };
  }
  if (ps.agreed === null && turn >= s.persona.patience)
    return { act: { verb: 'leave' }, text: `${reply.text} ${say('leave')}` };
  return reply;
}

/** The first agreement in a transcript: an accept of the other side's latest open proposal. */
export function agreementOf(transcript: Turn[]): string | null {
  let agentPending: string | null = null;
  let partnerPending: string | null = null;
  for (const t of transcript) {
    if (t.act.verb === 'propose') {
      if (t.speaker === 'agent') agentPending = t.act.arg ?? null;
      else partnerPending = t.act.arg ?? null;
    } else if (t.act.verb === 'accept') {
      const pending = t.speaker === 'agent' ? partnerPending : agentPending;
      if (pending !== null) return pending;
    } else if (t.act.verb === 'reject') {
      if (t.speaker === 'agent') partnerPending = null;
      else agentPending = null;
    }
  }
  return null;
}

/** The partner state implied by the agent's acts of a transcript (rapport and persuasion only). */
export function replayEffects(s: Scenario, transcript: Turn[]): PartnerState {
  const ps = initialPartnerState(s);
  let previous: Act | null = null;
  for (const t of transcript) {
    if (t.speaker !== 'agent') continue;
    applySocialEffects(s, ps, t.act, previous);
    previous = t.act;
  }
  return ps;
}
