import { ArtifactStore } from './src/storage/store.js';
const store = ArtifactStore.fromEnv();
for (const id of ['experiments-sokoban-2boxes-sft3k-m7-ms25-base', 'experiments-sokoban-2boxes-24-sft3k-base']) {
  const m = await store.getJson<Record<string, number>>(`experiments/${id}/iterations/000000/metrics.json`);
  console.log(id, m['eval/success_rate'], m['eval/episode_length']);
}
