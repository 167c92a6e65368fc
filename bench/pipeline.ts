import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { startEphemeralStack } from '../infra/ephemeral';
import { parseRunConfig, type RunConfigInput } from '../src/config/run-config';
import { initBackend } from '../src/model';
import {
  initialPolicy,
  iterationInProcess,
  runSetup,
  sftBasePolicy,
  type StageName,
  type StageRunner,
} from '../src/pipeline';
import { decodeBatch } from '../src/algo';
import { ArtifactStore } from '../src/storage/store';
import { createWorkers, installRuntime } from '../workers/worker';
import { cpuWindow, formatOtherThreads, type CpuUsage } from './cpu';
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

const STAGES: readonly StageName[] = [
  'collectRollouts',
  'labelPreferences',
  'trainPrm',
  'computeStepAdvantages',
  'trainPolicy',
  'evaluate',
];
type Stage = StageName;

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
    // Equal work is the premise of the ratio: both passes must have sampled the same episodes.
    [`${name}/rollout_steps (in-process | temporal)`]: `${direct.steps} | ${durable.steps}`,
    [`${name}/action_tokens (in-process | temporal)`]: `${direct.actionTokens} | ${durable.actionTokens}`,
    [`${name}/activity_retries (temporal)`]: durable.retries ?? 0,
  };
  for (const stage of STAGES) {
    rows[`${name}/${stage}_s (in-process | temporal)`] =
      `${round(direct.stages[stage] ?? 0)} | ${round(durable.stages[stage] ?? 0)}`;
  }
  Object.assign(rows, cpuRows(name, direct, durable));
  return rows;
}

export const benchPipelineDefault = () => benchPipeline(PIPELINE_DEFAULT_BENCH_CONFIG, 'pipeline-default');

/** How much work a pass did: rollout steps and action tokens over all iterations (equal in both passes). */
interface Workload {
  steps: number;
  actionTokens: number;
}

interface Timings {
  /**
   * Seconds per training iteration: from the first iteration's rollouts to the last iteration's evaluation
   * (the SFT base, its evaluation and the closing report are outside the window).
   */
  perIteration: number;
  /** Seconds per iteration spent in each stage. */
  stages: Partial<Record<Stage, number>>;
  /** Activity attempts beyond the first inside the window (a retry repeats work; 0 for equal work). */
  retries?: number;
  /** Where the CPU went over the whole pass (SFT included), with its wall seconds; Linux only. */
  cpu?: { usage: CpuUsage; wallSeconds: number };
}

/**
 * Rates over each whole pass (the passes' windows differ by the base evaluation and the report, so
 * shares, not sums): the share of its wall time the main thread ran and waited for a core, the cores
 * the process's other threads and the servers used.
 */
function cpuRows(name: string, direct: Timings, durable: Timings): Record<string, string> {
  if (!direct.cpu || !durable.cpu) return {};
  const share = (t: Timings, f: (u: CpuUsage) => number) => (f(t.cpu!.usage) / t.cpu!.wallSeconds).toFixed(3);
  const other = (u: CpuUsage) => Object.values(u.otherThreads).reduce((a, b) => a + b, 0);
  const servers = (u: CpuUsage) => Object.values(u.processes).reduce((a, b) => a + b, 0);
  return {
    [`${name}/main_thread_running_share (in-process | temporal)`]: `${share(direct, (u) => u.mainRunSeconds)} | ${share(durable, (u) => u.mainRunSeconds)}`,
    [`${name}/main_thread_waiting_for_core_share (in-process | temporal)`]: `${share(direct, (u) => u.mainWaitSeconds)} | ${share(durable, (u) => u.mainWaitSeconds)}`,
    [`${name}/other_threads_cores (in-process | temporal)`]: `${share(direct, other)} | ${share(durable, other)}`,
    [`${name}/other_threads_s (temporal)`]: formatOtherThreads(durable.cpu.usage),
    [`${name}/temporal_server_and_minio_cores`]: share(durable, servers),
    // Everything busy on the machine (this process, the servers, anything else) and what the hypervisor took.
    [`${name}/machine_busy_cores (in-process | temporal)`]: `${share(direct, (u) => u.machineBusySeconds)} | ${share(durable, (u) => u.machineBusySeconds)}`,
    [`${name}/machine_steal_cores (in-process | temporal)`]: `${share(direct, (u) => u.machineStealSeconds)} | ${share(durable, (u) => u.machineStealSeconds)}`,
  };
}

