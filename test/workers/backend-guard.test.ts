import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { istarTraining } from '../../workflows';
import { BackendBrokenError, isBackendBroken } from '../../workers/backend-guard';
import { createWorkerGroup } from '../../workers/worker';
import { waitFor } from '../helpers/faults';
import { testStore, testTemporal } from '../helpers/stack';
import {
  connectTestTemporal,
  testWorkers,
  tinyConfig,
  uniqueQueues,
  withWorkers,
  type TestTemporal,
} from '../helpers/workers';

/** A real WebAssembly trap: a module whose exported function executes `unreachable`. */
function wasmTrap(): () => void {
  // prettier-ignore
  const bytes = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
    0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
    0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export "f" = function 0
    0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b, // code: no locals, unreachable, end
  ]);
  const wasm = (
    globalThis as unknown as {
      WebAssembly: {
        Module: new (b: Uint8Array) => unknown;
        Instance: new (m: unknown) => { exports: { f: () => void } };
      };
    }
  ).WebAssembly;
  return new wasm.Instance(new wasm.Module(bytes)).exports.f;
}

let t: TestTemporal;
beforeAll(async () => {
  t = await connectTestTemporal();
});
afterAll(async () => t?.close());

describe('a worker whose tensor backend broke', () => {
  it('tells a wasm trap from an ordinary error', () => {
    let trap: unknown;
    try {
      wasmTrap()();
    } catch (err) {
      trap = err;
    }
    expect((trap as Error).constructor.name).toBe('RuntimeError');
    expect(isBackendBroken(trap)).toBe(true);
    expect(isBackendBroken(new Error('RuntimeError: memory access out of bounds'))).toBe(true);
    expect(isBackendBroken(new Error('Aborted(OOM). Build with -sASSERTIONS for more info.'))).toBe(true);
    expect(isBackendBroken(new Error('checkpoint model config does not match the requested one'))).toBe(
      false,
    );
    expect(isBackendBroken('memory access out of bounds')).toBe(false);
  });

  it('stops taking activities, and the run goes on on a healthy worker with nothing lost', async () => {
    const queues = uniqueQueues();
    const store = testStore();
    const real = createActivities({ store });
    let trapped = 0;
    const broken = await createWorkerGroup(['trainer'], {
      connection: t.nativeConnection,
      namespace: testTemporal().namespace,
      store,
      queues,
      activities: {
        ...real,
        sftBasePolicy: async () => {
          trapped++;
          wasmTrap()();
        },
      },
    });
    const brokenRun = Promise.all(broken.workers.map((w) => w.run()));
    const experimentId = `broken-${randomUUID().slice(0, 8)}`;
    const result = await withWorkers(await testWorkers(t, queues, ['workflow', 'rollout']), async () => {
      const handle = await t.client.workflow.start(istarTraining, {
        taskQueue: queues.workflow,
        workflowId: experimentId,
        args: [{ ...tinyConfig(queues, { iterations: 1, evalEvery: 1 }), experimentId }],
      });
      // The broken worker shuts itself down after the activity it broke in (run() resolves)...
      await waitFor('the broken trainer worker to stop', async () => broken.broken() !== undefined, 60_000);
      await brokenRun;
      expect(broken.workers.map((w) => w.getState())).toEqual(['STOPPED']);
      expect(broken.broken()).toBeInstanceOf(BackendBrokenError);
      expect(broken.broken()!.message).toMatch(/tensor backend broke in an activity \(unreachable\)/);
      // ...and a healthy one takes the retried SFT and finishes the run.
      return withWorkers(await testWorkers(t, queues, ['trainer']), () => handle.result());
    });
    expect(trapped).toBe(1);
    expect(result.iterations).toBe(1);
    expect(await store.listCheckpoints(experimentId, 'policy')).toEqual([0, 1]);
  }, 180_000);
});
