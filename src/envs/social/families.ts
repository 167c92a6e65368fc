/**
 * Five SOTOPIA-like scenario families, each parameterised by a seeded Rng: negotiation, asking a
 * favour, resolving a conflict, persuading to donate, and scheduling. The partner's private goal is
 * a threshold the agent cannot see; rapport and persuasion (reasons and offers the persona cares
 * about) move it.
 */
import type { Rng } from '../prng';
import type { Act } from './actions';
import { makePersona, type PartnerState, type Scenario, type ScenarioFamily } from './scenario';

const round1 = (x: number): number => Math.round(x * 10) / 10;
const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));
const goodMood = (ps: PartnerState): number => (ps.rapport >= 2 ? 1 : 0);
const warm = (s: Scenario, first: Act[]): Act[] => [
  ...first,
  { verb: 'explain', arg: s.persona.persuasiveReasons[0] },
  { verb: 'offer', arg: s.persona.wantedOffers[0] },
];

const negotiation: ScenarioFamily = {
  name: 'negotiation',
  make(rng: Rng): Scenario {
    const item = rng.pick(['used bike', 'acoustic guitar', 'sofa', 'laptop', 'camera', 'standing desk']);
    const list = rng.pick([100, 150, 200, 300, 400, 600]);
    const grid = Array.from({ length: 11 }, (_, k) => String(Math.round(list * (0.5 + 0.05 * k))));
    const target = 3 + rng.int(4);
    const reservation = Math.min(10, 1 + rng.int(target + 1));
    const vocabulary = {
      ask: ['lowest price', 'condition', 'why selling'],
      explain: ['tight budget', 'cash today', 'seen it cheaper'],
      offer: ['pay cash', 'pick up today'],
      propose: grid,
    };
    const persona = makePersona(rng, vocabulary, {
      'lowest price': `I really can't go much below $${grid[Math.min(10, reservation + 1)]}.`,
      condition: 'It is in good condition, barely used.',
      'why selling': 'I am moving abroad next month.',
    });
    return {
      family: 'negotiation',
      agentRole: 'buyer',
      partnerRole: 'seller',
      background: `${persona.name} is selling a ${item} listed at $${list}. You want to buy it.`,
      agentGoal: `Buy the ${item} for at most $${grid[target]} (lower is better).`,
      partnerGoal: `Sell the ${item} for at least $${grid[reservation]}.`,
      secret: `Your real budget is $${grid[target]}.`,
      vocabulary,
      persona,
      opening: { text: `Hi, the ${item} is $${list}. Interested?`, act: { verb: 'propose', arg: grid[10] } },
      params: { list, target, reservation, concession: 1 + rng.int(2) },
      sets: { grid },
    };
  },
  accepts: (s, ps, value) => s.sets.grid.indexOf(value) >= sellerFloor(s, ps),
  counter(s, ps) {
    const ask = ps.flags.ask ?? 10;
    const next = Math.max(sellerFloor(s, ps), ask - s.params.concession);
    ps.flags.ask = next;
    return s.sets.grid[next];
  },
  goal(s, agreed) {
    if (agreed === null) return 0;
    const i = s.sets.grid.indexOf(agreed);
    return i <= s.params.target ? 10 : round1((10 * (10 - i)) / (10 - s.params.target));
  },
  financial: (s, agreed) => (agreed === null ? 0 : round1(5 - s.sets.grid.indexOf(agreed))),
  warmup: (s) => warm(s, [{ verb: 'greet' }]),
};

/** Lowest grid index the seller accepts: the reservation, higher when rapport is poor or the budget is known. */
function sellerFloor(s: Scenario, ps: PartnerState): number {
  let floor = s.params.reservation + Math.max(0, 2 - Math.floor(ps.rapport) - ps.persuaded);
  if (ps.revealed) floor = Math.max(floor, s.params.target);
  return clamp(floor, 0, 10);
}

const FAVOURS = [
  { task: 'help you move', values: ['help all day saturday', 'help for two hours', 'lend you moving boxes'] },
  {
    task: 'lend you their car',
    values: ['lend the car for the weekend', 'lend the car for an afternoon', 'drive you to the station'],
  },
  {
    task: 'cover your shift',
    values: ['cover the whole shift', 'cover half the shift', 'ask someone else for you'],
  },
  {
    task: 'proofread your thesis',
    values: ['proofread the whole thesis', 'proofread one chapter', 'give quick feedback'],
  },
  {
    task: 'watch your dog',
    values: ['watch the dog all weekend', 'watch the dog one night', 'share a sitter contact'],
  },
];
const FAVOUR_GOALS = [10, 6, 3];

