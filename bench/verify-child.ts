/**
 * One verification (or read-only baseline) run, reporting as JSON its time, this process's
 * peak RSS, and where the CPU went: this process's threads by name (the main thread, V8's
 * helpers, a hashing worker) and the PostgreSQL backend that served the COPY, read from
 * /proc (Linux; elsewhere the CPU figures are left out).
 */
import { verifyChain } from '../src/audit/verify.ts';
import { createPool } from '../src/db/database.ts';
import { backendCpuSeconds, threadCpuSeconds } from './proc-cpu.ts';

const [url, mode] = process.argv.slice(2);
const MODES = ['read-only', 'verify', 'verify-worker'];
if (!url || !MODES.includes(mode ?? '')) throw new Error(`usage: verify-child <url> ${MODES.join('|')}`);
const pool = createPool(url, 1);
// A pool of one: the COPY runs on this same connection, so this is its backend.
const backend = (await pool.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
const threadsBefore = await threadCpuSeconds();
const backendBefore = await backendCpuSeconds(backend);
const cpuBefore = process.cpuUsage();
let rows = 0;
const started = performance.now();
const result = await verifyChain(pool, {
  readOnly: mode === 'read-only',
  worker: mode === 'verify-worker' ? true : 'auto',
  onProgress: (read) => (rows = read),
});
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const threadsAfter = await threadCpuSeconds();
const backendAfter = await backendCpuSeconds(backend);
await pool.end();
if (mode !== 'read-only' && (!result.ok || result.checked !== rows))
  throw new Error(`verification failed: ${JSON.stringify(result.failure)}`);
const threads: Record<string, number> = {};
for (const [name, after] of Object.entries(threadsAfter)) threads[name] = after - (threadsBefore[name] ?? 0);
// Threads that ended during the run (the hashing worker): what the process used beyond the live ones.
const live = Object.values(threads).reduce((sum, s) => sum + s, 0);
threads.ended = Math.max(0, (cpu.user + cpu.system) / 1e6 - live);
process.stdout.write(
  JSON.stringify({
    mode,
    seconds,
    rows,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    processCpuSeconds: (cpu.user + cpu.system) / 1e6,
    threads,
    backendCpuSeconds: backendAfter === null || backendBefore === null ? null : backendAfter - backendBefore,
  }),
);
