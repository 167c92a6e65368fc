/**
 * Optional OpenAI-compatible chat client for an LLM partner or judge (POST {baseUrl}/chat/completions).
 * Configured by ISTAR_LLM_BASE_URL, ISTAR_LLM_MODEL and ISTAR_LLM_API_KEY. Env.step is synchronous,
 * so the sync variant runs the request in a child Node process and waits for it.
 */
import { spawnSync } from 'node:child_process';

export interface LlmConfig {
  /** e.g. http://127.0.0.1:8000/v1 */
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Request timeout. */
  timeoutMs?: number;
  temperature?: number;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** The config from ISTAR_LLM_* variables, or null when no base URL is set. */
export function llmConfigFromEnv(env: Record<string, string | undefined> = process.env): LlmConfig | null {
  const baseUrl = env.ISTAR_LLM_BASE_URL;
  if (!baseUrl) return null;
  return {
    baseUrl,
    model: env.ISTAR_LLM_MODEL ?? 'gpt-4o-mini',
    apiKey: env.ISTAR_LLM_API_KEY,
    timeoutMs: 60_000,
  };
}

function requestParts(
  config: LlmConfig,
  messages: ChatMessage[],
): { url: string; init: { method: string; headers: Record<string, string>; body: string } } {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (config.apiKey) headers.authorization = `Bearer ${config.apiKey}`;
  return {
    url: `${config.baseUrl.replace(/\/+$/, '')}/chat/completions`,
    init: {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: config.model, messages, temperature: config.temperature ?? 0.7 }),
    },
  };
}

function contentOf(json: unknown): string {
  const content = (json as { choices?: Array<{ message?: { content?: unknown } }> })?.choices?.[0]?.message
    ?.content;
  if (typeof content !== 'string') throw new Error('LLM response has no choices[0].message.content');
  return content;
}

/** One chat completion; resolves to the assistant message text. */
export async function chatCompletion(config: LlmConfig, messages: ChatMessage[]): Promise<string> {
  const { url, init } = requestParts(config, messages);
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(config.timeoutMs ?? 60_000) });
  if (!res.ok)
    throw new Error(`LLM endpoint ${url} answered HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return contentOf(await res.json());
}

const CHILD = `
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', async () => {
  try {
    const { url, init, timeoutMs } = JSON.parse(input);
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    process.stdout.write(JSON.stringify({ status: res.status, text }));
  } catch (err) {
    process.stdout.write(JSON.stringify({ error: String(err) }));
  }
});`;

/** Synchronous chat completion (blocks the caller's thread; the server must run elsewhere). */
export function chatCompletionSync(config: LlmConfig, messages: ChatMessage[]): string {
  const { url, init } = requestParts(config, messages);
  const timeoutMs = config.timeoutMs ?? 60_000;
  const out = spawnSync(process.execPath, ['-e', CHILD], {
    input: JSON.stringify({ url, init, timeoutMs }),
    encoding: 'utf8',
    timeout: timeoutMs + 5_000,
  });
  if (out.error) throw out.error;
  const parsed = JSON.parse(out.stdout || '{}') as { status?: number; text?: string; error?: string };
  if (parsed.error) throw new Error(`LLM request to ${url} failed: ${parsed.error}`);
  if (parsed.status === undefined || parsed.status >= 400)
    throw new Error(
      `LLM endpoint ${url} answered HTTP ${parsed.status}: ${(parsed.text ?? '').slice(0, 200)}`,
    );
  return contentOf(JSON.parse(parsed.text ?? ''));
}
