import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { sql } from 'kysely';
import { migrations } from '../migrations/index.ts';
import { AuditLog } from '../src/audit/audit-log.ts';
import type { AuditEventInput } from '../src/audit/event.ts';
import { checkpointKeyFromSeed } from '../src/audit/checkpoints/keys.ts';
import { makeCheckpoint } from '../src/audit/checkpoints/store.ts';
import { buildReceipt } from '../src/audit/receipts/build.ts';
import { receiptToJson } from '../src/audit/receipts/receipt.ts';
import { verifyReceipt } from '../src/audit/receipts/verify.ts';
import { verifyProofJson } from '../src/audit/tree/proof-file.ts';
import { inclusionProofJson } from '../src/audit/tree/proof-file.ts';
import { proveInclusion } from '../src/audit/tree/store.ts';
import { createDb, createPool, type Db } from '../src/db/database.ts';
import { silentLogger } from '../src/log.ts';
import type { BenchServer } from './cluster.ts';
import { fmt, ms } from './format.ts';
import { summarize, type Summary } from './percentiles.ts';
import { fillChain } from './verify.ts';

/**
 * A grant's receipt (docs/merkle.md §13) in a log of `events`: how long the command takes to
 * make one (a scan of the log, one round trip of proofs) and, the target, how long checking it
 * offline takes: ≤ 20 ms. Two grants: a short story (~20 events) and one whose session ran
 * `statements` statements, each recorded beside other traffic as a busy log would.
 */
export interface ReceiptsOptions {
  /** BENCH_RECEIPT_EVENTS (1000000): the log the grants' events are added to. */
  events: number;
  /** BENCH_RECEIPT_STATEMENTS (1000): statements in the long grant's session. */
  statements: number;
  /** BENCH_RECEIPT_CHECKS (200): verifications timed per receipt, after 20 warm-up ones. BENCH_RECEIPT_DUMP=PREFIX also writes each receipt to PREFIX-<events>.json, to profile its check. */
  checks: number;
}

export function parseReceiptsOptions(env: NodeJS.ProcessEnv): ReceiptsOptions {
  const options = {
    events: Number(env.BENCH_RECEIPT_EVENTS ?? 1_000_000),
    statements: Number(env.BENCH_RECEIPT_STATEMENTS ?? 1000),
    checks: Number(env.BENCH_RECEIPT_CHECKS ?? 200),
  };
  for (const [name, value] of Object.entries(options))
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`BENCH_RECEIPT_${name.toUpperCase()} must be a whole number ≥ 1`);
  return options;
}

const WARMUP = 20;
/** Other traffic recorded between two of a grant's events. */
const NOISE_BETWEEN = 2;

export interface ReceiptRun {
  name: string;
  events: number;
  bytes: number;
  /** Making it: `gatehouse audit receipt` without the process start. */
  build: Summary;
  /** JSON.parse of the receipt alone: the floor under any check. */
  parse: Summary;
  verify: Summary;
}

export interface ReceiptsResults {
  options: ReceiptsOptions;
  size: number;
  /** One inclusion proof file checked (verifyProofJson): the per-event baseline. */
  oneProof: Summary;
  runs: ReceiptRun[];
}

const id = (prefix: string) => `${prefix}_${randomBytes(8).toString('hex')}`;

/** A grant's story as the app records it, with other traffic between its events. */
async function recordGrant(log: AuditLog, statements: number): Promise<string> {
  const [request, grant, session] = [id('req'), id('grt'), id('ses')];
  const [holder, dana, emil] = ['U0ANA0001', 'U0DANA001', 'U0EMIL001'];
  const resource = 'prod-db';
  const ends = '2026-12-04T12:00:00.000Z';
  const story: AuditEventInput[] = [
    {
      actor: holder,
      action: 'request.created',
      subject: request,
      body: {
        resource,
        duration_ms: 3_600_000,
        reason: 'fix invoice 42',
        approvals_required: 2,
        owners: [dana, emil],
        mfa_checked: false,
        policy_sha256: 'ab'.repeat(32),
      },
    },
    {
      actor: dana,
      action: 'approval.recorded',
      subject: request,
      body: { resource, given: 1, required: 2, mfa_checked: true },
    },
    {
      actor: emil,
      action: 'approval.recorded',
      subject: request,
      body: { resource, given: 2, required: 2, mfa_checked: true },
    },
    { actor: emil, action: 'request.approved', subject: request, body: { resource, approvers: [dana, emil], grant } },
    {
      actor: 'system',
      action: 'grant.provisioning',
      subject: grant,
      body: { request, user: holder, resource, ends_at: ends },
    },
    {
      actor: 'system',
      action: 'grant.active',
      subject: grant,
      body: { user: holder, resource, ends_at: ends, attempt: 1 },
    },
    {
      actor: holder,
      action: 'gateway.session_started',
      subject: session,
      body: {
        grant,
        resource,
        database: 'prod',
        role: 'gh_ana',
        client_address: '203.0.113.7',
        application_name: 'psql',
        tls: true,
        replica: 'gw-1',
      },
    },
  ];
  for (let n = 1; n <= statements; n++) {
    story.push({
      actor: holder,
      action: 'gateway.statement',
      subject: session,
      body: { grant, n, via: 'simple', sql: `select * from invoices where id = ${n}`, tables: ['invoices'] },
    });
    story.push({
      actor: holder,
      action: 'gateway.statement_done',
      subject: session,
      body: { grant, n, ok: true, tag: 'SELECT 1', rows: 1, duration_ms: 1.5 },
    });
  }
  story.push(
    {
      actor: 'system',
      action: 'gateway.session_ended',
      subject: session,
      body: {
        grant,
        resource,
        reason: 'client_closed',
        statements,
        refused: 0,
        rows: statements,
        duration_ms: 60_000,
        in_transaction: false,
      },
    },
    {
      actor: 'system',
      action: 'grant.ending',
      subject: grant,
      body: { user: holder, resource, reason: 'expired', ends_at: ends },
    },
    {
      actor: 'system',
      action: 'grant.revoked',
      subject: grant,
      body: {
        user: holder,
        resource,
        reason: 'expired',
        ends_at: ends,
        role: 'gh_ana',
        access_left: { login: false, memberships: [], sessions: 0 },
      },
    },
  );
  for (const event of story) {
    await log.record(event);
    for (let k = 0; k < NOISE_BETWEEN; k++)
      await log.record({
        actor: 'U0BRAM001',
        action: 'gateway.statement',
        subject: 'ses_other',
        body: { grant: 'grt_other', n: 1, via: 'simple', sql: 'select 1' },
      });
  }
  return grant;
}

