import { ArtifactStore } from './src/storage/store.js';
import { evaluationLevels } from './src/report/load.js';
import { generateRoom } from './src/envs/sokoban/generate';
import { solve } from './src/envs/sokoban/solver';
const store = ArtifactStore.fromEnv();
const [sweep, base, seed] = process.argv.slice(2);
const s = seed ?? '0';
const ids = { base, rloo: `${sweep}-rloo-s${s}`, istar: `${sweep}-rloopistar-s${s}` };
const len = new Map<number, number>();
const bucket = (n: number) => (n < 0 ? '>25' : n <= 6 ? '2-6' : n <= 9 ? '7-9' : n <= 12 ? '10-12' : n <= 15 ? '13-15' : '16+');
for (const it of [0, 6, 12, 18, 24]) {
  const row: string[] = [`it ${it}`];
  const per: Record<string, Map<string, [number, number]>> = {};
  let outcomes: Record<string, boolean[]> = {};
  for (const [name, id] of Object.entries(ids)) {
    if (name === 'base' && it !== 0) continue;
    if (name !== 'base' && it === 0) continue;
    try {
      const levels = await evaluationLevels(store, id, it);
      const m = new Map<string, [number, number]>();
      for (const l of levels) {
        if (!len.has(l.seed!)) len.set(l.seed!, solve(generateRoom(l.seed!, { numBoxes: 2 }), 25)?.length ?? -1);
        const b = bucket(len.get(l.seed!)!);
        const c = m.get(b) ?? [0, 0];
        c[0] += l.success ? 1 : 0; c[1]++;
        m.set(b, c);
      }
      per[name] = m;
      outcomes[name] = levels.map((l) => l.success);
      row.push(`${name} ${(levels.filter((l) => l.success).length / levels.length).toFixed(3)}`);
    } catch { row.push(`${name} -`); }
  }
  if (outcomes.rloo && outcomes.istar) {
    let g = 0, l = 0;
    outcomes.rloo.forEach((r, i) => { if (outcomes.istar[i] && !r) g++; if (!outcomes.istar[i] && r) l++; });
    row.push(`gained/lost ${g}/${l} z ${((g - l) / Math.sqrt(g + l)).toFixed(1)}`);
  }
  console.log(row.join('  '));
  for (const [name, m] of Object.entries(per))
    console.log('   ', name, ['2-6', '7-9', '10-12', '13-15', '16+', '>25'].map((b) => { const c = m.get(b); return c ? `${b}:${(c[0] / c[1]).toFixed(2)}(${c[1]})` : ''; }).join(' '));
}
