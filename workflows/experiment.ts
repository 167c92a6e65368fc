import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { writeExperimentConfig } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '1 second' },
});

export interface RegisterExperimentInput {
  experimentId: string;
  config: Record<string, unknown>;
}

/** Record an experiment's config in storage and return the key it was written to. */
export async function registerExperiment(input: RegisterExperimentInput): Promise<string> {
  return await writeExperimentConfig({ experimentId: input.experimentId, config: input.config });
}