function timeSync(count: number, work: () => unknown): Summary {
  const times: number[] = [];
  for (let i = 0; i < WARMUP + count; i++) {
    const started = performance.now();
    work();
    if (i >= WARMUP) times.push(performance.now() - started);
  }
  return summarize(times);
}

async function run(
  db: Db,
  name: string,
  grant: string,
  options: ReceiptsOptions,
  key: ReturnType<typeof checkpointKeyFromSeed>,
): Promise<ReceiptRun> {
  const builds: number[] = [];
  let text = '';
  for (let i = 0; i < 6; i++) {
    const started = performance.now();
    text = receiptToJson(await buildReceipt(db, grant));
    if (i > 0) builds.push(performance.now() - started);
  }
  const verified = verifyReceipt(text, key.publicKey);
  if (process.env.BENCH_RECEIPT_DUMP)
    writeFileSync(`${process.env.BENCH_RECEIPT_DUMP}-${verified.receipt.events.length}.json`, text);
  if (!verified.rootSigned) console.error('  note: the checkpoints carry no signed note here: the root is not signed');
  return {
    name,
    events: verified.receipt.events.length,
    bytes: Buffer.byteLength(text),
    build: summarize(builds),
    parse: timeSync(options.checks, () => JSON.parse(text)),
    verify: timeSync(options.checks, () => verifyReceipt(text, key.publicKey)),
  };
}

export async function benchReceipts(server: BenchServer, options: ReceiptsOptions): Promise<ReceiptsResults> {
  console.error(`  filling a log of ${options.events} events…`);
  const url = await server.freshDatabase('gatehouse_bench_receipts');
  await fillChain(url, options.events);
  const pool = createPool(url, 4);
  pool.on('error', () => undefined);
  const db = createDb(pool);
  const log = new AuditLog(db, pool, silentLogger());
  try {
    // The log was copied in without its tree: fill it as migration 0012 does for a log upgraded to it.
    const migration = migrations['2026-12-03T0012_audit_tree'];
    if (!migration?.down) throw new Error('migration 2026-12-03T0012_audit_tree is missing');
    await migration.down(db);
    await migration.up(db);
    console.error(`  recording two grants' stories among other traffic…`);
    const short = await recordGrant(log, 5);
    const long = await recordGrant(log, options.statements);
    await log.flush();
    const key = checkpointKeyFromSeed(randomBytes(32));
    const checkpoint = await makeCheckpoint(db, key);
    if (!checkpoint) throw new Error('no checkpoint was made');
    await sql`vacuum analyze audit_events`.execute(db);
    const oneProofText = inclusionProofJson(await proveInclusion(db, Math.ceil(checkpoint.seq / 2), checkpoint.seq));
    const oneProof = timeSync(options.checks, () => verifyProofJson(oneProofText));
    console.error('  timing receipts…');
    const runs = [
      await run(db, 'short story', short, options, key),
      await run(db, `${options.statements} statements`, long, options, key),
    ];
    return { options, size: checkpoint.seq, oneProof, runs };
  } finally {
    await log.sequencer.stop();
    await db.destroy();
    await server.dropDatabase('gatehouse_bench_receipts');
  }
}

export function printReceipts(results: ReceiptsResults): void {
  const { options, runs } = results;
  console.log(
    `Receipts in a log of ${fmt(results.size)} events (${fmt(options.events)} filled, then the grants among other traffic), signed checkpoint at its head. Checks: ${options.checks} each after ${WARMUP} warm-up, in this process; making: 5 after one warm-up.\n`,
  );
  console.log('| receipt | events | bytes | make p50 | make max | parse p50 | check p50 | check p99 | check max |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of runs)
    console.log(
      `| ${r.name} | ${fmt(r.events)} | ${fmt(r.bytes)} | ${ms(r.build.p50)} | ${ms(r.build.max)} | ${ms(r.parse.p50)} | ${ms(r.verify.p50)} | ${ms(r.verify.p99)} | ${ms(r.verify.max)} |`,
    );
  console.log(
    `\nBaseline, same run: one inclusion proof file checked (verifyProofJson) p50 ${fmt(results.oneProof.p50, 3)} ms, p99 ${fmt(results.oneProof.p99, 3)} ms.`,
  );
  const worst = Math.max(...runs.map((r) => r.verify.p99));
  console.log(
    `Target a receipt verifies in ≤ 20 ms (p99): ${worst <= 20 ? 'met' : 'NOT met'} (worst p99 ${ms(worst)} ms).\n`,
  );
}
