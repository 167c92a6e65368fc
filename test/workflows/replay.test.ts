import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { defaultPayloadConverter } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowsPath } from '../../workers/paths';
import { istarTraining, progressQuery, type TrainingState } from '../../workflows';
import { historyFromFixture } from '../fixtures/history-json';
import { FIXTURE_PATH, FIXTURE_WORKFLOW_ID } from '../fixtures/record-history';
import { scheduledActivities, type HistoryEvent } from '../helpers/faults';
import { testStore } from '../helpers/stack';
import {
  connectTestTemporal,
  testWorkers,
  tinyConfig,
  uniqueQueues,
  withWorkers,
  type TestTemporal,
} from '../helpers/workers';

/**
 * Determinism: the recorded fixture (test/fixtures/record-history.ts says how and when to re-record it) must
 * replay against today's workflow code; continue-as-new must carry the run's state across runs.
 */

let t: TestTemporal;
beforeAll(async () => {
  t = await connectTestTemporal();
});
afterAll(async () => t?.close());

async function replayAll(histories: Array<{ workflowId: string; history: unknown }>) {
  const results: Array<{ workflowId: string; error?: unknown }> = [];
  for await (const r of Worker.runReplayHistories({ workflowsPath }, histories as never)) results.push(r);
  return results;
}

describe('workflow replay', () => {
  it('the recorded istarTraining history replays without non-determinism; a tampered copy does not', async () => {
    const json = JSON.parse(readFileSync(FIXTURE_PATH, 'utf8')) as { events: Array<Record<string, unknown>> };
    const history = historyFromFixture(json);
    const events = history.events as HistoryEvent[];
    // The fixture is what it claims: a completed 1-iteration run with an accepted update in it.
    expect(scheduledActivities(events).map((a) => a.type)).toEqual([
      'writeExperimentConfig',
      'sftBasePolicy',
      'evaluate',
      'recordIteration',
      'collectRollouts',
      'collectRollouts',
      'labelPreferences',
      'computeStepAdvantages',
      'trainPolicy',
      'evaluate',
      'recordIteration',
    ]);
    expect(events.some((e) => e.workflowExecutionUpdateCompletedEventAttributes)).toBe(true);
    expect(events.at(-1)?.workflowExecutionCompletedEventAttributes).toBeTruthy();

    // The same history with the SFT activity renamed: the workflow's command no longer matches it.
    const tampered = JSON.parse(JSON.stringify(json)) as typeof json;
    const sft = tampered.events.find(
      (e) =>
        (e.activityTaskScheduledEventAttributes as { activityType?: { name?: string } } | undefined)
          ?.activityType?.name === 'sftBasePolicy',
    ) as { activityTaskScheduledEventAttributes: { activityType: { name: string } } };
    sft.activityTaskScheduledEventAttributes.activityType.name = 'warmStartRenamed';

    const results = await replayAll([
      { workflowId: FIXTURE_WORKFLOW_ID, history },
      { workflowId: `${FIXTURE_WORKFLOW_ID}-tampered`, history: historyFromFixture(tampered) },
    ]);
    expect(results.map((r) => r.workflowId)).toEqual([
      FIXTURE_WORKFLOW_ID,
      `${FIXTURE_WORKFLOW_ID}-tampered`,
    ]);
    expect(results[0].error).toBeUndefined();
    expect(results[1].error).toBeInstanceOf(DeterminismViolationError);
  });

  it('continueAsNewEvery 1: three runs chained by continue-as-new complete 3 iterations with the history carried over', async () => {
    const queues = uniqueQueues();
    const experimentId = `can-${randomUUID().slice(0, 6)}`;
    const workers = await testWorkers(t, queues);
    const { handle, result, progress } = await withWorkers(workers, async () => {
      const handle = await t.client.workflow.start(istarTraining, {
        taskQueue: queues.workflow,
        workflowId: experimentId,
        args: [tinyConfig(queues, { experimentId, iterations: 3, evalEvery: 3, continueAsNewEvery: 1 })],
      });
      const result = await handle.result();
      // The handle follows the chain: the query reaches the last run.
      return { handle, result, progress: await handle.query(progressQuery) };
    });
    expect(result.iterations).toBe(3);
    expect(result.stopped).toBe(false);
    expect(result.history.map((h) => h.iteration)).toEqual([0, 1, 2, 3]);
    expect(await testStore().listCheckpoints(experimentId, 'policy')).toEqual([0, 1, 2, 3]);

    // Follow the chain of runs from the first one.
    const runs: Array<{ runId: string; events: HistoryEvent[] }> = [];
    let runId: string | undefined = handle.firstExecutionRunId;
    while (runId) {
      const events = ((await t.client.workflow.getHandle(experimentId, runId).fetchHistory()).events ??
        []) as HistoryEvent[];
      runs.push({ runId, events });
      runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    expect(runs).toHaveLength(3);
    expect(runs.at(-1)!.events.at(-1)?.workflowExecutionCompletedEventAttributes).toBeTruthy();
    // Each continued run starts from the carried state: the iterations done so far and their metrics history.
    for (const [i, run] of runs.entries()) {
      const started = run.events[0].workflowExecutionStartedEventAttributes!;
      const trainings = scheduledActivities(run.events).filter((a) => a.type === 'trainPolicy');
      expect(trainings.map((a) => (a.input as { iteration: number }).iteration)).toEqual([i + 1]);
      expect(scheduledActivities(run.events).some((a) => a.type === 'sftBasePolicy')).toBe(i === 0);
      if (i === 0) continue;
      expect(started.continuedExecutionRunId).toBe(runs[i - 1].runId);
      const carriedPayload = started.input?.payloads?.[1];
      expect(carriedPayload).toBeTruthy();
      const carried = defaultPayloadConverter.fromPayload<TrainingState>(carriedPayload!);
      expect(carried.iteration).toBe(i);
      expect(carried.history.map((h) => h.iteration)).toEqual(Array.from({ length: i + 1 }, (_, k) => k));
      expect(carried.policyKey).toBe(
        `experiments/${experimentId}/checkpoints/policy/${String(i).padStart(6, '0')}/`,
      );
    }
    expect(progress).toMatchObject({ stage: 'completed', iteration: 3 });
    expect(progress.history).toHaveLength(4);

    // Every run of the chain, continued ones included, replays deterministically.
    const results = await replayAll(
      runs.map((r) => ({ workflowId: experimentId, history: { events: r.events } })),
    );
    expect(results.map((r) => r.error)).toEqual([undefined, undefined, undefined]);
  });
});
