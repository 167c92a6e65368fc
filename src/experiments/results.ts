import os from 'node:os';
import { quote } from 'shell-quote';
import type { SweepConfig, SweepInput } from '../config/sweep-config';
import type { PairedRow, ResultRow } from '../report/summary';
import type { SweepRow } from '../../workflows/sweep';
import type { Suite } from './suites';

/**
 * The command that reproduces a sweep, as a user would paste it into a shell: arguments with JSON or spaces
 * (e.g. `--set '{"alpha":0.5}'`) are quoted so the pasted line parses to the same arguments.
 */
export function reproduceCommand(args: readonly string[]): string {
  // Plain words (suite names, ids, comma lists like rloo,rloo+istar) stay as typed; shell-quote escapes commas.
  const shellWord = (a: string) => (/^[\w./,:=+@%-]+$/.test(a) ? a : quote([a]));
  return `npm run experiments -- ${args.map(shellWord).join(' ')}`;
}

/** Command-line overrides of a suite. */
export interface SuiteOverrides {
  iterations?: number;
  seeds?: number[];
  maxConcurrent?: number;
  /** Run only these of the suite's variants (by name). */
  variants?: string[];
  /** Copy this experiment's stored SFT base instead of training one (the sweep's baseFrom). */
  baseFrom?: string;
  /**
   * Run-config fields merged into the suite's base config (objects field by field, e.g. envOptions, model); a
   * null unsets the suite's field, so the run config's default applies.
   */
  set?: Record<string, unknown>;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `over` merged into `base`: nested objects field by field, null deletes the field, anything else replaced. */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k], v) : v;
  }
  return out;
}

/** The suite's sweep with the command line's overrides. */
export function suiteSweep(suite: Suite, opts: SuiteOverrides): SweepInput {
  const base = deepMerge(suite.sweep.base ?? {}, opts.set ?? {});
  if (opts.iterations !== undefined) base.iterations = opts.iterations;
  const all = suite.sweep.variants ?? [];
  const wanted = opts.variants;
  const unknown = (wanted ?? []).filter((v) => !all.some((a) => a.name === v));
  if (unknown.length > 0)
    throw new Error(
      `suite ${suite.name} has no variant ${unknown.join(', ')}; its variants: ${all.map((a) => a.name).join(', ')}`,
    );
  return {
    ...suite.sweep,
    base,
    variants: wanted ? all.filter((a) => wanted.includes(a.name)) : suite.sweep.variants,
    seeds: opts.seeds ?? suite.sweep.seeds,
    maxConcurrent: opts.maxConcurrent ?? suite.sweep.maxConcurrent,
    ...(opts.baseFrom !== undefined ? { baseFrom: opts.baseFrom } : {}),
  };
}

/**
 * Where a sweep as started differs from the sweep a command line describes, field by field ("base.iterations:
 * 3, this command 1"); `maxConcurrent` aside, which changes how fast a sweep runs, not what it runs.
 */
export function sweepDifferences(started: SweepConfig, asked: SweepConfig): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, at: string) => {
    if (isPlainObject(a) && isPlainObject(b)) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)]))
        if (!(at === '' && k === 'maxConcurrent')) walk(a[k], b[k], at ? `${at}.${k}` : k);
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));
      out.push(`${at}: ${show(a)}, this command ${show(b)}`);
    }
  };
  walk(started, asked, '');
  return out;
}

/**
 * The command line without the flags that only change how results are shown (`--so-far`) or where the sweep ran
 * (`--no-worker`): what reproduces the sweep.
 */
export function sweepArgs(args: readonly string[]): string[] {
  return args.filter((a) => a !== '--so-far' && a !== '--no-worker');
}

/** How far a running sweep had got when a `--so-far` table was written. */
export interface SoFar {
  done: number;
  total: number;
  running: string[];
  /** `[iterations finished, iterations]` of each running run, when read. */
  finished?: Record<string, [number, number]>;
}

const f3 = (x: number | null | undefined) => (x === undefined || x === null ? '-' : x.toFixed(3));

/** A `--with` entry: a completed sweep whose runs join the table, all of them or only `variants`' runs. */
export interface JoinedSweep {
  id: string;
  variants?: string[];
}

