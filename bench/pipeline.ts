import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { startEphemeralStack } from '../infra/ephemeral';
import { parseRunConfig, type RunConfigInput } from '../src/config/run-config';
import { initBackend } from '../src/model';
import {
  collectShard,
  computeAdvantages,
  evaluatePolicy,
  initialPolicy,
  preferencePairs,
  runSetup,
  sftBasePolicy,
  trainPolicy,
  trainPrm,
} from '../src/pipeline';
import { ArtifactStore } from '../src/storage/store';
import { createWorkers, installRuntime } from '../workers/worker';
import { isMain } from './util';

/**
 * One iStar configuration run twice in this process: the pipeline functions called directly (no Temporal,
 * no S3), and the istarTraining workflow on a real Temporal + MinIO with in-process workers. Reports the
 * seconds per iteration of each, their ratio (what durability costs), and the seconds per stage of both
 * (the workflow's from its event history: activity started -> completed).
 */
export const PIPELINE_BENCH_CONFIG: RunConfigInput = {
  env: 'sokoban',
  algorithm: 'istar',
  iterations: 3,
  groups: 4,
  groupSize: 4,
  rolloutShards: 1,
  evalEvery: 3,
  evalEpisodes: 16,
  model: { dModel: 32, nLayers: 2, nHeads: 4, dFF: 128, contextLength: 192 },
  sft: { episodes: 40, epochs: 1 },
};

/** Default-size iterations (the run config's defaults: 8 groups x 8 rollouts, the env's default model), 2 of them. */
export const PIPELINE_DEFAULT_BENCH_CONFIG: RunConfigInput = {
  env: 'sokoban',
  algorithm: 'istar',
  iterations: 2,
  evalEvery: 2,
  sft: { episodes: 40, epochs: 1 },
};

const STAGES = [
  'collectRollouts',
  'labelPreferences',
  'trainPrm',
  'computeStepAdvantages',
  'trainPolicy',
  'evaluate',
] as const;
type Stage = (typeof STAGES)[number];

export async function benchPipeline(
  input: RunConfigInput = PIPELINE_BENCH_CONFIG,
  name = 'pipeline',
): Promise<Record<string, number | string>> {
  // BENCH_PIPELINE_ORDER=temporal-first runs the Temporal pass first (to see what the order costs).
  const temporalFirst = process.env.BENCH_PIPELINE_ORDER === 'temporal-first';
  const durableFirst = temporalFirst ? await onTemporal(input) : undefined;
  const direct = await inProcess(input);
  const durable = durableFirst ?? (await onTemporal(input));
  const c = parseRunConfig(input);
  const m = runSetup(c).modelConfig;
  const rows: Record<string, number | string> = {
    [`${name}/config`]: `${c.algorithm} ${c.env} ${c.groups}x${c.groupSize} d${m.dModel} L${m.nLayers} ${c.iterations}it${temporalFirst ? ' (temporal first)' : ''}`,
    [`${name}/in_process_s_per_iteration`]: round(direct.perIteration),
    [`${name}/temporal_s_per_iteration`]: round(durable.perIteration),
    [`${name}/temporal_vs_in_process_ratio`]: round(durable.perIteration / direct.perIteration, 3),
  };
  for (const stage of STAGES) {
    rows[`${name}/${stage}_s (in-process | temporal)`] =
      `${round(direct.stages[stage] ?? 0)} | ${round(durable.stages[stage] ?? 0)}`;
  }
  return rows;
}

export const benchPipelineDefault = () => benchPipeline(PIPELINE_DEFAULT_BENCH_CONFIG, 'pipeline-default');

interface Timings {
  /** Seconds per training iteration (everything after the SFT base, the final evaluation included). */
  perIteration: number;
  /** Seconds per iteration spent in each stage. */
  stages: Partial<Record<Stage, number>>;
}

