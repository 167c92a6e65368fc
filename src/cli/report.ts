import path from 'node:path';
import type { Command } from 'commander';
import { istarHome } from '../../infra/paths';
import { ArtifactStore } from '../storage/store';

const reportsDir = () => path.join(istarHome(), 'reports');

/** `istar report <experiment...>` and `istar dashboard`. */
export function registerReportCommands(program: Command): void {
  program
    .command('report')
    .description(
      'write a self-contained HTML training report (learning curves, results, trajectories) of experiments in S3',
    )
    .argument('<experiment...>', 'experiment ids; several are overlaid and grouped by algorithm over seeds')
    .option('--out <dir>', 'output folder (default: <ISTAR_HOME>/reports/<first experiment>)')
    .option('--no-png', 'do not export the charts as PNG')
    .option('--json', 'machine-readable output')
    .action(async (experiments: string[], opts: { out?: string; png: boolean; json?: boolean }) => {
      // vega is loaded only by the commands that draw.
      const { buildReport, writeReport } = await import('../report');
      const store = ArtifactStore.fromEnv();
      const report = await buildReport(store, experiments, { png: opts.png });
      const outDir = path.resolve(opts.out ?? path.join(reportsDir(), experiments[0]));
      const written = await writeReport(store, report, { outDir });
      if (opts.json)
        return console.log(
          JSON.stringify({ ...written, charts: report.charts.map((c) => c.name), warnings: report.warnings }),
        );
      for (const w of report.warnings) console.error(`warning: ${w}`);
      console.log(
        `report of ${report.experiments.length} experiment${report.experiments.length === 1 ? '' : 's'}: ${written.htmlPath}`,
      );
      console.log(`  ${report.charts.length} charts${written.pngPaths.length ? `, PNGs in ${outDir}` : ''}`);
      if (written.s3Key) console.log(`  s3://${store.bucket}/${written.s3Key}`);
      for (const r of report.results)
        console.log(
          `  ${r.env} ${r.label}: held-out success ${r.mean.toFixed(3)} ± ${r.std.toFixed(3)} over ${r.runs.length} seed${r.runs.length === 1 ? '' : 's'}`,
        );
      for (const p of report.paired)
        console.log(
          `  ${p.env} ${p.label} vs ${p.reference} on the same levels (seeds ${p.seeds.join(', ')}): ` +
            `${p.gained} gained, ${p.lost} lost, McNemar z ${p.z.toFixed(1)}`,
        );
    });

  program
    .command('dashboard')
    .description(
      'serve the experiments in S3 and the saved reports on 127.0.0.1; reports are rendered on request',
    )
    .option('--port <n>', 'port', Number, 8321)
    .action(async (opts: { port: number }) => {
      if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)
        throw new Error(`--port must be an integer in 0..65535, got ${opts.port}`);
      const { startDashboard } = await import('../report/dashboard');
      const dashboard = await startDashboard(ArtifactStore.fromEnv(), {
        port: opts.port,
        reportsDir: reportsDir(),
      });
      console.log(`dashboard at ${dashboard.url} (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        const stop = () => void dashboard.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
