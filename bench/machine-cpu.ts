import fs from 'node:fs/promises';

/** Cumulative CPU time of all cores, in clock ticks, from Linux's /proc/stat. */
export interface CpuSnapshot {
  total: number;
  /** idle + iowait */
  idle: number;
}

/** Null where /proc/stat does not exist (not Linux): the figure is then left out. */
export async function machineCpu(): Promise<CpuSnapshot | null> {
  try {
    const line = (await fs.readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const total = ticks.slice(0, 8).reduce((sum, n) => sum + n, 0);
    return { total, idle: (ticks[3] ?? 0) + (ticks[4] ?? 0) };
  } catch {
    return null;
  }
}

/** Busy % of all cores between two snapshots; null when either is missing. */
export function busyPercent(before: CpuSnapshot | null, after: CpuSnapshot | null): number | null {
  if (!before || !after) return null;
  const total = after.total - before.total;
  return total > 0 ? (100 * (total - (after.idle - before.idle))) / total : null;
}

/**
 * The bench machine is shared: waits (at most `maxWaitMs`) until two consecutive seconds
 * have seen the cores less than `maxBusyPercent` busy, so a run does not start in the
 * middle of someone else's work. Returns whether it got quiet.
 */
export async function waitForQuiet(maxBusyPercent = 25, maxWaitMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + maxWaitMs;
  let quietSeconds = 0;
  while (Date.now() < deadline) {
    const before = await machineCpu();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const busy = busyPercent(before, await machineCpu());
    if (busy === null) return true;
    quietSeconds = busy < maxBusyPercent ? quietSeconds + 1 : 0;
    if (quietSeconds >= 2) return true;
  }
  console.error(`  the machine stayed more than ${maxBusyPercent} % busy for ${maxWaitMs / 1000} s; running anyway`);
  return false;
}
