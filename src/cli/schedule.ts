import { type Command, InvalidArgumentError } from 'commander';
import { ScheduleOverlapPolicy, type ScheduleHandle } from '@temporalio/client';
import { TASK_QUEUES } from '../../workflows/training';
import type { withClient as WithClient } from './commands';
import { addRunFlags, runConfigFromFlags } from './run-flags';

const OVERLAP: Record<string, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

function duration(v: string): string {
  if (!/^\d+(ms|s|m|h|d)$/.test(v))
    throw new InvalidArgumentError(`"${v}" is not a duration such as 30s, 15m, 6h or 1d`);
  return v;
}

function isoDate(v: string): Date {
  const d = new Date(v);
  if (Number.isNaN(d.getTime()))
    throw new InvalidArgumentError(`"${v}" is not a date (use ISO 8601, e.g. 2026-11-24T10:00:00Z)`);
  return d;
}

/** `istar schedule create|list|pause|unpause|trigger|backfill|delete`: Temporal Schedules of training runs. */
export function registerScheduleCommands(program: Command, withClient: typeof WithClient): void {
  const schedule = program
    .command('schedule')
    .description('recurring or delayed training runs (Temporal Schedules)');

  addRunFlags(
    schedule
      .command('create')
      .description('create a schedule that starts istarTraining runs')
      .argument('<scheduleId>'),
  )
    .option('--cron <expr>', 'cron expression, e.g. "0 3 * * *"')
    .option('--every <duration>', 'interval, e.g. 6h', duration)
    .option(
      '--overlap <policy>',
      `what to do when a run is still going: ${Object.keys(OVERLAP).join(', ')}`,
      'skip',
    )
    .option('--paused', 'create it paused')
    .option('--task-queue <name>', 'workflow task queue', TASK_QUEUES.workflow)
    .action(async (id: string, opts) => {
      if (!opts.cron === !opts.every) throw new Error('give exactly one of --cron or --every');
      const overlap = OVERLAP[opts.overlap as string];
      if (overlap === undefined)
        throw new Error(`--overlap must be one of ${Object.keys(OVERLAP).join(', ')}, got "${opts.overlap}"`);
      const { input } = runConfigFromFlags(opts);
      await withClient(async (client) => {
        await client.schedule.create({
          scheduleId: id,
          spec: opts.cron ? { cronExpressions: [opts.cron] } : { intervals: [{ every: opts.every }] },
          action: {
            type: 'startWorkflow',
            workflowType: 'istarTraining',
            workflowId: `${id}-run`,
            taskQueue: opts.taskQueue,
            args: [input],
          },
          policies: { overlap },
          state: { paused: !!opts.paused, note: opts.paused ? 'created paused' : undefined },
        });
        console.log(
          `created schedule ${id} (${opts.cron ? `cron ${opts.cron}` : `every ${opts.every}`}, overlap ${opts.overlap}${opts.paused ? ', paused' : ''})`,
        );
      });
    });

  schedule
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) =>
      withClient(async (client) => {
        const rows = [];
        for await (const s of client.schedule.list())
          rows.push({
            scheduleId: s.scheduleId,
            paused: s.state.paused,
            workflowType: s.action?.workflowType,
            recentRuns: s.info.recentActions.length,
            next: s.info.nextActionTimes[0]?.toISOString(),
          });
        if (opts.json) return console.log(JSON.stringify(rows));
        if (rows.length === 0) return console.log('no schedules');
        for (const r of rows)
          console.log(
            `${r.scheduleId}  ${r.paused ? 'paused' : 'active'}  runs ${r.recentRuns}  next ${r.next ?? '-'}`,
          );
      }),
    );

  const simple: Array<[string, string, (h: ScheduleHandle) => Promise<void>]> = [
    ['pause', 'pause a schedule', (h) => h.pause('paused from the istar CLI')],
    ['unpause', 'unpause a schedule', (h) => h.unpause('unpaused from the istar CLI')],
    ['trigger', 'start a run now', (h) => h.trigger()],
    ['delete', 'delete a schedule (its runs keep going)', (h) => h.delete()],
  ];
  for (const [name, description, act] of simple) {
    schedule
      .command(name)
      .description(description)
      .argument('<scheduleId>')
      .action(async (id: string) =>
        withClient(async (client) => {
          await act(client.schedule.getHandle(id));
          console.log(`${name}: ${id}`);
        }),
      );
  }

  schedule
    .command('backfill')
    .description('run the actions the schedule would have taken in a past time range')
    .argument('<scheduleId>')
    .requiredOption('--start <iso>', 'range start', isoDate)
    .requiredOption('--end <iso>', 'range end', isoDate)
    .option(
      '--overlap <policy>',
      `overlap policy of the backfill: ${Object.keys(OVERLAP).join(', ')}`,
      'allow-all',
    )
    .action(async (id: string, opts: { start: Date; end: Date; overlap: string }) => {
      if (opts.end <= opts.start) throw new Error('--end must be after --start');
      const overlap = OVERLAP[opts.overlap];
      if (overlap === undefined)
        throw new Error(`--overlap must be one of ${Object.keys(OVERLAP).join(', ')}, got "${opts.overlap}"`);
      await withClient(async (client) => {
        await client.schedule.getHandle(id).backfill({ start: opts.start, end: opts.end, overlap });
        console.log(
          `backfill of ${id} from ${opts.start.toISOString()} to ${opts.end.toISOString()} requested`,
        );
      });
    });
}
