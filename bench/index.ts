/**
 * `npm run bench [-- <suite...>]`: runs the named benchmark suites (default: all) one after another in this
 * process and prints one table of figures and ratios measured side by side in the same run.
 */

type Suite = () => Promise<Record<string, number | string>>;

const SUITES: Record<string, () => Promise<Suite>> = {
  storage: async () => (await import('./storage')).benchStorage,
  model: async () => (await import('./model')).benchModel,
  envs: async () => (await import('./envs')).benchEnvs,
  pipeline: async () => () => import('./pipeline').then((m) => m.benchPipeline()),
  'pipeline-default': async () => (await import('./pipeline')).benchPipelineDefault,
};

async function run(): Promise<void> {
  const requested = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = requested.length > 0 ? requested : Object.keys(SUITES);
  const unknown = names.filter((n) => !(n in SUITES));
  if (unknown.length > 0) {
    throw new Error(
      `unknown benchmark suite(s) ${unknown.join(', ')}; valid: ${Object.keys(SUITES).join(', ')}`,
    );
  }
  const rows: Record<string, number | string> = {};
  for (const name of names) {
    console.error(`bench: running ${name} ...`);
    Object.assign(rows, await (await SUITES[name]())());
  }
  console.table(rows);
  if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
