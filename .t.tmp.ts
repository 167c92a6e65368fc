import { ArtifactStore } from './src/storage/store.js';
const store = ArtifactStore.fromEnv();
for (const run of ['rloo-s0', 'rloopistar-s0']) {
  const id = `experiments-sokoban-2boxes-sft3k-m7-ms25-${run}`;
  for (const it of await store.listIterations(id)) {
    try {
      const m = await store.getJson<Record<string, number>>(`experiments/${id}/iterations/${String(it).padStart(6, '0')}/metrics.json`);
      console.log(run, it, Object.entries(m).filter(([k]) => /time|second|length|success|eval/.test(k)).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toFixed(3) : v}`).join(' '));
    } catch (e) { console.log(run, it, 'no metrics'); }
  }
}