const favour: ScenarioFamily = {
  name: 'favour',
  make(rng) {
    const f = rng.pick(FAVOURS);
    const relation = rng.pick(['friend', 'coworker', 'neighbour', 'cousin']);
    const vocabulary = {
      ask: ['your weekend', 'what you need'],
      explain: ['no one else can help', 'it is urgent', 'i would do the same for you'],
      offer: ['buy you dinner', 'return the favour', 'pay for gas'],
      propose: f.values,
    };
    const busy = rng.int(2);
    const persona = makePersona(rng, vocabulary, {
      'your weekend': busy ? 'My weekend is pretty packed, honestly.' : 'My weekend is fairly free.',
      'what you need': 'I could use some help with my garden at some point.',
    });
    return {
      family: 'favour',
      agentRole: 'asker',
      partnerRole: relation,
      background: `You need your ${relation} ${persona.name} to ${f.task}.`,
      agentGoal: `Get ${persona.name} to agree to: ${f.values[0]} (smaller help is worth less).`,
      partnerGoal: `Keep your weekend free unless there is a good reason or something in return.`,
      secret: 'You forgot to ask anyone earlier.',
      vocabulary,
      persona,
      opening: { text: `Hey! What's up?` },
      params: { busy },
      sets: { values: f.values },
    };
  },
  accepts: (s, ps, value) =>
    favourWillingness(ps) >= [3, 1.5, 0][s.sets.values.indexOf(value)] + s.params.busy,
  counter: (s, ps) => s.sets.values.find((v) => favour.accepts(s, ps, v)) ?? null,
  goal: (s, agreed) => (agreed === null ? 0 : FAVOUR_GOALS[s.sets.values.indexOf(agreed)]),
  financial: () => 0,
  warmup: (s) => warm(s, [{ verb: 'greet' }]),
};

const favourWillingness = (ps: PartnerState): number => ps.rapport + 1.5 * ps.persuaded;

const CONFLICT_GOALS = [10, 8, 5, 2];

const conflict: ScenarioFamily = {
  name: 'conflict',
  make(rng) {
    const issue = rng.pick([
      'loud music at night',
      'a barking dog at night',
      'late night parties',
      'a noisy washing machine at night',
    ]);
    const values = ['quiet after 9 pm', 'quiet after 10 pm', 'quiet after 11 pm', 'quiet after midnight'];
    const vocabulary = {
      ask: ['how you feel', 'your schedule'],
      explain: ['i work early', 'my kid cannot sleep', 'the walls are thin'],
      offer: ['help soundproof', 'give you a heads up'],
      propose: values,
    };
    const minimum = 1 + rng.int(3);
    const persona = makePersona(rng, vocabulary, {
      'how you feel': 'Honestly, I felt attacked by the notes on my door.',
      'your schedule': `I get home late, so evenings are my only free time.`,
    });
    return {
      family: 'conflict',
      agentRole: 'neighbour',
      partnerRole: 'neighbour',
      background: `Your neighbour ${persona.name} has ${issue}, and you left angry notes on their door.`,
      agentGoal: 'Agree on quiet hours as early as possible (9 pm is best).',
      partnerGoal: `Keep evenings free until ${values[minimum].replace('quiet after ', '')}, and get an acknowledgement first.`,
      secret: 'You recorded the noise on your phone.',
      vocabulary,
      persona,
      opening: { text: `Oh. It's you. Is this about the notes?` },
      params: { minimum },
      sets: { values },
    };
  },
  accepts: (s, ps, value) => ps.acknowledged && s.sets.values.indexOf(value) >= conflictMinimum(s, ps),
  counter: (s, ps) => (ps.acknowledged ? s.sets.values[conflictMinimum(s, ps)] : null),
  goal: (s, agreed) => (agreed === null ? 0 : CONFLICT_GOALS[s.sets.values.indexOf(agreed)]),
  financial: () => 0,
  warmup: (s) => [
    { verb: 'greet' },
    { verb: 'apologize' },
    { verb: 'explain', arg: s.persona.persuasiveReasons[0] },
    { verb: 'offer', arg: s.persona.wantedOffers[0] },
  ],
};

const conflictMinimum = (s: Scenario, ps: PartnerState): number =>
  Math.max(0, s.params.minimum - goodMood(ps) - Math.min(1, ps.persuaded));

