/**
 * Steps per second of each registered env under a uniformly random admissible-action policy
 * (plus reset cost), single-threaded. Run: `npx tsx bench/envs.ts` (or `npm run bench -- envs`).
 */
import { pathToFileURL } from 'node:url';
import { createRng } from '../src/envs/prng';
import { envRegistry } from '../src/envs/registry';

export async function benchEnvs(
  options: { seconds?: number } = {},
): Promise<Record<string, number | string>> {
  const seconds = options.seconds ?? 1;
  const out: Record<string, number | string> = {};
  for (const name of envRegistry.names()) {
    const spec = envRegistry.get(name);
    const rng = createRng(1);
    const t0 = performance.now();
    const env = spec.create();
    env.reset(spec.trainSeeds.start); // creation + first reset pay one-time setup (WebShop catalog and index)
    out[`${name}/setup_ms`] = Math.round(performance.now() - t0);
    let steps = 0;
    let episodes = 0;
    let wins = 0;
    const start = performance.now();
    while (performance.now() - start < seconds * 1000) {
      env.reset(spec.trainSeeds.start + rng.int(spec.trainSeeds.end - spec.trainSeeds.start));
      episodes++;
      for (;;) {
        const actions = env.admissibleActions();
        const r = env.step(rng.pick(actions));
        if (env.image) env.image();
        steps++;
        if (r.done) {
          if (r.info.won) wins++;
          break;
        }
      }
    }
    const elapsed = (performance.now() - start) / 1000;
    out[`${name}/steps_per_s`] = Math.round(steps / elapsed);
    out[`${name}/episodes_per_s`] = Math.round(episodes / elapsed);
    out[`${name}/random_success`] = Math.round((1000 * wins) / episodes) / 1000;
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchEnvs({ seconds: Number(process.env.BENCH_SECONDS ?? 2) })
    .then((r) => console.table(r))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
