import { cachedBase } from '../bench/learn-probe';
import { parseRunConfig } from '../src/config/run-config';
import { initBackend, buildActionBatch } from '../src/model';
import { runSetup } from '../src/pipeline';
import { demonstrationPairs } from '../src/agent/setup';
import { mixSeed } from '../src/pipeline/setup';
await initBackend('wasm');
const input = JSON.parse(process.argv[2]);
const config = parseRunConfig(input);
const setup = runSetup(config);
const policy = await cachedBase(input);
const demos = demonstrationPairs(setup.spec, setup.tokenizer, {
  episodes: config.sft.episodes, randomActionFraction: config.sft.randomActionFraction, labels: config.sft.labels,
  seed: mixSeed(config.seed, 101), historyLength: config.historyLength, instruction: config.promptInstruction,
  maxContextTokens: config.model.contextLength! - setup.maxActionTokens, maxActionTokens: setup.maxActionTokens,
});
const items = demos.heldOut.slice(0, 200);
const tk = setup.tokenizer;
const byKind = new Map<string, [number, number]>();
const examples: string[] = [];
for (let i = 0; i < items.length; i += 16) {
  const chunk = items.slice(i, i + 16);
  const pred = policy.greedyPredictions(buildActionBatch(chunk));
  chunk.forEach((it, b) => {
    const want = tk.decode(it.action);
    const got = tk.decode(pred[b]);
    const kind = want.startsWith('search') ? 'search' : want.startsWith('click[B') ? 'click-id' : want.replace(/\[.*$/, '') + (want.includes('[') ? '[' + (want.match(/\[(.*)\]/)?.[1] ?? '').split(' ')[0] : '');
    const k = want.startsWith('search') ? 'search' : /click\[B\d/.test(want) ? 'result' : /buy/i.test(want) ? 'buy' : /back|prev|next/i.test(want) ? 'nav' : 'option';
    const c = byKind.get(k) ?? [0, 0];
    c[1]++;
    if (pred[b].every((t, j) => t === it.action[j])) c[0]++;
    byKind.set(k, c);
    if (examples.length < 14 && (k === 'search' || k === 'result')) examples.push(`${k}: want ${JSON.stringify(want)} got ${JSON.stringify(got)}`);
  });
}
console.log([...byKind].map(([k, [a, n]]) => `${k} ${a}/${n}`).join(', '));
console.log(examples.join('\n'));