const donation: ScenarioFamily = {
  name: 'donation',
  make(rng) {
    const cause = rng.pick([
      "the children's hospital",
      'the animal shelter',
      'clean oceans',
      'the local food bank',
    ]);
    const amounts = ['5', '10', '20', '50', '100'];
    const target = 2 + rng.int(2);
    const vocabulary = {
      ask: ['what you care about', 'your budget'],
      explain: ['it saves lives', 'every dollar is matched', 'it helps our town', 'it is tax deductible'],
      offer: ['a thank you card', 'a tour of our work', 'a newsletter'],
      propose: amounts,
    };
    const base = rng.int(2);
    const persona = makePersona(rng, vocabulary, {
      'what you care about': 'I care about my community, mostly.',
      'your budget': base ? 'Money is okay this month.' : 'Money is tight this month.',
    });
    return {
      family: 'donation',
      agentRole: 'fundraiser',
      partnerRole: 'passer-by',
      background: `You are raising money for ${cause} and talk to ${persona.name}.`,
      agentGoal: `Get a donation of $${amounts[target]} or more (less counts proportionally).`,
      partnerGoal: 'Give only what feels worth it.',
      secret: 'You are paid per donation.',
      vocabulary,
      persona,
      opening: { text: `Hi, um, I only have a minute.` },
      params: { target, base },
      sets: { amounts },
    };
  },
  accepts: (s, ps, value) => s.sets.amounts.indexOf(value) <= donationWillingness(s, ps),
  counter: (s, ps) => {
    const w = donationWillingness(s, ps);
    return w >= 0 ? s.sets.amounts[Math.min(4, w)] : null;
  },
  goal: (s, agreed) =>
    agreed === null ? 0 : round1(10 * Math.min(1, Number(agreed) / Number(s.sets.amounts[s.params.target]))),
  financial: () => 0,
  warmup: (s) => warm(s, [{ verb: 'greet' }]),
};

const donationWillingness = (s: Scenario, ps: PartnerState): number =>
  s.params.base + ps.persuaded + goodMood(ps) - (ps.rapport < 0 ? 1 : 0);

const SLOTS = [
  'mon 9 am',
  'mon 2 pm',
  'tue 9 am',
  'tue 2 pm',
  'wed 9 am',
  'wed 2 pm',
  'thu 9 am',
  'thu 2 pm',
];

const scheduling: ScenarioFamily = {
  name: 'scheduling',
  make(rng) {
    const order = rng.shuffle(SLOTS);
    const free = order.slice(0, 3);
    const preferred = [free[1 + rng.int(2)], order[3 + rng.int(5)]];
    const vocabulary = {
      ask: ['your availability', 'the agenda'],
      explain: ['the deadline is close', 'the team needs it'],
      offer: ['bring coffee', 'keep it short'],
      propose: SLOTS,
    };
    const persona = makePersona(rng, vocabulary, {
      'your availability': `I'm free ${free.join(', ')}.`,
      'the agenda': 'I would like to cover the budget first.',
    });
    return {
      family: 'scheduling',
      agentRole: 'project lead',
      partnerRole: 'colleague',
      background: `You need a one-hour meeting with ${persona.name} this week.`,
      agentGoal: `Agree on a meeting slot; you prefer ${preferred.join(' or ')}.`,
      partnerGoal: `Meet only when free (${free.join(', ')}), ideally ${free[0]}.`,
      secret: 'You have not prepared the slides yet.',
      vocabulary,
      persona,
      opening: { text: `Hi! You wanted to meet?` },
      params: {},
      sets: { free, preferred },
    };
  },
  accepts: (s, _ps, value) => s.sets.free.includes(value),
  counter: (s) => s.sets.free[0],
  goal: (s, agreed) => (agreed === null ? 0 : s.sets.preferred.includes(agreed) ? 10 : 5),
  financial: () => 0,
  warmup: () => [{ verb: 'greet' }, { verb: 'ask', arg: 'your availability' }],
};

export const SCENARIO_FAMILIES: ScenarioFamily[] = [negotiation, favour, conflict, donation, scheduling];

export function getFamily(name: string): ScenarioFamily {
  const f = SCENARIO_FAMILIES.find((x) => x.name === name);
  if (!f)
    throw new Error(
      `Unknown social scenario family "${name}". Valid: ${SCENARIO_FAMILIES.map((x) => x.name).join(', ')}.`,
    );
  return f;
}
