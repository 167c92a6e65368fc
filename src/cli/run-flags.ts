import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { parseRunConfig, type RunConfig, type RunConfigInput } from '../config/run-config';

/** Flags of `istar train` / `resume-from` / `npm start`, each a field of the run config. */
export function addRunFlags(cmd: Command): Command {
  const int = (name: string) => (v: string) => {
    if (!/^-?\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be an integer, got "${v}"`);
    return Number(v);
  };
  const num = (name: string) => (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(`${name} must be a number, got "${v}"`);
    return n;
  };
  return cmd
    .option(
      '-c, --config <json|file>',
      'run config as JSON text or a path to a JSON file (flags override it)',
    )
    .option('--env <name>', 'environment: sokoban, sokoban-visual, webshop, social')
    .option('--algorithm <name>', 'istar, rloo, grpo, reinforce++, gigpo, prime, ppo')
    .option('--experiment <id>', 'experiment id (storage prefix); default: the workflow id')
    .option('--iterations <n>', 'RL iterations', int('--iterations'))
    .option('--groups <n>', 'groups (levels) per iteration', int('--groups'))
    .option('--group-size <n>', 'rollouts per group', int('--group-size'))
    .option('--alpha <x>', 'weight of the step advantage (eq. 5)', num('--alpha'))
    .option(
      '--alpha-gate <mode>',
      'iStar: alpha as given (fixed) or scaled by the PRM accuracy (prm-accuracy)',
    )
    .option('--beta <x>', 'implicit reward scale (eqs. 1-2)', num('--beta'))
    .option('--policy-lr <x>', 'policy learning rate', num('--policy-lr'))
    .option('--prm-lr <x>', 'PRM learning rate', num('--prm-lr'))
    .option('--max-steps <n>', "steps per episode (default: the env's own, Sokoban 15)", int('--max-steps'))
    .option('--eval-every <n>', 'evaluate every K iterations', int('--eval-every'))
    .option('--seed <n>', 'run seed', int('--seed'));
}

const FLAG_FIELDS: Record<string, keyof RunConfigInput> = {
  env: 'env',
  algorithm: 'algorithm',
  experiment: 'experimentId',
  iterations: 'iterations',
  groups: 'groups',
  groupSize: 'groupSize',
  alpha: 'alpha',
  alphaGate: 'alphaGate',
  beta: 'beta',
  policyLr: 'policyLr',
  prmLr: 'prmLr',
  maxSteps: 'maxSteps',
  evalEvery: 'evalEvery',
  seed: 'seed',
};

/** Read `--config` (JSON text or file), apply flags, validate: throws a clear error naming bad fields. */
export function runConfigFromFlags(
  opts: Record<string, unknown>,
  base: RunConfigInput = {},
): { input: RunConfigInput; config: RunConfig } {
  let fromConfig: RunConfigInput = {};
  if (typeof opts.config === 'string') {
    const text = opts.config.trim().startsWith('{')
      ? opts.config
      : existsSync(opts.config)
        ? readFileSync(opts.config, 'utf8')
        : undefined;
    if (text === undefined)
      throw new Error(`--config: "${opts.config}" is neither JSON nor an existing file`);
    try {
      fromConfig = JSON.parse(text) as RunConfigInput;
    } catch (err) {
      throw new Error(`--config: not valid JSON (${(err as Error).message})`);
    }
  }
  const input: Record<string, unknown> = { ...base, ...fromConfig };
  for (const [flag, field] of Object.entries(FLAG_FIELDS))
    if (opts[flag] !== undefined) input[field] = opts[flag];
  return { input: input as RunConfigInput, config: parseRunConfig(input) };
}

/** ISTAR_START_CONFIG as a run-config object (validated later with the flags), or an error naming it. */
export function startConfigFromEnv(raw: string | undefined): RunConfigInput {
  if (raw === undefined || raw.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new Error(`ISTAR_START_CONFIG is not valid JSON (${(err as Error).message}): ${raw}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`ISTAR_START_CONFIG must be a JSON object of run-config fields, got ${raw}`);
  return value as RunConfigInput;
}
