import { ActivityFailure, TimeoutFailure } from '@temporalio/common';

/** What a timeout means for an istar activity, in the words a user can act on. */
const TIMEOUT_MEANING: Record<string, string> = {
  HEARTBEAT:
    'no heartbeat within heartbeatTimeoutSeconds: the worker died or its event loop was blocked that long (e.g. more workers than cores)',
  START_TO_CLOSE: 'an attempt ran longer than its start-to-close timeout',
  SCHEDULE_TO_START: 'no worker polled its task queue in time',
  SCHEDULE_TO_CLOSE: 'it did not finish within its schedule-to-close timeout',
};

const RETRY_STATE: Record<string, string> = {
  MAXIMUM_ATTEMPTS_REACHED: 'after its last retry',
  NON_RETRYABLE_FAILURE: 'not retryable',
  TIMEOUT: 'its retries ran out of time',
};

const short = (value: unknown): string => {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 200 ? `${text.slice(0, 200)}...` : text;
};

/**
 * One line for a failed run (a sweep's row, `istar status`): the activity that failed, how, and its innermost
 * cause, e.g. `evaluate activity timed out (HEARTBEAT: no heartbeat within heartbeatTimeoutSeconds: ...) after
 * its last retry; last heartbeat {"progress":"step 3"}`. Temporal's own messages ("Activity task timed out")
 * name neither the activity nor the timeout. Walks the `cause` chain (child workflow -> activity -> cause).
 */
export function describeFailure(err: unknown): string {
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 16; e = e.cause) chain.push(e);
  if (chain.length === 0) return String(err);
  const activity = chain.find((e): e is ActivityFailure => e instanceof ActivityFailure);
  const innermost = chain[chain.length - 1];
  if (!activity) return innermost.message || chain.find((e) => e.message)?.message || innermost.name;
  const retryWords = RETRY_STATE[activity.retryState ?? ''];
  const retry = retryWords ? ` ${retryWords}` : '';
  if (innermost instanceof TimeoutFailure) {
    const type = innermost.timeoutType ?? 'unknown timeout';
    const meaning = TIMEOUT_MEANING[type] ? `: ${TIMEOUT_MEANING[type]}` : '';
    const beat =
      innermost.lastHeartbeatDetails === undefined || innermost.lastHeartbeatDetails === null
        ? ''
        : `; last heartbeat ${short(innermost.lastHeartbeatDetails)}`;
    return `${activity.activityType} activity timed out (${type}${meaning})${retry}${beat}`;
  }
  const cause = innermost === activity ? activity.message : innermost.message;
  return `${activity.activityType} activity failed${retry}: ${cause}`;
}
