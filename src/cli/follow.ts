import cliProgress from 'cli-progress';
import type { WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { IterationRecord, Progress, TrainingResult } from '../../workflows/training';

/** Output levels of the CLI: --json (machine-readable lines), --quiet (final line only), --verbose. */
export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

const fmt = (x: number | undefined, digits = 3) =>
  x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);

/** One line per iteration, CleanRL-style metric names shortened. */
export function iterationLine(record: IterationRecord, total: number, verbose = false): string {
  const m = record.metrics;
  const parts = [
    `iteration ${record.iteration}/${total}`,
    `rollout success ${fmt(m['rollout/success_rate'])}`,
    `eval success ${fmt(m['eval/success_rate'])}`,
    `return ${fmt(m['rollout/return'] ?? m['eval/return'], 2)}`,
    `length ${fmt(m['rollout/episode_length'] ?? m['eval/episode_length'], 1)}`,
  ];
  if (m['prm/accuracy'] !== undefined) parts.push(`prm acc ${fmt(m['prm/accuracy'], 2)}`);
  if (m['policy/loss'] !== undefined) parts.push(`policy loss ${fmt(m['policy/loss'], 4)}`);
  if (record.iteration === 0 && m['sft/heldout_action_accuracy'] !== undefined)
    parts.push(`sft acc ${fmt(m['sft/heldout_action_accuracy'], 2)}`);
  let line = parts.join(' | ');
  if (verbose)
    line +=
      '\n    ' +
      Object.entries(m)
        .map(([k, v]) => `${k}=${fmt(v, 4)}`)
        .join(' ');
  return line;
}

/**
 * How far the final held-out success is above (or below) the SFT base, in standard errors of the difference
 * of two success rates over `episodes` held-out levels each: "+0.094 over the SFT base (2.0 standard
 * errors, 96 levels)". Undefined when either rate is missing.
 */
export function gainOverBase(
  base: number | undefined,
  final: number | undefined,
  episodes: number | undefined,
): string | undefined {
  if (base === undefined || final === undefined || !Number.isFinite(base) || !Number.isFinite(final))
    return undefined;
  const diff = final - base;
  const sign = diff >= 0 ? '+' : '-';
  const text = `${sign}${Math.abs(diff).toFixed(3)} over the SFT base ${base.toFixed(3)}`;
  if (!episodes || episodes < 1) return text;
  const se = Math.sqrt((base * (1 - base) + final * (1 - final)) / episodes);
  const z = se > 0 ? diff / se : 0;
  return `${text} (${z.toFixed(1)} standard errors, ${episodes} levels)`;
}

/**
 * The same held-out levels before and after, compared level by level (McNemar's test): the levels the final
 * policy solves that the base did not (`gained`), the reverse (`lost`), and z = (gained - lost) /
 * sqrt(gained + lost) (0 when no level changed). Both arrays list one outcome per level, in the same order.
 */
export function pairedGain(
  base: readonly boolean[],
  final: readonly boolean[],
): { gained: number; lost: number; z: number } {
  if (base.length !== final.length || base.length === 0)
    throw new Error(
      `pairedGain: need the outcomes of the same levels before and after (got ${base.length} and ${final.length})`,
    );
  const gained = final.filter((s, i) => s && !base[i]).length;
  const lost = final.filter((s, i) => !s && base[i]).length;
  return { gained, lost, z: gained + lost > 0 ? (gained - lost) / Math.sqrt(gained + lost) : 0 };
}

/** "paired on the same levels: 108 gained, 57 lost, McNemar z 4.0". */
export function pairedText({ gained, lost, z }: ReturnType<typeof pairedGain>): string {
  return `paired on the same levels: ${gained} gained, ${lost} lost, McNemar z ${z.toFixed(1)}`;
}

/**
 * A workflow's pending activities, each with the progress it last heartbeated (the `progress` string of its
 * heartbeat details: `epoch 3/6: step 614/1201`, `12/40`), read from the server: no worker has to answer.
 */
