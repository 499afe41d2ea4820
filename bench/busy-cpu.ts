/**
 * Where the CPU goes during a phase of bench/busy.ts, from Linux's /proc: the app's main
 * thread (which acks Slack), its background thread (the one at nice 10: sweeps, expiry,
 * outbox, audit feed, chaining, `/verify-audit`), the rest of the app process (libuv's
 * pool, V8's helpers), and the bench cluster's PostgreSQL (the postmaster and every
 * backend, those that exited during the phase included). Null where /proc is missing.
 */
import fs from 'node:fs/promises';

/** Ticks (USER_HZ) of CPU time. */
export interface CpuTicks {
  main: number;
  background: number;
  process: number;
  postgres: number;
  /** All cores, from /proc/stat: total and idle. */
  machineTotal: number;
  machineIdle: number;
  at: number;
}

/** % of one core over a phase, by part; machine busy in % of all cores. */
export interface CpuShares {
  main: number;
  background: number;
  otherAppThreads: number;
  postgres: number;
  machineBusy: number;
  cores: number;
}

const TICKS_PER_SECOND = 100;

interface Stat {
  ppid: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  nice: number;
}

async function readStat(path: string): Promise<Stat | null> {
  try {
    const text = await fs.readFile(path, 'utf8');
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    const rest = text
      .slice(text.lastIndexOf(')') + 2)
      .trim()
      .split(/\s+/)
      .map(Number);
    return {
      ppid: rest[1] ?? 0,
      utime: rest[11] ?? 0,
      stime: rest[12] ?? 0,
      cutime: rest[13] ?? 0,
      cstime: rest[14] ?? 0,
      nice: rest[16] ?? 0,
    };
  } catch {
    return null;
  }
}

/** The app's threads and the cluster's processes; `postmaster` is the cluster's parent process id (0: not counted). */
export async function cpuTicks(postmaster: number): Promise<CpuTicks | null> {
  const self = await readStat(`/proc/${process.pid}/stat`);
  if (!self) return null;
  const main = (await readStat(`/proc/${process.pid}/task/${process.pid}/stat`))!;
  let background = 0;
  for (const tid of await fs.readdir(`/proc/${process.pid}/task`)) {
    const stat = await readStat(`/proc/${process.pid}/task/${tid}/stat`);
    // The background thread lowers its own priority to nice 10 (src/background/worker.ts).
    if (stat && stat.nice > 0) background += stat.utime + stat.stime;
  }
  let postgres = 0;
  if (postmaster > 0) {
    const parent = await readStat(`/proc/${postmaster}/stat`);
    if (parent) postgres += parent.utime + parent.stime + parent.cutime + parent.cstime;
    for (const entry of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await readStat(`/proc/${entry}/stat`);
      if (stat?.ppid === postmaster) postgres += stat.utime + stat.stime;
    }
  }
  const line = (await fs.readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  return {
    main: main.utime + main.stime,
    background,
    process: self.utime + self.stime,
    postgres,
    machineTotal: ticks.slice(0, 8).reduce((sum, n) => sum + n, 0),
    machineIdle: (ticks[3] ?? 0) + (ticks[4] ?? 0),
    at: performance.now(),
  };
}

export function cpuShares(before: CpuTicks | null, after: CpuTicks | null, cores: number): CpuShares | null {
  if (!before || !after) return null;
  const seconds = (after.at - before.at) / 1000;
  const share = (ticks: number) => (100 * ticks) / TICKS_PER_SECOND / seconds;
  const main = after.main - before.main;
  const background = after.background - before.background;
  const total = after.machineTotal - before.machineTotal;
  return {
    main: share(main),
    background: share(background),
    otherAppThreads: share(after.process - before.process - main - background),
    postgres: share(after.postgres - before.postgres),
    machineBusy: total > 0 ? (100 * (total - (after.machineIdle - before.machineIdle))) / total : Number.NaN,
    cores,
  };
}
