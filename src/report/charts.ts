import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ExperimentData } from './load';
import { bandPoints, methodLabels, runPoints, METRICS, type BandPoint, type RunPoint } from './summary';

/**
 * Learning curves as Vega-Lite specs, rendered to SVG in Node (vega's headless `renderer: 'none'` view, no
 * canvas). Every curve chart overlays all runs: a thin line per run, and per method (runs with the same
 * label, i.e. seeds) a bold mean line with a min-max band over seeds.
 */

/** One learning-curve chart of the registry. */
export interface CurveChart {
  /** File-name-safe id (`<name>.png`). */
  name: string;
  title: string;
  /** Metric name as recorded in iterations/<i>/metrics.json. */
  metric: string;
  yTitle: string;
  /** Fixed y domain, e.g. [0, 1] for rates. */
  domain?: [number, number];
}

export const CURVE_CHARTS: readonly CurveChart[] = [
  {
    name: 'held-out-success',
    title: 'Held-out success rate',
    metric: METRICS.heldOutSuccess,
    yTitle: 'success rate',
    // Fitted, not [0, 1]: methods a few points apart (the paper's claim) are otherwise one line.
  },
  {
    name: 'rollout-success',
    title: 'Training rollout success rate',
    metric: METRICS.rolloutSuccess,
    yTitle: 'success rate',
    domain: [0, 1],
  },
  { name: 'score', title: 'Rollout score', metric: 'rollout/score', yTitle: 'score' },
  { name: 'return', title: 'Rollout episode return', metric: METRICS.rolloutReturn, yTitle: 'return' },
  {
    name: 'episode-length',
    title: 'Rollout episode length',
    metric: 'rollout/episode_length',
    yTitle: 'steps',
  },
  {
    name: 'prm-accuracy',
    title: 'PRM pair accuracy',
    metric: 'prm/accuracy',
    yTitle: 'pairs ranked right',
    domain: [0, 1],
  },
  // The same, on each iteration's new groups scored before the PRM trains on them: how well it generalises.
  {
    name: 'prm-heldout-accuracy',
    title: 'PRM pair accuracy on new rollouts',
    metric: 'prm/heldout_accuracy',
    yTitle: 'pairs ranked right',
    domain: [0, 1],
  },
  // What separates better from worse episodes. The mean step reward (step-vs-episode-reward) can fall while this
  // rises: DPO-style training lowers the log-ratio of preferred and dispreferred episodes both (finding 36).
  {
    name: 'prm-margin',
    title: 'PRM reward margin (preferred - dispreferred episode)',
    metric: 'prm/margin',
    yTitle: 'beta x log-ratio',
  },
  // iStar's alpha as applied (alphaGate 'prm-accuracy' scales it by the PRM's held-out accuracy).
  {
    name: 'step-weight',
    title: 'Step-advantage weight (alpha, eq. 5)',
    metric: 'istar/alpha',
    yTitle: 'alpha',
  },
  { name: 'policy-loss', title: 'Policy loss', metric: 'policy/loss', yTitle: 'loss' },
  { name: 'prm-loss', title: 'PRM loss', metric: 'prm/loss', yTitle: 'loss' },
  { name: 'value-loss', title: 'Value loss (PPO)', metric: 'value/loss', yTitle: 'loss' },
];

/** Mean per-step reward the advantage stage logged: iStar's implicit reward (eq. (1)) or PRIME's. */
export const STEP_REWARD_METRICS = ['istar/step_reward_mean', 'prime/step_reward_mean'] as const;

export interface ChartSpec {
  name: string;
  title: string;
  spec: TopLevelSpec;
}

