import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPayloadConverter } from '@temporalio/common';
import { followRun, gainOverBase, pairedGain, pairedText, stageText } from '../../src/cli/follow';
import { baseActivity, runningText } from '../../src/cli/sweep';
import { istarTraining } from '../../workflows';
import {
  connectTestTemporal,
  testWorkers,
  tinyConfig,
  uniqueQueues,
  withWorkers,
  type TestTemporal,
} from '../helpers/workers';

describe('gainOverBase (the final line of npm start / istar train)', () => {
  it('gives the gain in standard errors of the difference of two success rates', () => {
    // 0.219 -> 0.313 over 96 levels: se = sqrt((0.219*0.781 + 0.313*0.687) / 96) = 0.06372, z = 0.094 / 0.06372 = 1.48
    expect(gainOverBase(0.219, 0.313, 96)).toBe(
      '+0.094 over the SFT base 0.219 (1.5 standard errors, 96 levels)',
    );
    // 0.25 -> 0.5 over 100: se = sqrt((0.1875 + 0.25) / 100) = 0.06614, z = 3.78
    expect(gainOverBase(0.25, 0.5, 100)).toBe(
      '+0.250 over the SFT base 0.250 (3.8 standard errors, 100 levels)',
    );
  });

  it('shows a loss with a minus sign and negative z', () => {
    expect(gainOverBase(0.5, 0.25, 100)).toBe(
      '-0.250 over the SFT base 0.500 (-3.8 standard errors, 100 levels)',
    );
  });

  it('leaves out what it cannot compute', () => {
    expect(gainOverBase(undefined, 0.3, 96)).toBeUndefined();
    expect(gainOverBase(0.2, Number.NaN, 96)).toBeUndefined();
    expect(gainOverBase(0.2, 0.3, undefined)).toBe('+0.100 over the SFT base 0.200');
    expect(gainOverBase(0, 0, 10)).toBe('+0.000 over the SFT base 0.000 (0.0 standard errors, 10 levels)');
  });
});

describe('pairedGain (the same held-out levels before and after, McNemar)', () => {
  it('counts the levels gained and lost and gives z = (gained - lost) / sqrt(gained + lost)', () => {
    const base = [true, true, false, false, false, true, false, false];
    const final = [true, false, true, true, true, true, false, true];
    // gained: levels 2, 3, 4, 7 (4); lost: level 1 (1); z = 3 / sqrt(5) = 1.342
    const p = pairedGain(base, final);
    expect(p).toEqual({ gained: 4, lost: 1, z: 3 / Math.sqrt(5) });
    expect(pairedText(p)).toBe('paired on the same levels: 4 gained, 1 lost, McNemar z 1.3');
    // The session-12 quick-start measurement: 108 gained, 57 lost -> 51 / sqrt(165) = 3.97.
    expect(
      pairedGain(
        [...Array(108).fill(false), ...Array(57).fill(true)],
        [...Array(108).fill(true), ...Array(57).fill(false)],
      ).z,
    ).toBeCloseTo(3.97, 2);
  });

  it('is 0 when no level changed, and refuses outcomes of different level sets', () => {
    expect(pairedGain([true, false], [true, false])).toEqual({ gained: 0, lost: 0, z: 0 });
    expect(() => pairedGain([true], [true, false])).toThrow(/same levels before and after \(got 1 and 2\)/);
    expect(() => pairedGain([], [])).toThrow(/got 0 and 0/);
  });
});

const pending = (name: string, details?: unknown) => ({
  raw: {
    pendingActivities: [
      {
        activityType: { name },
        heartbeatDetails:
          details === undefined ? null : { payloads: [defaultPayloadConverter.toPayload(details)] },
      },
    ],
  },
});

