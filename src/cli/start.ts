import { upStack } from '../../infra/stack';
import type { RunConfigInput } from '../config/run-config';
import { SMALL_SOKOBAN } from '../experiments/suites';
import { buildProgram, startRun } from './commands';
import { runEntryPoint, withLocalWorker } from './local-worker';
import { addRunFlags, runConfigFromFlags, startConfigFromEnv } from './run-flags';

/**
 * `npm start`: bring up the local stack if needed, start a local worker, train iStar on Sokoban with the
 * quick-start settings below (sized to show learning on a 2-core machine in about 15 minutes), follow it,
 * and print the final held-out success and where the checkpoints and UI are. Killed and run again, it
 * attaches to the still-running workflow (same workflow id). Flags of `istar train` override the settings;
 * ISTAR_START_CONFIG (JSON) too.
 */
export const QUICKSTART: RunConfigInput = {
  // The suites' small Sokoban setting: a 122k-parameter policy with line/column positions that reads the
  // board-only prompt, from an SFT base of 300 expert-labelled episodes (docs/results.md, finding 11),
  // per-trajectory weighting. RL in the regime where its updates carry signal (findings 18, 20): 32 levels x
  // 8 rollouts per iteration, one optimizer step per 256 steps at lr 1e-4, no entropy bonus, a KL anchor to
  // the base (k3, coefficient 1). The PRM learns from every pair of a group's episodes ranked by return
  // (shorter successes over longer ones), with the trajectory log-ratio averaged over steps so that it cannot
  // win by lowering every log-prob of the longer episode (finding 21; with the paper's sum it drifts at lr
  // 1e-4, finding 20). Held-out evaluation on 1,024 levels so that a gain of 0.05 is about 2.4 standard errors.
  ...SMALL_SOKOBAN,
  algorithm: 'istar',
  groups: 32,
  groupSize: 8,
  policyLr: 1e-4,
  prmLr: 1e-4,
  prmLogRatio: 'mean',
  preferences: 'return',
  miniBatchSteps: 256,
  entropyCoef: 0,
  klCoef: 1,
  iterations: 12,
  evalEvery: 6,
  evalEpisodes: 1024,
};

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