/**
 * The `--with` list: `<sweepId>` joins every run of a sweep, `<sweepId>:<variant>` only that variant's runs
 * (repeat the entry for more variants), e.g. the RLOO runs of a sweep whose iStar runs had other settings.
 * Variants are checked against the suite's.
 */
export function joinedSweeps(suite: Suite, entries: readonly string[]): JoinedSweep[] {
  const known = (suite.sweep.variants ?? []).map((v) => v.name);
  const out: JoinedSweep[] = [];
  for (const entry of entries) {
    const colon = entry.lastIndexOf(':');
    const id = colon < 0 ? entry : entry.slice(0, colon);
    const variant = colon < 0 ? undefined : entry.slice(colon + 1);
    if (id === '' || variant === '')
      throw new Error(
        `--with ${entry}: expected <sweepId> or <sweepId>:<variant>, e.g. experiments-sokoban:rloo`,
      );
    if (variant !== undefined && !known.includes(variant))
      throw new Error(
        `--with ${entry}: suite ${suite.name} has no variant ${variant}; its variants: ${known.join(', ')}`,
      );
    const seen = out.find((j) => j.id === id);
    if (seen === undefined) out.push(variant === undefined ? { id } : { id, variants: [variant] });
    // The whole sweep once named without a variant; otherwise the union of the variants named.
    else if (variant === undefined) delete seen.variants;
    else if (seen.variants && !seen.variants.includes(variant)) seen.variants.push(variant);
  }
  return out;
}

/**
 * The runs a joined sweep adds: its completed runs, only those of `variants` when given; a variant asked for
 * that the sweep has no completed run of is an error.
 */
export function joinedRuns(other: JoinedSweep & { rows: SweepRow[] }): SweepRow[] {
  const completed = other.rows.filter((r) => r.variant !== 'sft-base' && r.status === 'completed');
  for (const v of other.variants ?? [])
    if (!completed.some((r) => r.variant === v))
      throw new Error(
        `--with ${other.id}:${v}: sweep ${other.id} has no completed ${v} run ` +
          `(its completed runs: ${[...new Set(completed.map((r) => r.variant))].join(', ') || 'none'})`,
      );
  return other.variants ? completed.filter((r) => other.variants!.includes(r.variant)) : completed;
}

/**
 * One table from several sweeps of a suite (`npm run experiments -- <suite> --with <id>`, e.g. a sweep that ran the
 * variants the suite's own sweep could not finish): each other sweep's completed runs (only those of its
 * `variants` when given) take the place of the main sweep's failed run of the same variant and seed, or are added
 * where the main sweep has none. Every sweep must have started from the same SFT base (their base rows' held-out
 * success must agree); the other sweeps' base rows are dropped. A completed run of the same variant and seed in two
 * sweeps is an error (which one counts?), and so is a variant asked for that the sweep has no completed run of.
 */
export function mergeSweepRows(
  main: { id: string; rows: SweepRow[] },
  others: (JoinedSweep & { rows: SweepRow[] })[],
): SweepRow[] {
  const key = (r: SweepRow) => `${r.variant} seed ${r.seed}`;
  const mainBase = main.rows.find((r) => r.variant === 'sft-base');
  const merged = [...main.rows];
  for (const other of others) {
    const base = other.rows.find((r) => r.variant === 'sft-base');
    if ((base === undefined) !== (mainBase === undefined) || base?.finalSuccess !== mainBase?.finalSuccess)
      throw new Error(
        `sweep ${other.id} did not start from the same SFT base as ${main.id} ` +
          `(base held-out success ${f3(base?.finalSuccess)} vs ${f3(mainBase?.finalSuccess)}), so its runs cannot join this table`,
      );
    for (const row of joinedRuns(other)) {
      const at = merged.findIndex((r) => key(r) === key(row));
      if (at < 0) merged.push(row);
      else if (merged[at].status === 'failed') merged[at] = row;
      else
        throw new Error(
          `${key(row)} completed in two sweeps (${merged[at].experimentId} and ${row.experimentId}); merge sweeps with different runs`,
        );
    }
  }
  return merged;
}

/**
 * `--extend-to n`: the rows of a table to extend to `n` iterations in all, its completed runs below `n` (the shared
 * base, failed runs and runs already at `n` stay as they are). A completed run above `n` is an error: the table
 * would no longer compare runs at equal iterations.
 */
