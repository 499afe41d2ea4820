/**
 * CPU time from Linux's /proc, for saying where a benchmark's time went: per thread of this
 * process (grouped by the thread's name), and of another process such as a PostgreSQL backend.
 * Elsewhere, or when /proc cannot be read, the figures are empty or null.
 */
import fs from 'node:fs/promises';

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux Node supports

/** utime + stime of one /proc/…/stat line, in seconds; the name field may hold spaces, so read after its ')'. */
function statCpu(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/**
 * CPU seconds used so far by this process's live threads: the main thread as `main`, the
 * others summed per thread name (`node` for a worker thread, `V8 DefaultWorke`, `libuv-worker`…).
 * A thread that has ended is no longer listed: subtract from process.cpuUsage() to count it.
 */
export async function threadCpuSeconds(): Promise<Record<string, number>> {
  const byName: Record<string, number> = {};
  let tasks: string[];
  try {
    tasks = await fs.readdir('/proc/self/task');
  } catch {
    return byName;
  }
  for (const tid of tasks) {
    try {
      const stat = await fs.readFile(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = Number(tid) === process.pid ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      byName[name] = (byName[name] ?? 0) + statCpu(stat);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return byName;
}

/** CPU seconds used so far by process `pid` (a PostgreSQL backend on this machine), or null. */
export async function backendCpuSeconds(pid: number): Promise<number | null> {
  try {
    return statCpu(await fs.readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}
