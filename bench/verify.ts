import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { chainHash, GENESIS_HASH } from '../src/audit/chain.ts';
import { encodeEvent } from '../src/audit/event.ts';
import { createDb, createPool } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import type { BenchServer } from './cluster.ts';
import { fmt, median } from './format.ts';

const REASONS = [
  'fix invoice export',
  'investigate slow checkout queries for the EU region',
  'rotate the reporting credentials',
  'on-call: disk alert',
];

/** Rows of a valid chain in COPY text format, made by the same encoder and hash the sequencer uses. */
function* chainRows(count: number): Generator<string> {
  let prev = GENESIS_HASH;
  const base = Date.UTC(2026, 0, 1);
  let chunk = '';
  for (let seq = 1; seq <= count; seq++) {
    const time = new Date(base + seq * 1000).toISOString().replace('Z', '000Z');
    const canonical = encodeEvent({
      v: 1,
      seq,
      time,
      actor: seq % 7 === 0 ? 'system' : `U05CNTR${String(seq % 1000).padStart(4, '0')}`,
      action: seq % 3 === 0 ? 'grant.active' : 'request.created',
      subject: `req_${seq.toString(36)}`,
      body: {
        resource: 'prod-db-readonly',
        duration_ms: 3_600_000,
        reason: REASONS[seq % REASONS.length],
        approvals: seq % 3,
      },
    });
    const hash = chainHash(prev, canonical);
    // COPY text format: backslashes doubled; bytea as \x-hex (its backslash doubled too).
    chunk += `${seq}\t${canonical.replaceAll('\\', '\\\\')}\t\\\\x${prev.toString('hex')}\t\\\\x${hash.toString('hex')}\n`;
    prev = hash;
    if (seq % 5000 === 0) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

export async function fillChain(url: string, count: number): Promise<void> {
  const pool = createPool(url, 2);
  await migrateToLatest(createDb(pool));
  const client = await pool.connect();
  try {
    const sink = client.query(copyFrom('copy audit_events (seq, canonical, prev_hash, hash) from stdin'));
    await pipeline(Readable.from(chainRows(count)), sink);
    // Settle the server before timing: hint bits, statistics, and the fill's dirty pages on disk.
    await client.query('vacuum analyze audit_events');
    await client.query('checkpoint');
  } finally {
    client.release();
    await pool.end();
  }
}

export type VerifyMode = 'read-only' | 'verify' | 'verify-worker';

export interface VerifyRun {
  mode: VerifyMode;
  seconds: number;
  maxRssMb: number;
  rows: number;
  /** CPU seconds of the whole process, of its live threads by name (`main`, …; `ended`: the worker), and of the PostgreSQL backend. */
  processCpuSeconds: number;
  threads: Record<string, number>;
  backendCpuSeconds: number | null;
}

const MODES: VerifyMode[] = ['read-only', 'verify', 'verify-worker'];

/** One run in a fresh process, so its peak RSS is its own. */
async function runChild(url: string, mode: VerifyMode): Promise<VerifyRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/verify-child.ts', url, mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`verify child (${mode}) exited with ${code}`);
  return JSON.parse(out) as VerifyRun;
}

export async function benchVerify(server: BenchServer, count: number, repeats: number): Promise<VerifyRun[]> {
  const url = await server.freshDatabase('gatehouse_bench_verify');
  const filled = performance.now();
  await fillChain(url, count);
  console.error(`  filled ${count} chained events in ${((performance.now() - filled) / 1000).toFixed(1)} s`);
  const check = new pg.Client({ connectionString: url });
  await check.connect();
  const size = await check.query<{ size: string }>(
    `select pg_size_pretty(pg_total_relation_size('audit_events')) as size`,
  );
  await check.end();
  console.error(`  audit_events: ${size.rows[0]?.size}`);
  const runs: VerifyRun[] = [];
  for (let i = 0; i < repeats; i++) {
    for (const mode of MODES) {
      const run = await runChild(url, mode);
      const cpu = Object.entries(run.threads)
        .filter(([, s]) => s >= 0.01)
        .map(([name, s]) => `${name} ${s.toFixed(2)}`)
        .join(', ');
      console.error(
        `  ${mode.padEnd(13)} ${run.rows} rows: ${run.seconds.toFixed(2)} s, peak RSS ${run.maxRssMb.toFixed(0)} MB; CPU s: ${cpu}; backend ${run.backendCpuSeconds?.toFixed(2) ?? '?'}`,
      );
      runs.push(run);
    }
  }
  return runs;
}

const LABELS: Record<VerifyMode, string> = {
  'read-only': 'stream the same rows, no hashing',
  verify: '`audit verify` (one thread on ≤ 2 CPUs)',
  'verify-worker': 'verify, hashing on a worker thread',
};

/** The table of docs/benchmarks.md §2: medians, where the CPU went, and the two targets. */
export function printVerify(runs: VerifyRun[], events: number, repeats: number): void {
  const of = (mode: VerifyMode) => runs.filter((r) => r.mode === mode);
  const med = (mode: VerifyMode, pick: (r: VerifyRun) => number) => median(of(mode).map(pick));
  console.log(
    `| run (median of ${repeats}) | events | seconds | × stream | peak RSS MB | CPU s: main thread | other threads | PostgreSQL backend |`,
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const base = med('read-only', (r) => r.seconds);
  for (const mode of MODES) {
    const seconds = med(mode, (r) => r.seconds);
    const main = med(mode, (r) => r.threads.main ?? 0);
    const others = med(mode, (r) => r.processCpuSeconds - (r.threads.main ?? 0));
    const backend = med(mode, (r) => r.backendCpuSeconds ?? Number.NaN);
    const rss = Math.max(...of(mode).map((r) => r.maxRssMb));
    console.log(
      `| ${LABELS[mode]} | ${fmt(events)} | ${fmt(seconds, 2)} | ${fmt(seconds / base, 2)} | ${fmt(rss)} | ${fmt(main, 2)} | ${fmt(others, 2)} | ${fmt(backend, 2)} |`,
    );
  }
  const seconds = med('verify', (r) => r.seconds);
  const rss = Math.max(...of('verify').map((r) => r.maxRssMb));
  console.log(
    `\nTarget ≤ 3.5 s and ≤ 200 MB for 1M events: ${seconds <= 3.5 && rss <= 200 ? 'met' : 'NOT met'} (${fmt(seconds, 2)} s, ${fmt(rss)} MB).`,
  );
  const ratio = seconds / base;
  const worker = med('verify-worker', (r) => r.seconds) / base;
  console.log(
    `Target verify ≤ 1.3 × streaming: ${ratio <= 1.3 ? 'met' : 'NOT met'} (${fmt(ratio, 2)} ×; hashing on a worker thread ${fmt(worker, 2)} ×).\n`,
  );
}
