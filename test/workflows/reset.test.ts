import { randomUUID } from 'node:crypto';
import type Long from 'long';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { istarTraining } from '../../workflows/training';
import { testStore } from '../helpers/stack';
import {
  connectTestTemporal,
  testWorkers,
  tinyConfig,
  uniqueQueues,
  withWorkers,
  type TestTemporal,
} from '../helpers/workers';

let t: TestTemporal;
beforeAll(async () => {
  t = await connectTestTemporal();
});
afterAll(async () => t?.close());

describe('reset (what the UI does for a failed run)', () => {
  it('resetting a run to the workflow task after iteration 1 re-runs iteration 2 only and completes', async () => {
    const queues = uniqueQueues();
    const workflowId = `reset-${randomUUID().slice(0, 8)}`;
    const workers = await testWorkers(t, queues);
    await withWorkers(workers, async () => {
      const handle = await t.client.workflow.start(istarTraining, {
        taskQueue: queues.workflow,
        workflowId,
        args: [tinyConfig(queues, { experimentId: workflowId })],
      });
      const first = await handle.result();
      expect(first.iterations).toBe(2);

      // The workflow task completed right after iteration 1 was recorded (the 2nd recordIteration: 0, 1).
      const history = await handle.fetchHistory();
      const events = history.events ?? [];
      const typeOf = new Map<string, string>();
      let recorded = 0;
      let resetPoint: number | undefined;
      for (const e of events) {
        const id = Number(e.eventId);
        const scheduled = e.activityTaskScheduledEventAttributes;
        if (scheduled) typeOf.set(String(id), scheduled.activityType?.name ?? '');
        const done = e.activityTaskCompletedEventAttributes;
        if (done && typeOf.get(String(done.scheduledEventId)) === 'recordIteration') recorded++;
        if (recorded === 2 && resetPoint === undefined && e.workflowTaskCompletedEventAttributes)
          resetPoint = id;
      }
      expect(resetPoint).toBeDefined();

      const { runId } = (await t.client.workflowService.resetWorkflowExecution({
        namespace: t.client.options.namespace,
        workflowExecution: { workflowId, runId: handle.firstExecutionRunId },
        reason: 'test: reset to iteration 1',
        // The proto type wants a Long; the gRPC encoder takes a number as well.
        workflowTaskFinishEventId: resetPoint as unknown as Long,
        requestId: randomUUID(),
      })) as { runId?: string | null };
      const reset = t.client.workflow.getHandle(workflowId, runId!);
      const second = (await reset.result()) as Awaited<ReturnType<typeof istarTraining>>;
      expect(second.iterations).toBe(2);
      expect(second.history.map((h) => h.iteration)).toEqual([0, 1, 2]);

      // Iteration 1's activities were kept from the old run; only iteration 2's stages ran again.
      const again = (await reset.fetchHistory()).events ?? [];
      const names = again
        .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
        .filter((n): n is string => !!n);
      expect(names.filter((n) => n === 'sftBasePolicy')).toHaveLength(1);
      expect(names.filter((n) => n === 'trainPolicy')).toHaveLength(2);
      expect(await testStore().listCheckpoints(workflowId, 'policy')).toEqual([0, 1, 2]);
    });
  }, 300_000);
});
