import { ApplicationFailure } from '@temporalio/activity';
import { configKey, InvalidExperimentIdError } from '../src/storage/keys';
import type { ArtifactStore } from '../src/storage/store';
import { isPermanentStorageError } from '../src/storage/store';

export interface ExperimentActivityDeps {
  store: ArtifactStore;
}

/** Map library errors that a retry cannot fix to non-retryable failures; let the rest retry. */
export function asActivityError(err: unknown): unknown {
  if (err instanceof InvalidExperimentIdError || isPermanentStorageError(err)) {
    return ApplicationFailure.nonRetryable((err as Error).message, (err as Error).name);
  }
  return err;
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