/**
 * The workflow's work without Temporal or S3, stage for stage: the same rollout shards (each shard has its own
 * sampling seed, so a different shard count would sample different episodes), the PRM trained against the
 * SFT base as reference, the PRM the config's prmScoring names, the same evaluation schedule. The base
 * policy's evaluation (iteration 0) is outside the timed window in both passes.
 */
async function inProcess(input: RunConfigInput): Promise<Timings & Workload> {
  await initBackend();
  const config = parseRunConfig(input);
  const setup = runSetup(config);
  const cpuSince = cpuWindow();
  const policy = initialPolicy(setup);
  await sftBasePolicy(setup, policy);
  const reference = policy.clone();
  const prm = policy.clone();
  const stages: Partial<Record<Stage, number>> = {};
  const workload = { steps: 0, actionTokens: 0 };
  const timed: StageRunner = async (stage, fn) => {
    const t = performance.now();
    const out = await fn();
    stages[stage] = (stages[stage] ?? 0) + (performance.now() - t) / 1000 / config.iterations;
    return out;
  };
  const start = performance.now();
  for (let it = 1; it <= config.iterations; it++) {
    const { batch } = await iterationInProcess(setup, { policy, prm, reference }, it, timed);
    for (const g of batch.groups)
      for (const t of g.trajectories)
        for (const s of t.steps) {
          workload.steps++;
          workload.actionTokens += s.action.length;
        }
  }
  const perIteration = (performance.now() - start) / 1000 / config.iterations;
  const cpu = cpuSince();
  [policy, prm, reference].forEach((m) => m.dispose());
  return { perIteration, stages, ...workload, cpu };
}

async function onTemporal(input: RunConfigInput): Promise<Timings & Workload> {
  installRuntime();
  const stack = await startEphemeralStack();
  const connection = await Connection.connect({ address: stack.temporal.address });
  const native = await NativeConnection.connect({ address: stack.temporal.address });
  try {
    const client = new Client({ connection });
    const store = ArtifactStore.fromSettings(stack.s3);
    const workers = await createWorkers(['workflow', 'rollout', 'trainer'], {
      connection: native,
      namespace: 'default',
      store,
    });
    const running = workers.map((w) => w.run());
    try {
      const experimentId = `bench-pipeline-${Date.now()}`;
      const cpuSince = cpuWindow(stack.pids);
      const handle = await client.workflow.start('istarTraining', {
        taskQueue: 'istar',
        workflowId: experimentId,
        args: [{ ...input, experimentId }],
      });
      await handle.result();
      const cpu = cpuSince();
      return {
        cpu,
        ...(await timingsFromHistory(handle, parseRunConfig(input).iterations)),
        ...(await storedWorkload(store, experimentId)),
      };
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
  const typeOf = new Map<string, string>();
  const startedAt = new Map<string, number>();
  const stages: Partial<Record<Stage, number>> = {};
  // The window opens when the first iteration's rollouts are scheduled (after the SFT base and its
  // evaluation) and closes when the last stage activity completes (before the closing report).
  let start: number | undefined;
  let end = 0;
  let retries = 0;
  for (const e of history.events ?? []) {
    const id = String(e.eventId);
    const at = seconds(e.eventTime);
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const type = scheduled.activityType?.name ?? '';
      if (type === 'collectRollouts') start ??= at;
      if (start !== undefined) typeOf.set(id, type);
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      startedAt.set(String(started.scheduledEventId), at);
      if (typeOf.has(String(started.scheduledEventId))) retries += Math.max(0, (started.attempt ?? 1) - 1);
    }
    const done = e.activityTaskCompletedEventAttributes;
    const type = done ? typeOf.get(String(done.scheduledEventId)) : undefined;
    if (done && type && (STAGES as readonly string[]).includes(type)) {
      const began = startedAt.get(String(done.scheduledEventId)) ?? at;
      stages[type as Stage] = (stages[type as Stage] ?? 0) + (at - began) / iterations;
      end = at;
    }
  }
  if (start === undefined) throw new Error('bench: the workflow history has no collectRollouts activity');
  return { perIteration: (end - start) / iterations, stages, retries };
}

/** Rollout steps and action tokens of every shard the run stored. */
async function storedWorkload(store: ArtifactStore, experimentId: string): Promise<Workload> {
  const workload = { steps: 0, actionTokens: 0 };
  for (const key of await store.list(`experiments/${experimentId}/iterations/`)) {
    if (!key.includes('/rollouts/')) continue;
    for (const g of decodeBatch(await store.getBytes(key)).groups)
      for (const t of g.trajectories)
        for (const s of t.steps) {
          workload.steps++;
          workload.actionTokens += s.action.length;
        }
  }
  return workload;
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
