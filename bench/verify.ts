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

export interface VerifyRun {
  mode: 'verify' | 'read-only';
  seconds: number;
  maxRssMb: number;
  rows: number;
}

/** One run in a fresh process, so its peak RSS is its own. */
async function runChild(url: string, mode: VerifyRun['mode']): Promise<VerifyRun> {
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
    for (const mode of ['read-only', 'verify'] as const) {
      const run = await runChild(url, mode);
      console.error(
        `  ${mode.padEnd(9)} ${run.rows} rows: ${run.seconds.toFixed(2)} s, peak RSS ${run.maxRssMb.toFixed(0)} MB`,
      );
      runs.push(run);
    }
  }
  return runs;
}
