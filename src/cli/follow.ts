import cliProgress from 'cli-progress';
import type { WorkflowHandle } from '@temporalio/client';
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

type TrainingHandle = WorkflowHandle<(input?: unknown) => Promise<TrainingResult>>;

/**
 * Follow a run until it ends: a progress bar over iterations with the current stage, a metric line per
 * completed iteration (or a JSON object per line with --json), and the result.
 */
export async function followRun(
  handle: TrainingHandle,
  options: OutputOptions & { intervalMs?: number; log?: (line: string) => void } = {},
): Promise<TrainingResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const interactive = !options.json && !options.quiet && process.stderr.isTTY;
  const bar = interactive
    ? new cliProgress.SingleBar(
        {
          format: 'training [{bar}] {value}/{total} iterations | {stage}',
          hideCursor: true,
          clearOnComplete: true,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let printed = -1;
  let finished = false;
  const result = handle.result().finally(() => (finished = true));
  const report = (progress: Progress) => {
    for (const record of progress.history.filter((h) => h.iteration > printed)) {
      printed = record.iteration;
      if (options.quiet) continue;
      const text = options.json
        ? JSON.stringify({ type: 'iteration', ...record })
        : iterationLine(record, progress.iterations, options.verbose);
      if (bar) bar.stop();
      log(text);
      if (bar) bar.start(progress.iterations, progress.iteration, { stage: progress.stage });
    }
  };
  let started = false;
  while (!finished) {
    try {
      const progress = (await handle.query('progress')) as Progress;
      if (bar && !started) {
        bar.start(progress.iterations, progress.iteration, { stage: progress.stage });
        started = true;
      }
      bar?.update(progress.iteration, { stage: progress.paused ? 'paused' : progress.stage });
      report(progress);
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