export function pendingProgress(
  description: Pick<WorkflowExecutionDescription, 'raw'>,
): { activity: string; progress?: string }[] {
  return (description.raw.pendingActivities ?? []).map((a) => {
    const payload = a.heartbeatDetails?.payloads?.[0];
    let details: unknown;
    try {
      details = payload ? defaultPayloadConverter.fromPayload(payload as Payload) : undefined;
    } catch {
      details = undefined; // details another converter wrote: the activity alone
    }
    const progress = (details as { progress?: unknown } | null | undefined)?.progress;
    return {
      activity: a.activityType?.name ?? '',
      ...(typeof progress === 'string' && progress !== '' ? { progress } : {}),
    };
  });
}

/**
 * A run's stage for its progress bar, with how far the stage's activity has got when it heartbeated that:
 * `sftBasePolicy (epoch 3/6: step 614/1201)`, `trainPolicy (12/40)`; the stage alone otherwise.
 */
export function stageText(stage: string, description?: Pick<WorkflowExecutionDescription, 'raw'>): string {
  const progress = description
    ? pendingProgress(description).find((p) => p.activity === stage && p.progress !== undefined)?.progress
    : undefined;
  return progress === undefined ? stage : `${stage} (${progress})`;
}

type TrainingHandle = WorkflowHandle<(input?: unknown) => Promise<TrainingResult>>;

/**
 * Follow a run until it ends: a progress bar over iterations with the current stage and how far its activity
 * has got (from the activity's last heartbeat, read every `describeEveryMs`), a metric line per completed
 * iteration (or a JSON object per line with --json), and the result.
 */
export async function followRun(
  handle: TrainingHandle,
  options: OutputOptions & {
    intervalMs?: number;
    describeEveryMs?: number;
    log?: (line: string) => void;
    /** The progress bar's stream; a bar is drawn only when it is a terminal (default: stderr). */
    stream?: NodeJS.WriteStream;
  } = {},
): Promise<TrainingResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const stream = options.stream ?? process.stderr;
  const interactive = !options.json && !options.quiet && stream.isTTY;
  const bar = interactive
    ? new cliProgress.SingleBar(
        {
          format: 'training [{bar}] {value}/{total} iterations | {stage}',
          hideCursor: true,
          clearOnComplete: true,
          stream,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let printed = -1;
  let finished = false;
  const result = handle.result().finally(() => (finished = true));
  const report = (progress: Progress, stage = progress.stage) => {
    for (const record of progress.history.filter((h) => h.iteration > printed)) {
      printed = record.iteration;
      if (options.quiet) continue;
      const text = options.json
        ? JSON.stringify({ type: 'iteration', ...record })
        : iterationLine(record, progress.iterations, options.verbose);
      if (bar) bar.stop();
      log(text);
      if (bar) bar.start(progress.iterations, progress.iteration, { stage });
    }
  };
  let started = false;
  // The last description of the run (its pending activities' heartbeats), read at most every describeEveryMs.
  let described: { at: number; description?: WorkflowExecutionDescription } = { at: -Infinity };
  while (!finished) {
    try {
      const progress = (await handle.query('progress')) as Progress;
      if (bar && Date.now() - described.at >= (options.describeEveryMs ?? 5000)) {
        described = { at: Date.now(), description: await handle.describe().catch(() => undefined) };
      }
      const stage = progress.paused ? 'paused' : stageText(progress.stage, described.description);
      if (bar && !started) {
        bar.start(progress.iterations, progress.iteration, { stage });
        started = true;
      }
      bar?.update(progress.iteration, { stage });
      report(progress, stage);
    } catch {
      // No worker yet to answer the query, or the run just closed: try again.
    }
    await Promise.race([
      result.catch(() => undefined),
      new Promise((r) => setTimeout(r, options.intervalMs ?? 1000)),
    ]);
  }
  bar?.stop();
  const final = await result;
  report({ history: final.history, iterations: final.iterations } as Progress);
  return final;
}