async function inProcess(input: RunConfigInput): Promise<Timings> {
  await initBackend();
  const config = parseRunConfig(input);
  const setup = runSetup(config);
  const policy = initialPolicy(setup);
  await sftBasePolicy(setup, policy);
  const prm = policy.clone();
  const stages: Partial<Record<Stage, number>> = {};
  const timed = async <T>(stage: Stage, fn: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    const out = await fn();
    stages[stage] = (stages[stage] ?? 0) + (performance.now() - t) / 1000 / config.iterations;
    return out;
  };
  const start = performance.now();
  for (let it = 1; it <= config.iterations; it++) {
    const { batch } = await timed('collectRollouts', () => collectShard(setup, policy, it, 0, 1));
    const { pairs } = await timed('labelPreferences', () => preferencePairs(setup, batch));
    await timed('trainPrm', () => trainPrm(setup, prm, batch, it, { pairs }));
    const targets = await timed('computeStepAdvantages', () => computeAdvantages(setup, batch, { prm }));
    await timed('trainPolicy', () => trainPolicy(setup, policy, batch, targets, it));
    if (it % config.evalEvery === 0 || it === config.iterations)
      await timed('evaluate', () => evaluatePolicy(setup, policy, it));
  }
  const perIteration = (performance.now() - start) / 1000 / config.iterations;
  policy.dispose();
  prm.dispose();
  return { perIteration, stages };
}

async function onTemporal(input: RunConfigInput): Promise<Timings> {
  installRuntime();
  const stack = await startEphemeralStack();
  const connection = await Connection.connect({ address: stack.temporal.address });
  const native = await NativeConnection.connect({ address: stack.temporal.address });
  try {
    const client = new Client({ connection });
    const workers = await createWorkers(['workflow', 'rollout', 'trainer'], {
      connection: native,
      namespace: 'default',
      store: ArtifactStore.fromSettings(stack.s3),
    });
    const running = workers.map((w) => w.run());
    try {
      const handle = await client.workflow.start('istarTraining', {
        taskQueue: 'istar',
        workflowId: `bench-pipeline-${Date.now()}`,
        args: [input],
      });
      await handle.result();
      return await timingsFromHistory(handle, parseRunConfig(input).iterations);
    } finally {
      workers.forEach((w) => w.shutdown());
      await Promise.all(running);
    }
  } finally {
    await connection.close();
    await native.close();
    await stack.stop();
  }
}

async function timingsFromHistory(handle: WorkflowHandle, iterations: number): Promise<Timings> {
  const history = await handle.fetchHistory();
  const seconds = (t: unknown) => {
    const ts = t as { seconds?: { toNumber(): number } | number; nanos?: number };
    const s = typeof ts.seconds === 'number' ? ts.seconds : (ts.seconds?.toNumber() ?? 0);
    return s + (ts.nanos ?? 0) / 1e9;
  };
  const events = history.events ?? [];
  const typeOf = new Map<string, string>();
  const startedAt = new Map<string, number>();
  const stages: Partial<Record<Stage, number>> = {};
  let sftDone = 0;
  let end = 0;
  for (const e of events) {
    const id = String(e.eventId);
    const at = seconds(e.eventTime);
    end = at;
    if (e.activityTaskScheduledEventAttributes)
      typeOf.set(id, e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
    if (e.activityTaskStartedEventAttributes)
      startedAt.set(String(e.activityTaskStartedEventAttributes.scheduledEventId), at);
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const scheduled = String(done.scheduledEventId);
      const type = typeOf.get(scheduled) ?? '';
      if (type === 'sftBasePolicy') sftDone = at;
      if ((STAGES as readonly string[]).includes(type)) {
        stages[type as Stage] =
          (stages[type as Stage] ?? 0) + (at - (startedAt.get(scheduled) ?? at)) / iterations;
      }
    }
  }
  return { perIteration: (end - sftDone) / iterations, stages };
}

const round = (x: number, digits = 2) => Number(x.toFixed(digits));

if (isMain(import.meta.url)) {
  benchPipeline()
    .then((r) => console.table(r))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
