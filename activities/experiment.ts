import { ApplicationFailure } from '@temporalio/activity';
import { configKey, InvalidExperimentIdError } from '../src/storage/keys';
import type { ArtifactStore } from '../src/storage/store';
import { isPermanentStorageError } from '../src/storage/store';

export interface ExperimentActivityDeps {
  store: ArtifactStore;
}

/** Library errors that a retry cannot fix: bad input, corrupt data, NaN losses. */
const PERMANENT_ERRORS = new Set([
  'InvalidExperimentIdError',
  'RunConfigError',
  'AlgoInputError',
  'BatchValidationError',
  'BatchCorruptError',
  'NonFiniteLossError',
  'CheckpointCorruptError',
  'ArtifactMissingError',
  'ExtensionError',
]);

/** Map errors that a retry cannot fix to non-retryable failures (keeping name and message); the rest retry. */
export function asActivityError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const permanent =
    err instanceof InvalidExperimentIdError ||
    isPermanentStorageError(err) ||
    PERMANENT_ERRORS.has(err.name) ||
    /does not match the requested one|holds a .* not a /.test(err.message);
  return permanent ? ApplicationFailure.nonRetryable(err.message, err.name) : err;
}

export function createExperimentActivities({ store }: ExperimentActivityDeps) {
  return {
    /** Write an experiment's config.json; returns its key. Overwrites on retry (same key). */
    async writeExperimentConfig(input: { experimentId: string; config: unknown }): Promise<string> {
      try {
        await store.ensureBucket();
        return await store.putJson(configKey(input.experimentId), input.config);
      } catch (err) {
        throw asActivityError(err);
      }
    },
  };
}
