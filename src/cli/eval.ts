import type { Command } from 'commander';
import { parseRunConfig } from '../config/run-config';
import { initBackend, modelFromCheckpoint } from '../model';
import { evaluatePolicy, runSetup } from '../pipeline';
import { checkpointPrefix, configKey } from '../storage/keys';
import { ArtifactStore } from '../storage/store';

/** `istar eval <experiment> <iteration>`: held-out evaluation of a stored policy checkpoint, in this process. */
export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description('evaluate a stored policy checkpoint on held-out levels')
    .argument('<experiment>')
    .argument('<iteration>')
    .option('--episodes <n>', 'held-out episodes', Number)
    .option('--temperature <x>', "sampling temperature (default: the run's evalTemperature)", Number)
    .option('--json', 'machine-readable output')
    .action(
      async (
        experiment: string,
        iteration: string,
        opts: { episodes?: number; temperature?: number; json?: boolean },
      ) => {
        if (!/^\d+$/.test(iteration))
          throw new Error(`iteration must be a non-negative integer, got "${iteration}"`);
        const store = ArtifactStore.fromEnv();
        const stored = await store.getJson(configKey(experiment));
        const config = parseRunConfig({
          ...(stored as object),
          ...(opts.episodes !== undefined ? { evalEpisodes: opts.episodes } : {}),
          ...(opts.temperature !== undefined ? { evalTemperature: opts.temperature } : {}),
        });
        await initBackend();
        const setup = runSetup(config);
        const policy = modelFromCheckpoint(
          await store.getCheckpoint(checkpointPrefix(experiment, 'policy', Number(iteration))),
          setup.modelConfig,
        );
        const { summary } = await evaluatePolicy(setup, policy, Number(iteration));
        policy.dispose();
        if (opts.json)
          return console.log(JSON.stringify({ experiment, iteration: Number(iteration), ...summary }));
        console.log(
          `${experiment} policy ${iteration} on ${summary.episodes} held-out ${config.env} levels: success ${summary.successRate.toFixed(3)}, ` +
            `score ${summary.meanScore.toFixed(3)}, return ${summary.meanReturn.toFixed(3)}, length ${summary.meanLength.toFixed(1)}, invalid ${summary.invalidActionRate.toFixed(3)}`,
        );
      },
    );
}
