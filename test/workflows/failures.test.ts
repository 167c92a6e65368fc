import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  RetryState,
  TimeoutFailure,
  TimeoutType,
} from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { describeFailure } from '../../workflows/failures';

/** A child run's failure as a sweep sees it: ChildWorkflowFailure -> ActivityFailure -> cause. */
const childFailure = (activityType: string, retryState: RetryState, cause: Error) =>
  new ChildWorkflowFailure(
    'default',
    { workflowId: 'w', runId: 'r' },
    'istarTraining',
    RetryState.NON_RETRYABLE_FAILURE,
    new ActivityFailure('Activity task timed out', activityType, '7', retryState, 'worker@host', cause),
  );

describe('describeFailure', () => {
  it('names the activity, the timeout type, what it means and the last heartbeat', () => {
    const err = childFailure(
      'evaluate',
      RetryState.MAXIMUM_ATTEMPTS_REACHED,
      new TimeoutFailure(undefined, { progress: 'step 3, 12 active' }, TimeoutType.HEARTBEAT),
    );
    expect(describeFailure(err)).toBe(
      'evaluate activity timed out (HEARTBEAT: no heartbeat within heartbeatTimeoutSeconds: the worker died or its ' +
        'event loop was blocked that long (e.g. more workers than cores)) after its last retry; ' +
        'last heartbeat {"progress":"step 3, 12 active"}',
    );
    const startToClose = childFailure(
      'recordIteration',
      RetryState.MAXIMUM_ATTEMPTS_REACHED,
      new TimeoutFailure(undefined, undefined, TimeoutType.START_TO_CLOSE),
    );
    expect(describeFailure(startToClose)).toBe(
      'recordIteration activity timed out (START_TO_CLOSE: an attempt ran longer than its start-to-close timeout) after its last retry',
    );
  });

  it("gives an activity's own error, and a long heartbeat cut short", () => {
    const err = childFailure(
      'trainPolicy',
      RetryState.NON_RETRYABLE_FAILURE,
      ApplicationFailure.nonRetryable('policy loss is NaN at minibatch 3', 'NonFiniteLossError'),
    );
    expect(describeFailure(err)).toBe(
      'trainPolicy activity failed not retryable: policy loss is NaN at minibatch 3',
    );
    const long = childFailure(
      'collectRollouts',
      RetryState.TIMEOUT,
      new TimeoutFailure(undefined, 'x'.repeat(500), TimeoutType.HEARTBEAT),
    );
    expect(describeFailure(long)).toMatch(/its retries ran out of time; last heartbeat "x{199}\.\.\.$/);
  });

  it('without an activity in the chain, the innermost message (as before)', () => {
    const cause = ApplicationFailure.nonRetryable('base: unknown field "x"', 'RunConfigError');
    const err = new ChildWorkflowFailure(
      'default',
      { workflowId: 'w', runId: 'r' },
      'istarTraining',
      RetryState.NON_RETRYABLE_FAILURE,
      cause,
    );
    expect(describeFailure(err)).toBe('base: unknown field "x"');
    expect(describeFailure(new Error('plain'))).toBe('plain');
    expect(describeFailure('a string')).toBe('a string');
  });
});
