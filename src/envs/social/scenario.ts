import type { Rng } from '../prng';
import type { Act, ActionVocabulary } from './actions';

/** The partner persona's hidden parameters (its private goal is in the family params). */
export interface Persona {
  name: string;
  /** Starting rapport with the agent, -1..1. */
  initialRapport: number;
  /** Agent turns the partner stays before leaving without a deal. */
  patience: number;
  /** explain[...] reasons that move this persona. */
  persuasiveReasons: string[];
  /** offer[...] items this persona wants. */
  wantedOffers: string[];
  /** ask[topic] -> what the partner tells (topics that carry information, for the knowledge score). */
  answers: Record<string, string>;
}

export interface Scenario {
  family: string;
  agentRole: string;
  partnerRole: string;
  background: string;
  /** The agent's private goal (part of the instruction). */
  agentGoal: string;
  /** The partner's private goal (hidden from the agent; used by judges). */
  partnerGoal: string;
  /** What `reveal` discloses (SOTOPIA's secret dimension). */
  secret: string;
  vocabulary: ActionVocabulary;
  persona: Persona;
  /** The partner's first line; may carry a proposal. */
  opening: { text: string; act?: Act };
  /** Family-specific numbers: grids, thresholds, indices. */
  params: Record<string, number>;
  /** Family-specific sets of values (e.g. free time slots). */
  sets: Record<string, string[]>;
}

/** What a partner knows during a conversation; rebuilt from the transcript by the judge. */
export interface PartnerState {
  rapport: number;
  /** Persuasive reasons and wanted offers heard (each counts once). */
  persuaded: number;
  /** The agent apologised or asked how the partner feels. */
  acknowledged: boolean;
  revealed: boolean;
  greeted: boolean;
  compliments: number;
  thanked: boolean;
  used: Set<string>;
  asked: Set<string>;
  /** The partner's latest open proposal. */
  partnerPending: string | null;
  /** The agent's latest proposal. */
  agentPending: string | null;
  agreed: string | null;
  /** Family scratch (e.g. the seller's current ask index). */
  flags: Record<string, number>;
}

/** A scenario family: generator, the partner's acceptance rule and the goal score. */
export interface ScenarioFamily {
  name: string;
  make(rng: Rng): Scenario;
  /** Would the partner accept the agent's proposal `value` now? Deterministic. */
  accepts(s: Scenario, ps: PartnerState, value: string): boolean;
  /** The partner's counter-proposal now (may update ps.flags), or null to refuse outright. */
  counter(s: Scenario, ps: PartnerState): string | null;
  /** SOTOPIA goal completion 0-10 for the agreed value (null = no agreement). */
  goal(s: Scenario, agreed: string | null): number;
  /** SOTOPIA financial/material benefit -5..5 for the agent. */
  financial(s: Scenario, agreed: string | null): number;
  /** The expert's rapport-building acts before proposing (uses the hidden persona). */
  warmup(s: Scenario): Act[];
}

export function initialPartnerState(s: Scenario): PartnerState {
  return {
    rapport: s.persona.initialRapport,
    persuaded: 0,
    acknowledged: false,
    revealed: false,
    greeted: false,
    compliments: 0,
    thanked: false,
    used: new Set(),
    asked: new Set(),
    partnerPending: s.opening.act?.verb === 'propose' ? (s.opening.act.arg ?? null) : null,
    agentPending: null,
    agreed: null,
    flags: {},
  };
}

const NAMES = ['Alex', 'Sam', 'Jordan', 'Taylor', 'Morgan', 'Riley', 'Casey', 'Jamie', 'Robin', 'Quinn'];

export function makePersona(
  rng: Rng,
  vocabulary: ActionVocabulary,
  answers: Record<string, string>,
): Persona {
  return {
    name: rng.pick(NAMES),
    initialRapport: rng.pick([-1, -0.5, 0, 0.5, 1]),
    patience: 8 + rng.int(4),
    persuasiveReasons: rng.shuffle(vocabulary.explain).slice(0, 1 + rng.int(2)),
    wantedOffers: rng.shuffle(vocabulary.offer).slice(0, 1),
    answers,
  };
}
