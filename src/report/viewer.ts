import type { ExperimentData, Trajectory, TrajectoryStep } from './load';
import { escapeHtml, fmt, heatColour } from './format';

/**
 * The trajectory viewer: every shown episode is rendered server-side (so the page works without scripts);
 * a little script shows one episode and, optionally, one step at a time. Step colours come from the step's
 * implicit reward (or mean token advantage) when the advantage stage stored one, else from the env reward.
 */

export interface ViewerOptions {
  /** Held-out episodes shown per run. */
  maxHeldOutEpisodes?: number;
}

interface ViewerEpisode {
  run: string;
  kind: string;
  title: string;
  trajectory: Trajectory;
  /** What the heat colour shows. */
  heatName: string;
  heat: (step: TrajectoryStep) => number | undefined;
}

function episodesOf(exp: ExperimentData, maxHeldOut: number): ViewerEpisode[] {
  const out: ViewerEpisode[] = [];
  const outcome = (t: Trajectory) =>
    `${t.success ? 'solved' : 'failed'}, score ${fmt(t.score, 2)}, ${t.steps.length} steps`;
  for (const t of exp.training?.trajectories ?? []) {
    const implicit = t.steps.some((s) => s.stepReward !== undefined);
    out.push({
      run: exp.id,
      kind: 'training',
      title: `training it ${exp.training!.iteration} · group ${t.group} rollout ${t.rollout} · seed ${t.seed} · ${outcome(t)}`,
      trajectory: t,
      heatName: implicit ? 'step reward' : 'advantage',
      heat: implicit ? (s) => s.stepReward : (s) => s.advantage,
    });
  }
  for (const t of (exp.evaluation?.episodes ?? []).slice(0, maxHeldOut)) {
    out.push({
      run: exp.id,
      kind: 'held-out',
      title: `held-out it ${exp.evaluation!.iteration} · seed ${t.seed} · ${outcome(t)}`,
      trajectory: t,
      heatName: 'env reward',
      heat: (s) => s.reward,
    });
  }
  return out;
}

function stepHtml(step: TrajectoryStep, index: number, colour: string): string {
  const extra = [
    `reward ${fmt(step.reward, 3)}`,
    step.stepReward !== undefined ? `step reward ${fmt(step.stepReward, 4)}` : '',
    step.advantage !== undefined ? `advantage ${fmt(step.advantage, 4)}` : '',
    step.valid ? '' : '<span class="invalid">invalid action</span>',
  ].filter(Boolean);
  return (
    `<li class="step" data-step="${index}" style="border-left-color: ${colour}">` +
    `<div class="step-head" style="background: ${colour}"><b>step ${index + 1}</b> action <code>${escapeHtml(step.action)}</code> · ${extra.join(' · ')}</div>` +
    `<pre class="obs">${escapeHtml(step.observation)}</pre></li>`
  );
}

function episodeHtml(ep: ViewerEpisode, id: string): string {
  const values = ep.trajectory.steps.map(ep.heat);
  const scale = Math.max(0, ...values.map((v) => (v === undefined ? 0 : Math.abs(v))));
  const colours = values.map((v) => heatColour(v, scale));
  const cells = ep.trajectory.steps
    .map(
      (_, i) =>
        `<button type="button" class="cell" data-step="${i}" style="background: ${colours[i]}" title="step ${i + 1}: ${escapeHtml(ep.heatName)} ${fmt(values[i], 4)}">${i + 1}</button>`,
    )
    .join('');
  return (
    `<section class="episode" id="${id}" data-run="${escapeHtml(ep.run)}">` +
    `<h3>${escapeHtml(ep.run)} — ${escapeHtml(ep.title)}</h3>` +
    `<p class="legend">colour: ${escapeHtml(ep.heatName)}, green positive, red negative, scaled to this episode's largest |value| (${fmt(scale, 4)})</p>` +
    `<div class="timeline">${cells}</div>` +
    `<ol class="steps">${ep.trajectory.steps.map((s, i) => stepHtml(s, i, colours[i])).join('')}</ol></section>`
  );
}

export function viewerHtml(experiments: readonly ExperimentData[], options: ViewerOptions = {}): string {
  const max = options.maxHeldOutEpisodes ?? 24;
  const byRun = experiments.map((exp) => ({ exp, episodes: episodesOf(exp, max) }));
  let k = 0;
  const ids = byRun.map(({ episodes }) => episodes.map(() => `episode-${k++}`));
  if (k === 0)
    return '<p>No stored episodes: no held-out evaluation or training rollouts with advantages yet.</p>';
  const choices = byRun
    .map(
      ({ exp, episodes }, r) =>
        `<optgroup label="${escapeHtml(exp.id)}">` +
        episodes.map((ep, e) => `<option value="${ids[r][e]}">${escapeHtml(ep.title)}</option>`).join('') +
        '</optgroup>',
    )
    .join('');
  const sections = byRun
    .flatMap(({ episodes }, r) => episodes.map((ep, e) => episodeHtml(ep, ids[r][e])))
    .join('');
  return (
    `<div id="viewer" class="viewer">` +
    `<div class="controls"><label>episode <select id="episode-select">${choices}</select></label> ` +
    `<button type="button" id="step-prev">◀ prev</button> <span id="step-label"></span> <button type="button" id="step-next">next ▶</button> ` +
    `<label><input type="checkbox" id="one-step" checked> one step at a time</label></div>` +
    `${sections}</div>`
  );
}

/** Inline script of the viewer (no dependencies). */
export const VIEWER_SCRIPT = `
(() => {
  const viewer = document.getElementById('viewer');
  const select = document.getElementById('episode-select');
  if (!viewer || !select) return;
  const oneStep = document.getElementById('one-step');
  const label = document.getElementById('step-label');
  let step = 0;
  function render() {
    const current = document.getElementById(select.value);
    viewer.querySelectorAll('.episode').forEach((e) => { e.hidden = e !== current; });
    if (!current) return;
    const steps = current.querySelectorAll('.step');
    step = Math.max(0, Math.min(step, steps.length - 1));
    steps.forEach((s, i) => s.classList.toggle('current', i === step));
    current.querySelectorAll('.cell').forEach((c, i) => c.classList.toggle('current', i === step));
    label.textContent = steps.length ? 'step ' + (step + 1) + ' / ' + steps.length : 'no steps';
    viewer.classList.toggle('one-step', oneStep.checked);
  }
  const move = (delta) => { step += delta; render(); };
  select.addEventListener('change', () => { step = 0; render(); });
  oneStep.addEventListener('change', render);
  document.getElementById('step-prev').addEventListener('click', () => move(-1));
  document.getElementById('step-next').addEventListener('click', () => move(1));
  viewer.addEventListener('click', (e) => {
    const cell = e.target.closest('.cell');
    if (cell) { step = Number(cell.dataset.step); render(); }
  });
  viewer.addEventListener('keydown', (e) => {
    if (e.target === select) return;
    if (e.key === 'ArrowLeft') move(-1);
    if (e.key === 'ArrowRight') move(1);
  });
  viewer.classList.add('js');
  render();
})();
`;
