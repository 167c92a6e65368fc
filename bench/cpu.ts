import { existsSync, readdirSync, readFileSync } from 'node:fs';

/**
 * Where a benchmark pass's CPU went (Linux /proc; undefined elsewhere): this process's threads by name
 * (run time and time spent runnable but waiting for a core, from schedstat) and whole other processes
 * (the Temporal server, MinIO). A slower pass whose main thread ran as long but waited longer for a core
 * lost its time to CPU sharing, not to extra work.
 */
export interface CpuSnapshot {
  threads: Map<number, { name: string; runNs: number; waitNs: number }>;
  processes: Map<number, number>;
  /** Machine-wide seconds (all cores) busy and stolen by the hypervisor, from /proc/stat. */
  machine: { busy: number; steal: number };
}

export interface CpuUsage {
  /** Seconds the main (JS) thread ran on a core. */
  mainRunSeconds: number;
  /** Seconds the main thread was runnable but waited for a core. */
  mainWaitSeconds: number;
  /** Seconds every other thread of this process ran, by thread name (digits folded: `tokio-rt-worker`, `V8 Worker`). */
  otherThreads: Record<string, number>;
  /** Seconds each watched process ran (all its threads). */
  processes: Record<number, number>;
  /** Machine-wide busy seconds over all cores (everything: this process, the servers, anything else). */
  machineBusySeconds: number;
  /** Machine-wide seconds the hypervisor ran something else while a core of ours wanted to run. */
  machineStealSeconds: number;
}

const CLOCK_TICKS_PER_SECOND = 100;

export function cpuSnapshot(pids: readonly number[] = []): CpuSnapshot | undefined {
  if (!existsSync('/proc/self/task')) return undefined;
  const threads: CpuSnapshot['threads'] = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8')
        .trim()
        .split(/\s+/)
        .map(Number);
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      threads.set(Number(tid), { name, runNs: run, waitNs: wait });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  const processes: CpuSnapshot['processes'] = new Map();
  for (const pid of pids) {
    try {
      // Fields after the parenthesised command: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      processes.set(pid, (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND);
    } catch {
      // Not running (any more).
    }
  }
  return { threads, processes, machine: machineTimes() };
}

function machineTimes(): { busy: number; steal: number } {
  try {
    // cpu  user nice system idle iowait irq softirq steal ...
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = fields;
    return {
      busy: (user + nice + system + irq + softirq) / CLOCK_TICKS_PER_SECOND,
      steal: steal / CLOCK_TICKS_PER_SECOND,
    };
  } catch {
    return { busy: NaN, steal: NaN };
  }
}

export function cpuUsage(
  before: CpuSnapshot | undefined,
  after: CpuSnapshot | undefined,
): CpuUsage | undefined {
  if (!before || !after) return undefined;
  const usage: CpuUsage = {
    mainRunSeconds: 0,
    mainWaitSeconds: 0,
    otherThreads: {},
    processes: {},
    machineBusySeconds: after.machine.busy - before.machine.busy,
    machineStealSeconds: after.machine.steal - before.machine.steal,
  };
  for (const [tid, end] of after.threads) {
    const start = before.threads.get(tid) ?? { runNs: 0, waitNs: 0 };
    const run = (end.runNs - start.runNs) / 1e9;
    if (tid === process.pid) {
      usage.mainRunSeconds = run;
      usage.mainWaitSeconds = (end.waitNs - start.waitNs) / 1e9;
    } else {
      const name = end.name.replace(/[-_ #]?\d+$/, '');
      usage.otherThreads[name] = (usage.otherThreads[name] ?? 0) + run;
    }
  }
  for (const [pid, end] of after.processes) usage.processes[pid] = end - (before.processes.get(pid) ?? 0);
  return usage;
}

/**
 * Start measuring now; the returned function gives the usage since then with the wall seconds it spans
 * (undefined off Linux).
 */
export function cpuWindow(
  pids: readonly number[] = [],
): () => { usage: CpuUsage; wallSeconds: number } | undefined {
  const start = performance.now();
  const before = cpuSnapshot(pids);
  return () => {
    const usage = cpuUsage(before, cpuSnapshot(pids));
    return usage && { usage, wallSeconds: (performance.now() - start) / 1000 };
  };
}

/** Threads that ran at least `minSeconds`, busiest first: `tokio-rt-worker 3.1, V8 Worker 0.4`. */
export function formatOtherThreads(usage: CpuUsage, minSeconds = 0.05): string {
  const busy = Object.entries(usage.otherThreads)
    .filter(([, s]) => s >= minSeconds)
    .sort((a, b) => b[1] - a[1]);
  return busy.length ? busy.map(([n, s]) => `${n} ${s.toFixed(1)}`).join(', ') : 'none';
}
