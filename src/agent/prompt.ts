import type { Tokenizer } from '../model';

/**
 * How an agent's context c_t is written (DESIGN.md section 3): the task instruction, the last H
 * observations and actions, then the current observation, as an LLM agent's prompt would be. One place
 * for it, so that SFT, rollouts, PRM scoring and evaluation see identical contexts.
 */

export interface Turn {
  /** '' for a turn kept as its action alone (historyObservations false). */
  observation: string;
  action: string;
}

export interface ContextParts {
  instruction: string;
  /** Earlier turns, oldest first; only the last `historyLength` are kept. */
  history: readonly Turn[];
  observation: string;
}

/** Words of the prompt template, so that the tokenizer has them as single tokens. */
export const PROMPT_WORDS = ['Task:', 'Observation:', 'Action:', 'Previous'];

export function contextText(parts: ContextParts, historyLength: number): string {
  // An empty instruction leaves the Task line out (small models trained from scratch gain nothing from it).
  const lines = parts.instruction ? [`Task: ${parts.instruction}`] : [];
  const recent = historyLength > 0 ? parts.history.slice(-historyLength) : [];
  for (const turn of recent) {
    // A turn recorded without its observation (historyObservations false) shows the action alone.
    if (turn.observation !== '') lines.push(`Previous observation:\n${turn.observation}`);
    lines.push(`Previous action: ${turn.action}`);
  }
  lines.push(`Observation:\n${parts.observation}`, 'Action:');
  return lines.join('\n');
}

/**
 * Token ids of the context: <bos> then the text. When it does not fit in `maxTokens`, the oldest history
 * turns are dropped first; if even the context without history is too long, the middle is cut: the Task
 * line stays (it carries the goal: WebShop's product, Social's target) when it takes at most half the
 * budget, then as much of the end as fits (the current observation's end and `Action:`).
 */
export function encodeContext(
  tokenizer: Tokenizer,
  parts: ContextParts,
  historyLength: number,
  maxTokens: number,
): number[] {
  for (let h = Math.min(historyLength, parts.history.length); h >= 0; h--) {
    const ids = tokenizer.encode(contextText(parts, h), { bos: true });
    if (ids.length <= maxTokens) return ids;
    if (h === 0) {
      const task = parts.instruction ? tokenizer.encode(`Task: ${parts.instruction}\n`) : [];
      const keepTask = task.length <= (maxTokens - 1) / 2 && task.every((id, k) => ids[1 + k] === id);
      const head = keepTask ? [ids[0], ...task] : [ids[0]];
      return [...head, ...ids.slice(ids.length - (maxTokens - head.length))];
    }
  }
  throw new Error('unreachable');
}

/** Token ids of an action: its text then <eos>. */
export function encodeAction(tokenizer: Tokenizer, action: string): number[] {
  return tokenizer.encode(action, { eos: true });
}

/** Action text of generated tokens (the <eos> and anything after it dropped). */
export function decodeAction(tokenizer: Tokenizer, tokens: readonly number[]): string {
  const eos = tokenizer.id('<eos>');
  const end = tokens.indexOf(eos ?? -1);
  return tokenizer.decode(end >= 0 ? tokens.slice(0, end) : tokens).trim();
}