export function rowsToExtend(rows: readonly SweepRow[], n: number): SweepRow[] {
  const runs = rows.filter((r) => r.variant !== 'sft-base' && r.status === 'completed');
  const above = runs.filter((r) => (r.iterations ?? 0) > n);
  if (above.length > 0)
    throw new Error(
      `--extend-to ${n}: ${above.map((r) => `${r.experimentId} has ${r.iterations} iterations`).join(', ')} ` +
        `already; extend to at least ${Math.max(...above.map((r) => r.iterations ?? 0))}`,
    );
  if (runs.length === 0) throw new Error(`--extend-to ${n}: the table has no completed run to extend`);
  return runs.filter((r) => (r.iterations ?? 0) < n);
}

/**
 * `--extend-to n` for a run whose storage already holds `n` iterations (extended by another workflow, e.g. `istar
 * extend --id <other>`): its row at `n` from its stored metrics by iteration, as the run's result would give it
 * (held-out success at `n`, or null if `n` was not evaluated; the best of its evaluations up to `n`). Storage
 * beyond `n` is an error: the row would not be the run at `n` that the report's curves show.
 */
export function storedRow(
  row: SweepRow,
  n: number,
  metrics: ReadonlyMap<number, Record<string, number>>,
): SweepRow {
  const last = Math.max(0, ...metrics.keys());
  if (last !== n)
    throw new Error(
      `--extend-to ${n}: ${row.experimentId} has ${last} iterations stored (its run was extended by another workflow); ` +
        `${last > n ? `extend to at least ${last}` : `finish that extension or pass --extend-to ${last}`}`,
    );
  const evals = [...metrics.entries()]
    .filter(([it]) => it <= n)
    .map(([, m]) => m['eval/success_rate'])
    .filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return {
    ...row,
    iterations: n,
    finalSuccess: metrics.get(n)?.['eval/success_rate'] ?? null,
    bestSuccess: evals.length > 0 ? Math.max(...evals) : null,
  };
}

/**
 * Completed runs that storage holds more iterations of than their row says (extended since, e.g. by
 * `--extend-to` or `istar extend`), with what it holds: their table would mix the row's iterations with the
 * report's, which reads the stored runs.
 */
export function extendedSince(
  rows: readonly SweepRow[],
  stored: ReadonlyMap<string, number>,
): { experimentId: string; iterations: number; stored: number }[] {
  return rows
    .filter((r) => r.variant !== 'sft-base' && r.status === 'completed' && r.iterations !== undefined)
    .filter((r) => (stored.get(r.experimentId) ?? 0) > r.iterations!)
    .map((r) => ({
      experimentId: r.experimentId,
      iterations: r.iterations!,
      stored: stored.get(r.experimentId)!,
    }));
}

