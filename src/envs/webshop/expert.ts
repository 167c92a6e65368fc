/**
 * WebShop's demonstration expert: a function of the instruction and the page the agent sees, nothing
 * else, so a policy can learn to do what it does (the oracle in env.ts picks products by their hidden
 * attributes, which imitation cannot learn; docs/results.md finding 13).
 */

const INSTRUCTION =
  /(?:i'm looking for|i need|i want to buy|find me) (.+?) that is (.+), with (.+), and price lower than ([\d.]+) dollars\s*$/;
const RESULT_ROW = /^\[([^\]]+)\] (.*) \| \$([\d.]+)$/;

export interface ParsedInstruction {
  noun: string;
  attributes: string[];
  /** [option type, wanted value]. */
  options: [string, string][];
  priceLimit: number;
}

/** The goal as the instruction states it; null when the text is not a WebShop instruction. */
export function parseInstruction(instruction: string): ParsedInstruction | null {
  const m = INSTRUCTION.exec(instruction);
  if (!m) return null;
  const options = m[3]
    .split(' and ')
    .map((o) => o.split(': '))
    .filter((o): o is [string, string] => o.length === 2);
  return { noun: m[1], attributes: m[2].split(' and '), options, priceLimit: Number(m[4]) };
}

/**
 * Search for the attributes and the product type; on a results page open the row whose title names the
 * product type and most of the attributes at a price under the limit (the first such row on ties); on the
 * item page choose the wanted options that are offered, then buy; leave a sub-page. About 3/4 of held-out
 * goals end with a perfect purchase (test/envs/webshop.test.ts), the rest with a partial one.
 */
export function visibleExpertAction(instruction: string, observation: string): string {
  const goal = parseInstruction(instruction);
  if (!goal) return 'click[back to search]';
  if (observation.startsWith('WebShop search page'))
    return `search[${goal.attributes.join(' ')} ${goal.noun}]`;
  const lines = observation.split('\n');
  const rows = lines.flatMap((l) => {
    const m = RESULT_ROW.exec(l);
    return m ? [{ id: m[1], title: m[2].toLowerCase(), price: Number(m[3]) }] : [];
  });
  if (rows.length > 0) {
    const score = (r: (typeof rows)[number]) =>
      (r.title.includes(goal.noun) ? 4 : 0) +
      goal.attributes.filter((a) => r.title.includes(a)).length +
      (r.price <= goal.priceLimit ? 2 : 0);
    const best = rows.reduce((b, r) => (score(r) > score(b) ? r : b));
    return `click[${best.id}]`;
  }
  if (lines.some((l) => /^Page \d+ \(Total results: /.test(l))) return 'click[back to search]'; // no results
  if (lines.some((l) => l.includes('[Buy Now]'))) {
    for (const [type, value] of goal.options) {
      const line = lines.find((l) => l.startsWith(`${type}: `));
      if (line?.includes(`[${value}]`) && !line.includes(`(selected: ${value})`)) return `click[${value}]`;
    }
    return 'click[buy now]';
  }
  return 'click[< prev]';
}
