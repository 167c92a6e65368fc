import type { RenderedChart } from './charts';
import { escapeHtml, fmt } from './format';
import type { ExperimentData } from './load';
import { bestValue, finalSuccess, lastValue, METRICS, type PairedRow, type ResultRow } from './summary';
import { VIEWER_SCRIPT, viewerHtml, type ViewerOptions } from './viewer';

/** One self-contained page: inline CSS, inline SVG charts, a small inline script; nothing is fetched. */

export interface ReportPage {
  experiments: readonly ExperimentData[];
  results: readonly ResultRow[];
  paired?: readonly PairedRow[];
  charts: readonly RenderedChart[];
  /** Problems worth showing (unreadable artifacts, PNG export unavailable). */
  warnings: readonly string[];
  generatedAt: Date;
  viewer?: ViewerOptions;
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1280px; padding: 1rem 1.5rem 3rem; color: #1f2328; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2rem; }
h3 { font-size: 1rem; margin: 0.8rem 0 0.3rem; }
.meta, .legend { color: #59636e; font-size: 0.85rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; }
.warnings { background: #fff8c5; border: 1px solid #d4a72c; padding: 0.5rem 1rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.chart { flex: 0 0 auto; margin: 0; max-width: 100%; overflow-x: auto; border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5rem; background: white; }
.chart svg { display: block; }
.controls { position: sticky; top: 0; background: white; padding: 0.5rem 0; border-bottom: 1px solid #d0d7de; z-index: 1; }
.viewer:not(.js) .controls { display: none; }
.timeline { display: flex; flex-wrap: wrap; gap: 2px; margin: 0.3rem 0; }
.cell { min-width: 2rem; border: 1px solid #d0d7de; border-radius: 3px; font: inherit; font-size: 0.75rem; cursor: pointer; }
.cell.current { outline: 2px solid #0969da; }
.steps { list-style: none; padding: 0; }
.step { border-left: 6px solid transparent; margin: 0.4rem 0; padding-left: 0.5rem; }
.step.current { box-shadow: -2px 0 0 #0969da; }
.one-step .step:not(.current) { display: none; }
.step-head { padding: 0.15rem 0.4rem; border-radius: 3px; }
.obs { font: 13px/1.25 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #f6f8fa; padding: 0.5rem; margin: 0.3rem 0; overflow-x: auto; white-space: pre; }
.invalid { color: #cf222e; font-weight: 600; }
`;

function runsTable(experiments: readonly ExperimentData[]): string {
  const head = [
    'experiment',
    'method',
    'env',
    'seed',
    'iterations',
    'α',
    'β',
    'held-out success (final)',
    'best',
    'rollout success (final)',
  ];
  const num = (x: unknown) => (typeof x === 'number' ? String(x) : '–');
  const rows = experiments.map((exp) => {
    const final = finalSuccess(exp);
    const last = exp.iterations.at(-1)!.iteration;
    const planned = typeof exp.config.iterations === 'number' ? `/${exp.config.iterations}` : '';
    const cells = [
      escapeHtml(exp.id),
      escapeHtml(exp.label),
      escapeHtml(exp.env),
      String(exp.seed),
      `${last}${planned}`,
      num(exp.config.alpha),
      num(exp.config.beta),
      final ? `${fmt(final.value)} <span class="meta">(it ${final.iteration})</span>` : '–',
      fmt(bestValue(exp, METRICS.heldOutSuccess)),
      fmt(lastValue(exp, METRICS.rolloutSuccess)?.value),
    ];
    return `<tr>${cells.map((c, i) => `<td${i >= 3 ? ' class="num"' : ''}>${c}</td>`).join('')}</tr>`;
  });
  return `<table class="runs"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function resultsTable(results: readonly ResultRow[]): string {
  if (results.length === 0) return '<p>No held-out evaluation recorded yet.</p>';
  const rows = results.map(
    (r) =>
      `<tr><td>${escapeHtml(r.env)}</td><td>${escapeHtml(r.label)}</td><td class="num">${r.runs.length}</td>` +
      `<td class="num result">${fmt(r.mean)} ± ${fmt(r.std)}</td>` +
      `<td class="meta">${r.runs.map((run, i) => `${escapeHtml(run)} (seed ${r.seeds[i]}): ${fmt(r.values[i])}`).join('<br>')}</td></tr>`,
  );
  return (
    '<table class="results"><thead><tr><th>env</th><th>method</th><th>seeds</th><th>final held-out success (mean ± std)</th><th>per seed</th></tr></thead>' +
    `<tbody>${rows.join('')}</tbody></table>` +
    '<p class="legend">Final = the last held-out evaluation of each run; std is the sample standard deviation over seeds (n − 1; 0 for one seed).</p>'
  );
}

function pairedHtml(paired: readonly PairedRow[]): string {
  if (paired.length === 0) return '';
  const rows = paired.map(
    (r) =>
      `<tr><td>${escapeHtml(r.env)}</td><td>${escapeHtml(r.label)}</td><td class="num">${r.seeds.join(', ')}</td>` +
      `<td class="num">${r.levels}</td><td class="num">${r.gained}</td><td class="num">${r.lost}</td>` +
      `<td class="num paired">${r.difference >= 0 ? '+' : ''}${fmt(r.difference)}</td><td class="num">${r.z.toFixed(1)}</td>` +
      `<td class="num">${r.reachesReferenceAt ?? '-'}</td></tr>`,
  );
  const ref = escapeHtml(paired[0].reference);
  return (
    `<h3>Against ${ref} on the same held-out levels</h3>` +
    `<table class="paired"><thead><tr><th>env</th><th>method</th><th>seeds</th><th>levels</th><th>gained</th><th>lost</th><th>difference</th><th>McNemar z</th><th>reaches ${ref}'s final at iteration</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table>` +
    `<p class="legend">Each run's final evaluation against the ${ref} run with the same seed (the same held-out levels), pooled over seeds: levels the method solved and ${ref} did not (gained) and the reverse (lost); difference = (gained − lost) / levels; McNemar z = (gained − lost) / √(gained + lost). The last column is the first evaluated iteration at which the method's mean over seeds reaches ${ref}'s final mean.</p>`
  );
}

export function reportHtml(page: ReportPage): string {
  const ids = page.experiments.map((e) => e.id);
  const title = `iStar training report: ${ids.length <= 3 ? ids.join(', ') : `${ids.length} experiments`}`;
  const warnings = page.warnings.length
    ? `<div class="warnings"><b>Warnings</b><ul>${page.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul></div>`
    : '';
  const charts = page.charts.length
    ? `<div class="charts">${page.charts.map((c) => `<figure class="chart" id="chart-${escapeHtml(c.name)}">${c.svg}</figure>`).join('')}</div>` +
      '<p class="legend">Thin lines: single runs. Bold lines: mean over the seeds of a method; band: min–max over those seeds.</p>'
    : '<p>No metrics to chart.</p>';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">Generated ${escapeHtml(page.generatedAt.toISOString())} from ${page.experiments.length} experiment${page.experiments.length === 1 ? '' : 's'}.</p>
${warnings}
<h2>Runs</h2>
${runsTable(page.experiments)}
<h2>Results</h2>
${resultsTable(page.results)}
${pairedHtml(page.paired ?? [])}
<h2>Learning curves</h2>
${charts}
<h2>Trajectories</h2>
${viewerHtml(page.experiments, page.viewer)}
<script>${VIEWER_SCRIPT}</script>
</body>
</html>
`;
}
