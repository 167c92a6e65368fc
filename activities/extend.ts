import { parseRunConfig, type RunConfig } from '../src/config/run-config';
import { checkpointPrefix, configKey, iterationKey } from '../src/storage/keys';
import type { ArtifactStore } from '../src/storage/store';
import { MAX_HISTORY, type IterationRecord, type TrainingState } from '../workflows/training';

/** A run that cannot be extended as asked (no stored config, nothing recorded, too few iterations); permanent. */
export class ExtensionError extends Error {
  override name = 'ExtensionError';
}

/**
 * The state in which a stored run (completed, stopped or failed) goes on to `iterations` iterations in place:
 * the same experiment, its last recorded iteration's policy, the PRM that iteration scored with, its KL anchor
 * and its history, read from storage alone (the `istarExtend` workflow's activity). Started as
 * `istarTraining(null, state)`, iteration k + 1 onwards runs
 * exactly as in a run started with `iterations` (the levels, sampling seeds and each iteration's optimizers
 * depend only on the config, the iteration and these checkpoints).
 */
export async function extensionState(
  store: ArtifactStore,
  experimentId: string,
  iterations: number,
): Promise<TrainingState> {
  const key = configKey(experimentId);
  if (!(await store.exists(key)))
    throw new ExtensionError(`experiment ${experimentId} has no stored config (${key}): nothing to extend`);
  let config: RunConfig;
  try {
    config = parseRunConfig(await store.getJson(key));
  } catch (err) {
    throw new ExtensionError(
      `experiment ${experimentId}: its stored config is not a valid run config: ${(err as Error).message}`,
    );
  }
  const recorded = await store.listIterations(experimentId);
  const policies = new Set(await store.listCheckpoints(experimentId, 'policy'));
  const done: number[] = [];
  for (const it of recorded)
    if (policies.has(it) && (await store.exists(iterationKey(experimentId, it, 'metrics.json'))))
      done.push(it);
  // A run resumed from another experiment's checkpoint (every sweep run) records nothing at iteration 0.
  const last = done.at(-1) ?? (config.resumeFrom ? 0 : undefined);
  if (last === undefined)
    throw new ExtensionError(
      `experiment ${experimentId} has no iteration with both its metrics and its policy checkpoint`,
    );
  if (!(Number.isInteger(iterations) && iterations > last))
    throw new ExtensionError(
      `experiment ${experimentId} has run ${last} iterations; extend it to more than that (got ${iterations})`,
    );

  const start = config.resumeFrom ? await store.locateCheckpoints(config.resumeFrom) : undefined;
  const policyKey = last === 0 && start ? start.policyKey : checkpointPrefix(experimentId, 'policy', last);
  // The PRM the last iteration left: its own, or the latest earlier one (an iteration without pairs trains none).
  const prms = (await store.listCheckpoints(experimentId, 'prm')).filter((i) => i <= last);
  const prmKey =
    prms.length > 0
      ? checkpointPrefix(experimentId, 'prm', prms.at(-1)!)
      : (start?.prmKey ?? checkpointPrefix(experimentId, 'policy', 0));
  const referenceKey = start?.policyKey ?? checkpointPrefix(experimentId, 'policy', 0);

  const history: IterationRecord[] = [];
  let bestSuccess: number | null = null;
  for (const it of done) {
    const { iteration: _, ...metrics } = await store.getJson<Record<string, number>>(
      iterationKey(experimentId, it, 'metrics.json'),
    );
    history.push({ iteration: it, metrics });
    const success = metrics['eval/success_rate'];
    if (success !== undefined) bestSuccess = Math.max(bestSuccess ?? 0, success);
  }
  return {
    config: { ...config, experimentId, iterations },
    iteration: last,
    policyKey,
    prmKey,
    referenceKey,
    bestSuccess,
    history: history.slice(-MAX_HISTORY),
    paused: false,
    stopRequested: false,
  };
}
