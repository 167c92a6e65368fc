import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { heartbeat } from '@temporalio/activity';
import type { ArtifactStore } from '../src/storage/store';
import { asActivityError } from './experiment';

export interface ReportActivityDeps {
  store: ArtifactStore;
}

export function createReportActivities({ store }: ReportActivityDeps) {
  return {
    /** The run's HTML report (and chart PNGs) to experiments/<id>/report/; returns the index.html key. */
    async writeReport(input: { experimentId: string }): Promise<{ key: string; warnings: string[] }> {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'istar-report-'));
      try {
        // vega is heavy: loaded on first use, not at worker start.
        const { buildReport, writeReport } = await import('../src/report');
        heartbeat({ progress: 'building' });
        const report = await buildReport(store, [input.experimentId]);
        const written = await writeReport(store, report, { outDir: dir, upload: true });
        return { key: written.s3Key!, warnings: report.warnings };
      } catch (err) {
        throw asActivityError(err);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
