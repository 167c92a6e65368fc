import { ApplicationFailure, makeContinueAsNewFunc, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { TASK_QUEUES, type istarTraining } from './training';

/** Input of `istarExtend` (the Temporal UI's Start Workflow form, or `istar extend`). */
export interface ExtendInput {
  /** The stored run (completed, stopped or failed) to go on training, in place. */
  experimentId: string;
  /** Iterations in all, above those the run has recorded. */
  iterations: number;
  /** Queue of the worker that reads the run from storage; default the rollout queue (`istar-rollout`). */
  rolloutTaskQueue?: string;
}

function invalid(message: string): never {
  throw ApplicationFailure.create({ message, type: 'ExtensionError', nonRetryable: true });
}

/**
 * Go on training a stored run to `iterations` in all: one activity reads its state from storage (config, last
 * recorded iteration's policy, PRM, KL anchor and metrics), then the workflow continues as `istarTraining` from
 * it, under this workflow id. Iteration k + 1 onwards is the same, to the bit, as in a run started with
 * `iterations`.
 */
export async function istarExtend(input?: ExtendInput | null): Promise<never> {
  if (typeof input !== 'object' || input === null)
    invalid('istarExtend needs {"experimentId": ..., "iterations": ...}');
  const { experimentId, iterations, rolloutTaskQueue } = input;
  if (typeof experimentId !== 'string' || experimentId === '')
    invalid(`experimentId: the stored run to extend, got ${JSON.stringify(experimentId)}`);
  if (!Number.isInteger(iterations) || iterations < 1)
    invalid(`iterations: a positive integer (iterations in all), got ${JSON.stringify(iterations)}`);
  if (rolloutTaskQueue !== undefined && (typeof rolloutTaskQueue !== 'string' || rolloutTaskQueue === ''))
    invalid(`rolloutTaskQueue: a task queue name, got ${JSON.stringify(rolloutTaskQueue)}`);
  const quick = proxyActivities<Activities>({
    taskQueue: rolloutTaskQueue ?? TASK_QUEUES.rollout,
    startToCloseTimeout: '2 minutes',
    retry: {
      initialInterval: '2 seconds',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: 20,
    },
  });
  const state = await quick.extensionState({ experimentId, iterations });
  return makeContinueAsNewFunc<typeof istarTraining>({ workflowType: 'istarTraining' })(null, state);
}
