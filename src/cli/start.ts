import { upStack } from '../../infra/stack';
import { QUICKSTART } from '../experiments/suites';
import { buildProgram, startRun } from './commands';
import { runEntryPoint, withLocalWorker } from './local-worker';
import { addRunFlags, runConfigFromFlags, startConfigFromEnv } from './run-flags';

/**
 * `npm start`: bring up the local stack if needed, start a local worker, train iStar on Sokoban with the
 * quick-start settings (QUICKSTART in src/experiments/suites.ts, sized to show learning on a 2-core machine
 * in about 15 minutes), follow it, and print the final held-out success and where the checkpoints and UI
 * are. Killed and run again, it attaches to the still-running workflow (same workflow id). Flags of
 * `istar train` override the settings; ISTAR_START_CONFIG (JSON) too.
 */
async function run(): Promise<void> {
  const cmd = addRunFlags(buildProgram().createCommand('npm start'))
    .option('--id <workflowId>', 'workflow id to start or attach to', 'istar-start')
    .option('--json', 'machine-readable output')
    .option('-q, --quiet', 'only the final line')
    .option('-v, --verbose', 'every metric')
    .exitOverride();
  cmd.parse(process.argv.slice(2), { from: 'user' });
  const opts = cmd.opts();
  const env = startConfigFromEnv(process.env.ISTAR_START_CONFIG);
  const { input } = runConfigFromFlags(opts, { ...QUICKSTART, ...env });

  const quiet = opts.quiet || opts.json;
  const stack = await upStack({ log: (l) => !quiet && console.log(l) });
  await withLocalWorker(
    stack,
    {
      interruptedHint:
        'stopping the local worker; the run keeps its state on the Temporal server. Run `npm start` again to attach to it.',
      quiet,
    },
    () => startRun(input, { workflowId: opts.id, json: opts.json, quiet: opts.quiet, verbose: opts.verbose }),
  );
}

runEntryPoint('npm start', run);