describe("a sweep's progress line names what its shared base is doing", () => {
  it("the SFT's last heartbeat, the held-out evaluation, or nothing when no base activity is pending", () => {
    const sft = pending('sftBasePolicy', {
      partialPrefix: 'experiments/x-base/iterations/000000/partial/sft/',
      progress: 'epoch 3/6: step 614/1201',
      step: 2,
    });
    expect(baseActivity(sft as never)).toBe('SFT epoch 3/6: step 614/1201');
    expect(baseActivity(pending('sftBasePolicy') as never)).toBe('SFT');
    expect(baseActivity(pending('evaluate', { progress: '' }) as never)).toBe('held-out evaluation');
    expect(baseActivity({ raw: { pendingActivities: [] } } as never)).toBeUndefined();
    expect(baseActivity(pending('trainPolicy', { progress: '3/15' }) as never)).toBeUndefined();
    expect(
      runningText({ running: ['base'], base: baseActivity(sft as never), finished: { 'rloo-s0': [2, 24] } }),
    ).toBe('base (SFT epoch 3/6: step 614/1201)');
    expect(runningText({ running: ['base', 'rloo-s0'], finished: { 'rloo-s0': [2, 24] } })).toBe(
      'base, rloo-s0 (iteration 2/24 done)',
    );
  });
});

describe("istar train's progress bar says how far the stage's activity has got", () => {
  it("adds the pending activity's last heartbeated progress to the stage it belongs to", () => {
    const sft = pending('sftBasePolicy', { progress: 'epoch 3/6: step 614/1201', step: 2 });
    expect(stageText('sftBasePolicy', sft as never)).toBe('sftBasePolicy (epoch 3/6: step 614/1201)');
    expect(stageText('trainPolicy', pending('trainPolicy', { progress: '12/40' }) as never)).toBe(
      'trainPolicy (12/40)',
    );
    // Another activity's heartbeat (the stage moved on since the description was read), none, or no progress.
    expect(stageText('evaluate', sft as never)).toBe('evaluate');
    expect(stageText('sftBasePolicy', pending('sftBasePolicy') as never)).toBe('sftBasePolicy');
    expect(stageText('trainPrm', pending('trainPrm', { progress: '' }) as never)).toBe('trainPrm');
    expect(stageText('collectRollouts')).toBe('collectRollouts');
  });

  let t: TestTemporal;
  beforeAll(async () => {
    t = await connectTestTemporal();
  });
  afterAll(async () => t?.close());

  it('shows the SFT epoch and step of a real run while its base trains', async () => {
    const queues = uniqueQueues();
    const experimentId = `follow-sft-${randomUUID().slice(0, 6)}`;
    let drawn = '';
    // A terminal as cli-progress sees one, recording what the bar draws.
    const terminal = Object.assign(
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          drawn += chunk.toString();
          done();
        },
      }),
      { isTTY: true, columns: 200 },
    ) as unknown as NodeJS.WriteStream;
    const lines: string[] = [];
    const workers = await testWorkers(t, queues);
    const result = await withWorkers(workers, async () => {
      const handle = await t.client.workflow.start(istarTraining, {
        taskQueue: queues.workflow,
        workflowId: experimentId,
        args: [
          tinyConfig(queues, {
            experimentId,
            algorithm: 'rloo',
            iterations: 1,
            evalEvery: 1,
            // An SFT of some seconds (2 epochs), so that the bar is drawn while it trains.
            sft: { episodes: 96, epochs: 2, batchSize: 4 },
          }),
        ],
      });
      return followRun(handle as never, {
        stream: terminal,
        intervalMs: 100,
        describeEveryMs: 100,
        log: (line) => lines.push(line),
      });
    });
    expect(result.iterations).toBe(1);
    expect(lines.map((l) => l.split(' | ')[0])).toEqual(['iteration 0/1', 'iteration 1/1']);
    const steps = [...drawn.matchAll(/sftBasePolicy \(epoch (\d)\/2: step (\d+)\/(\d+)\)/g)];
    expect(steps.length).toBeGreaterThan(0);
    for (const [, epoch, step, total] of steps) {
      expect(['1', '2']).toContain(epoch);
      expect(Number(step)).toBeGreaterThanOrEqual(1);
      expect(Number(step)).toBeLessThanOrEqual(Number(total));
    }
  }, 240_000);
});