export interface RenderedChart extends ChartSpec {
  svg: string;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const WIDTH = 420;
const HEIGHT = 220;
// Fonts present in browsers and on most Linux machines (resvg needs one it can load for the PNGs).
const CONFIG = {
  font: 'Helvetica, Arial, "Liberation Sans", "DejaVu Sans", sans-serif',
  view: { stroke: null },
  // The legend takes its symbol from the first layer, the faint band: draw it opaque. Ablation labels
  // (istar/merged-rewards) are longer than vega's default 160 px label limit.
  legend: { symbolOpacity: 1, labelLimit: 300 },
};

const xIteration = {
  field: 'iteration',
  type: 'quantitative',
  title: 'iteration',
  axis: { tickMinStep: 1, format: 'd' },
} as const;

/** Colour by method over every label of the report (same colour in every chart); the legend lists `shown`. */
const colourBy = (labels: string[], shown: string[] = labels) =>
  ({
    field: 'label',
    type: 'nominal',
    title: 'method',
    scale: { domain: labels },
    legend: { values: shown },
  }) as const;

/** Overlaid curves of one metric: per-run lines, per-method mean line and min-max band over seeds. */
export function curveSpec(
  chart: CurveChart,
  points: RunPoint[],
  bands: BandPoint[],
  labels: string[],
): TopLevelSpec {
  const yScale = chart.domain ? { domain: chart.domain } : { zero: false };
  const color = colourBy(labels, [...new Set(points.map((p) => p.label))]);
  return {
    $schema: SCHEMA,
    title: chart.title,
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    layer: [
      {
        data: { values: bands },
        mark: { type: 'area', opacity: 0.18 },
        encoding: {
          x: xIteration,
          y: {
            field: 'min',
            type: 'quantitative',
            title: chart.yTitle,
            scale: yScale,
            axis: { format: '~g' },
          },
          y2: { field: 'max' },
          color,
        },
      },
      {
        data: { values: points },
        mark: { type: 'line', strokeWidth: 1, opacity: 0.4 },
        encoding: {
          x: xIteration,
          y: { field: 'value', type: 'quantitative' },
          color,
          detail: { field: 'run', type: 'nominal' },
        },
      },
      {
        data: { values: bands },
        mark: { type: 'line', strokeWidth: 2.5, point: true },
        encoding: { x: xIteration, y: { field: 'mean', type: 'quantitative' }, color },
      },
    ],
  };
}

/** Mean step reward (solid, left axis) against mean episode return (dashed, right axis), per method. */
export function stepRewardSpec(step: BandPoint[], episode: BandPoint[], labels: string[]): TopLevelSpec {
  const color = colourBy(labels, [...new Set(step.map((p) => p.label))]);
  return {
    $schema: SCHEMA,
    title: 'Step reward vs episode reward',
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    layer: [
      {
        data: { values: step },
        mark: { type: 'line', strokeWidth: 2.5, point: true },
        encoding: {
          x: xIteration,
          y: {
            field: 'mean',
            type: 'quantitative',
            title: 'mean step reward (solid)',
            scale: { zero: false },
          },
          color,
        },
      },
      {
        data: { values: episode },
        mark: { type: 'line', strokeWidth: 2, strokeDash: [6, 4] },
        encoding: {
          x: xIteration,
          y: {
            field: 'mean',
            type: 'quantitative',
            title: 'mean episode return (dashed)',
            scale: { zero: false },
            axis: { orient: 'right' },
          },
          color,
        },
      },
    ],
    resolve: { scale: { y: 'independent' } },
  };
}

/** One small chart per run: held-out and training-rollout success. */
export function perRunSpec(experiments: readonly ExperimentData[]): TopLevelSpec {
  const series = [
    { metric: METRICS.heldOutSuccess, name: 'held-out' },
    { metric: METRICS.rolloutSuccess, name: 'rollout' },
  ];
  const values = series.flatMap(({ metric, name }) =>
    runPoints(experiments, metric).map((p) => ({ ...p, run: `${p.run} (${p.label})`, series: name })),
  );
  return {
    $schema: SCHEMA,
    title: 'Success per run',
    config: CONFIG,
    data: { values },
    columns: 3,
    facet: { field: 'run', type: 'nominal', title: null, header: { labelLimit: 260 } },
    spec: {
      width: 220,
      height: 120,
      mark: { type: 'line', point: true },
      encoding: {
        x: xIteration,
        y: { field: 'value', type: 'quantitative', title: 'success rate', scale: { domain: [0, 1] } },
        color: {
          field: 'series',
          type: 'nominal',
          title: 'success',
          scale: { domain: ['held-out', 'rollout'] },
        },
      },
    },
  };
}

/** Every chart the experiments have data for, in registry order. */
export function chartSpecs(experiments: readonly ExperimentData[]): ChartSpec[] {
  const labels = methodLabels(experiments);
  const charts: ChartSpec[] = [];
  for (const chart of CURVE_CHARTS) {
    const points = runPoints(experiments, chart.metric);
    if (points.length === 0) continue;
    charts.push({
      name: chart.name,
      title: chart.title,
      spec: curveSpec(chart, points, bandPoints(points), labels),
    });
  }
  const stepPoints = STEP_REWARD_METRICS.flatMap((m) => runPoints(experiments, m));
  if (stepPoints.length > 0) {
    const withSteps = new Set(stepPoints.map((p) => p.run));
    const returns = runPoints(
      experiments.filter((e) => withSteps.has(e.id)),
      METRICS.rolloutReturn,
    );
    charts.push({
      name: 'step-vs-episode-reward',
      title: 'Step reward vs episode reward',
      spec: stepRewardSpec(bandPoints(stepPoints), bandPoints(returns), labels),
    });
  }
  if (experiments.some((e) => e.iterations.some((r) => r.metrics[METRICS.heldOutSuccess] !== undefined)))
    charts.push({ name: 'per-run-success', title: 'Success per run', spec: perRunSpec(experiments) });
  return charts;
}

/**
 * Render a Vega-Lite spec to an SVG string. Vega numbers clip paths from a process-wide counter, so ids are
 * prefixed with `idPrefix` to keep them unique when several SVGs are inlined in one page.
 */
export async function renderSvg(spec: TopLevelSpec, idPrefix: string): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none', logLevel: vega.Warn });
  try {
    const svg = await view.toSVG();
    const prefix = idPrefix.replace(/[^A-Za-z0-9_-]/g, '_');
    return svg
      .replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`)
      .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`);
  } finally {
    view.finalize();
  }
}

export async function renderCharts(experiments: readonly ExperimentData[]): Promise<RenderedChart[]> {
  const out: RenderedChart[] = [];
  for (const chart of chartSpecs(experiments))
    out.push({ ...chart, svg: await renderSvg(chart.spec, chart.name) });
  return out;
}
