/**
 * The Social env's structured action language: one short utterance per turn, so that a small LM
 * can emit it. Verbs without an argument are a single word; the others take one argument from the
 * scenario's lists (shown in the instruction and in admissibleActions()):
 *
 *   greet | compliment | apologize | thank | insist | reveal | accept | reject | leave
 *   ask[topic] | explain[reason] | offer[item] | propose[value]
 *
 * `reveal` discloses the agent's private information (SOTOPIA's secret dimension); `insist` presses
 * the point rudely; `accept`/`reject` answer the partner's latest proposal; `leave` ends the episode.
 */
export const PLAIN_VERBS = [
  'greet',
  'compliment',
  'apologize',
  'thank',
  'insist',
  'reveal',
  'accept',
  'reject',
  'leave',
] as const;
export const ARG_VERBS = ['ask', 'explain', 'offer', 'propose'] as const;
export type PlainVerb = (typeof PLAIN_VERBS)[number];
export type ArgVerb = (typeof ARG_VERBS)[number];
export type Verb = PlainVerb | ArgVerb;

export interface Act {
  verb: Verb;
  /** Argument of ask/explain/offer/propose, lower-cased. */
  arg?: string;
}

/** The arguments each verb with an argument accepts in a scenario. */
export interface ActionVocabulary {
  ask: string[];
  explain: string[];
  offer: string[];
  propose: string[];
}

export function formatAct(act: Act): string {
  return act.arg === undefined ? act.verb : `${act.verb}[${act.arg}]`;
}

const PATTERN = /^\s*([a-z]+)\s*(?:\[([^[\]\n]*)\])?\s*\.?\s*$/i;

/** Parses one action against the scenario's vocabulary; anything else (unknown verb or argument) is null. */
export function parseSocialAction(text: unknown, vocabulary: ActionVocabulary): Act | null {
  if (typeof text !== 'string' || text.length > 200) return null;
  const m = PATTERN.exec(text);
  if (!m) return null;
  const verb = m[1].toLowerCase();
  const arg = m[2]?.trim().toLowerCase().replace(/\s+/g, ' ');
  if ((PLAIN_VERBS as readonly string[]).includes(verb))
    return arg === undefined ? { verb: verb as PlainVerb } : null;
  if ((ARG_VERBS as readonly string[]).includes(verb)) {
    if (arg === undefined || !vocabulary[verb as ArgVerb].includes(arg)) return null;
    return { verb: verb as ArgVerb, arg };
  }
  return null;
}

/** Every action valid in a scenario (the admissible list). */
export function allActions(vocabulary: ActionVocabulary): string[] {
  const out: string[] = [...PLAIN_VERBS];
  for (const verb of ARG_VERBS) for (const arg of vocabulary[verb]) out.push(`${verb}[${arg}]`);
  return out;
}
