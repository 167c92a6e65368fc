import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { reportKey } from '../storage/keys';
import type { ArtifactStore } from '../storage/store';
import { renderCharts, type RenderedChart } from './charts';
import { reportHtml } from './html';
import { loadExperiments, type ExperimentData, type LoadOptions } from './load';
import { loadPngRenderer } from './png';
import { pairedTable, resultsTable, type PairedRow, type ResultRow } from './summary';
import type { ViewerOptions } from './viewer';

export { listExperimentIds, loadExperiment, loadExperiments, ReportInputError } from './load';
export type { ExperimentData } from './load';

/** `istar report`: a self-contained HTML training report of one or more experiments. */

export interface ReportOptions extends LoadOptions, ViewerOptions {
  /** Render every chart to PNG too (default true; skipped with a warning when resvg is unavailable). */
  png?: boolean;
  now?: Date;
}

export interface Report {
  html: string;
  /** `<chart name>` -> PNG bytes. */
  pngs: Record<string, Buffer>;
  charts: RenderedChart[];
  experiments: ExperimentData[];
  results: ResultRow[];
  /** Each method against RLOO on the same held-out levels (empty without RLOO runs). */
  paired: PairedRow[];
  warnings: string[];
}

export async function buildReport(
  store: ArtifactStore,
  experimentIds: readonly string[],
  options: ReportOptions = {},
): Promise<Report> {
  const experiments = await loadExperiments(store, experimentIds, options);
  const charts = await renderCharts(experiments);
  const results = resultsTable(experiments);
  const paired = pairedTable(experiments);
  const warnings = experiments.flatMap((e) => e.warnings.map((w) => `${e.id}: ${w}`));
  const pngs: Record<string, Buffer> = {};
  if (options.png ?? true) {
    const renderer = await loadPngRenderer();
    if ('render' in renderer) for (const chart of charts) pngs[chart.name] = renderer.render(chart.svg);
    else warnings.push(renderer.error);
  }
  const html = reportHtml({
    experiments,
    results,
    paired,
    charts,
    warnings,
    generatedAt: options.now ?? new Date(),
    viewer: options,
  });
  return { html, pngs, charts, experiments, results, paired, warnings };
}

export interface WrittenReport {
  /** Local index.html. */
  htmlPath: string;
  pngPaths: string[];
  /** S3 key of the uploaded index.html (single-experiment reports). */
  s3Key?: string;
}

/**
 * Write `<outDir>/index.html` and `<outDir>/<chart>.png`; a single experiment's report is also uploaded to
 * `experiments/<id>/report/` (index.html and the PNGs) unless `upload` is false.
 */
export async function writeReport(
  store: ArtifactStore,
  report: Report,
  options: { outDir: string; upload?: boolean },
): Promise<WrittenReport> {
  await mkdir(options.outDir, { recursive: true });
  const htmlPath = path.join(options.outDir, 'index.html');
  await writeFile(htmlPath, report.html);
  const pngPaths: string[] = [];
  for (const [name, png] of Object.entries(report.pngs)) {
    const file = path.join(options.outDir, `${name}.png`);
    await writeFile(file, png);
    pngPaths.push(file);
  }
  let s3Key: string | undefined;
  if (report.experiments.length === 1 && (options.upload ?? true)) {
    s3Key = reportKey(report.experiments[0].id);
    const folder = s3Key.slice(0, -'index.html'.length);
    for (const [name, png] of Object.entries(report.pngs))
      await store.putBytes(`${folder}${name}.png`, png, 'image/png');
    await store.putText(s3Key, report.html, 'text/html; charset=utf-8');
  }
  return { htmlPath, pngPaths, s3Key };
}