function pairedMarkdown(paired: readonly PairedRow[]): string[] {
  if (paired.length === 0) return [];
  const ref = paired[0].reference;
  return [
    `Against ${ref} on the same held-out levels (each run's final evaluation against the ${ref} run with the same ` +
      `seed, pooled over seeds; difference = (gained - lost) / levels, McNemar z = (gained - lost) / sqrt(gained + lost)):`,
    '',
    `| method | seeds | levels | gained | lost | difference | McNemar z | reaches ${ref}'s final at iteration |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...paired.map(
      (r) =>
        `| ${r.label} | ${r.seeds.join(', ')} | ${r.levels} | ${r.gained} | ${r.lost} | ${r.difference >= 0 ? '+' : ''}${r.difference.toFixed(3)} | ${r.z.toFixed(1)} | ${r.reachesReferenceAt ?? '-'} |`,
    ),
    '',
  ];
}

/**
 * What a sweep ran, in the suites' own words ("8 methods x 3 seeds, 12 iterations"), the methods named when
 * there are few of them: a suite run with --variants/--seeds/--iterations must not be titled with its full plan.
 */
export function asRun(sweep: SweepInput): string {
  const variants = (sweep.variants ?? []).map((v) => v.name);
  const seeds = sweep.seeds ?? [0];
  const iterations = (sweep.base as { iterations?: unknown } | undefined)?.iterations;
  const methods = variants.length <= 3 ? variants.join(' vs ') || 'no method' : `${variants.length} methods`;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return (
    `${methods} x ${plural(seeds.length, 'seed')}` +
    (typeof iterations === 'number' ? `, ${plural(iterations, 'iteration')}` : '')
  );
}

/** docs/results/<suite>.md: what was measured, on what, how to reproduce it. */
export function resultsMarkdown(args: {
  suite: Suite;
  command: string;
  rows: SweepRow[];
  results: ResultRow[];
  /** Each method against RLOO on the same held-out levels (report.paired). */
  paired?: PairedRow[];
  wallSeconds: number;
  /** When the table merges several sweeps (`--with`): each one's wall time; `wallSeconds` is their sum. */
  sweeps?: { id: string; wallSeconds: number }[];
  charts: string[];
  /** When the sweep (the latest of merged sweeps) finished: the "Measured" line, also when the report is rebuilt later. */
  measuredAt: Date;
  /** The sweep as run (suiteSweep with the command line's overrides): the heading says what ran, not the suite's plan. */
  sweep?: SweepInput;
  /** Set when the sweep was still running (`--so-far`): the table says how many runs it holds. */
  soFar?: SoFar;
}): string {
  const { suite, rows, results } = args;
  const base = rows.find((r) => r.variant === 'sft-base');
  const cpus = os.cpus();
  // Sweeps joined with --with may hold other seeds and variants than this command's: the heading names the rows'.
  const runs = rows.filter((r) => r.variant !== 'sft-base');
  const seeds = [...new Set(runs.map((r) => r.seed))].sort((a, b) => a - b);
  const variants = (suite.sweep.variants ?? []).filter((v) => runs.some((r) => r.variant === v.name));
  const ran = args.sweep
    ? asRun(
        args.sweeps && args.sweeps.length > 1 && seeds.length > 0
          ? { ...args.sweep, seeds, variants }
          : args.sweep,
      )
    : undefined;
  const asPlanned = ran === undefined || ran === asRun(suite.sweep);
  const lines = [
    `# ${suite.name}: ${asPlanned ? suite.description : ran}`,
    '',
    ...(asPlanned ? [] : [`Part of the suite (${suite.description}), as the command below selected.`, '']),
    `Measured ${args.measuredAt.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus[0]?.model ?? 'unknown CPU'} ` +
      `(${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB), TensorFlow.js wasm backend; ` +
      `wall time ${Math.round(args.wallSeconds / 60)} min` +
      (args.sweeps && args.sweeps.length > 1
        ? ` (${args.sweeps.map((w) => `${w.id} ${Math.round(w.wallSeconds / 60)} min`).join(', ')}).`
        : '.'),
    '',
    ...(args.soFar
      ? [
          `**So far**: ${args.soFar.done} of ${args.soFar.total} runs had ended when this was written, and the sweep ` +
            `was still running (${args.soFar.running.join(', ') || 'between runs'}); wall time and "Measured" are ` +
            `as of then. Run the command below to attach to the sweep and write the full table when it ends.`,
          '',
        ]
      : []),
    `Reproduce: \`${args.command}\``,
    '',
  ];
  if (base)
    lines.push(`Shared SFT base (${base.experimentId}): held-out success ${f3(base.finalSuccess)}.`, '');
  lines.push(
    '| method | seeds | final held-out success (mean ± std) | per seed |',
    '| --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.label} | ${r.seeds.join(', ')} | ${r.mean.toFixed(3)} ± ${r.std.toFixed(3)} | ${r.values.map((v: number) => v.toFixed(3)).join(', ')} |`,
    ),
    '',
    ...pairedMarkdown(args.paired ?? []),
    'Every run:',
    '',
    '| run | variant | seed | iterations | final | best | status |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.experimentId} | ${r.variant} | ${r.seed} | ${r.iterations ?? '-'} | ${f3(r.finalSuccess)} | ${f3(r.bestSuccess)} | ${r.status === 'failed' ? `failed: ${r.error}` : 'ok'} |`,
    ),
    '',
    `Report: [${suite.name}/index.html](${suite.name}/index.html)`,
    '',
    ...args.charts.map((c) => `![${c}](${suite.name}/${c}.png)`),
    '',
  );
  return lines.join('\n');
}
