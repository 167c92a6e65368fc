/**
 * Rule-based judge on SOTOPIA's seven dimensions (Zhou et al. 2024), from the scenario (both private
 * goals) and the transcript of structured acts. Ranges as in SOTOPIA: goal 0..10, believability
 * 0..10, knowledge 0..10, secret -10..0, relationship -5..5, social rules -10..0, financial -5..5.
 */
import { formatAct } from './actions';
import { getFamily } from './families';
import { agreementOf, replayEffects, type Turn } from './partner';
import type { Scenario } from './scenario';

export interface SocialScores {
  goal: number;
  believability: number;
  knowledge: number;
  secret: number;
  relationship: number;
  socialRules: number;
  financial: number;
  /** Mean of the seven dimensions. */
  overall: number;
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

export function judgeTranscript(s: Scenario, transcript: Turn[]): SocialScores {
  const family = getFamily(s.family);
  const agreed = agreementOf(transcript);
  const ps = replayEffects(s, transcript);
  const agentActs = transcript.filter((t) => t.speaker === 'agent').map((t) => t.act);

  let repeats = 0;
  agentActs.forEach((a, i) => {
    if (i > 0 && formatAct(a) === formatAct(agentActs[i - 1])) repeats++;
  });
  // Proposing again after a deal is not believable behaviour.
  let agreedYet = false;
  let afterDeal = 0;
  const upTo: Turn[] = [];
  for (const t of transcript) {
    upTo.push(t);
    if (agreedYet && t.speaker === 'agent' && t.act.verb === 'propose') afterDeal++;
    if (!agreedYet && agreementOf(upTo) !== null) agreedYet = true;
  }
  const believability = clamp(10 - 2 * repeats - 2 * afterDeal, 0, 10);

  const topics = Object.keys(s.persona.answers);
  const knowledge =
    topics.length === 0 ? 0 : Math.round((10 * topics.filter((t) => ps.asked.has(t)).length) / topics.length);

  const insists = agentActs.filter((a) => a.verb === 'insist').length;
  const polite = agentActs.some((a) => a.verb === 'greet' || a.verb === 'thank' || a.verb === 'apologize');
  const leftRudely = agentActs.some((a) => a.verb === 'leave') && !polite;
  const socialRules = clamp(-2 * insists - (leftRudely ? 2 : 0), -10, 0) || 0;

  const scores = {
    goal: family.goal(s, agreed),
    believability,
    knowledge,
    secret: ps.revealed ? -10 : 0,
    relationship: clamp(Math.round(ps.rapport), -5, 5),
    socialRules,
    financial: clamp(family.financial(s, agreed), -5, 5),
  };
  const values = Object.values(scores);
  return { ...scores, overall: Math.round((100 * values.reduce((a, b) => a + b, 0)) / values.length) / 100 };
}
