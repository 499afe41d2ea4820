import { sql } from 'kysely';
import { AuditLog } from '../src/audit/audit-log.ts';
import { chainHash, GENESIS_HASH } from '../src/audit/chain.ts';
import { encodeEvent, validateEventInput, type AuditEventInput } from '../src/audit/event.ts';
import { createDb, createPool, type Db } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { silentLogger } from '../src/log.ts';
import type { BenchServer } from './cluster.ts';

/** What every mode writes: the same rows, so only the chaining differs. */
function eventFor(writer: number, i: number): AuditEventInput {
  return {
    actor: 'U05CNTR0001',
    action: 'request.created',
    subject: `req_${writer}_${i}`,
    body: { resource: 'prod-db-readonly', duration_ms: 3_600_000, reason: `fix invoice export ${i}`, writer },
  };
}

export interface AppendResult {
  mode: string;
  writers: number;
  events: number;
  seconds: number;
  perSecond: number;
}

type Mode = 'plain' | 'chained' | 'naive';

export interface AppendOptions {
  /** Names the round's database (gatehouse_bench_<name>_<mode>_<writers>). */
  name?: string;
  /** Checks on the chained log after the round, before its database goes (the Merkle tree's, say). */
  afterChained?: (db: Db, events: number) => Promise<void>;
}

/**
 * Runs `writers` concurrent loops for `durationMs`, each writing one event per transaction.
 * `chained` counts until the sequencer has chained every event written, so the figure is
 * end to end, not just the time to queue.
 */
export async function runMode(
  server: BenchServer,
  mode: Mode,
  writers: number,
  durationMs: number,
  options: AppendOptions = {},
): Promise<AppendResult> {
  const url = await server.freshDatabase(`gatehouse_bench_${options.name ? `${options.name}_` : ''}${mode}_${writers}`);
  const pool = createPool(url, writers + 2);
  // A connection the server drops when the database is dropped must not end the run.
  pool.on('error', () => undefined);
  const db = createDb(pool);
  await migrateToLatest(db);
  await sql`create table plain_events (id bigint generated always as identity primary key, occurred_at timestamptz not null default clock_timestamp(), actor text not null, action text not null, subject text, body text not null)`.execute(
    db,
  );
  await sql`create table naive_events (seq bigint primary key, canonical text not null, prev_hash bytea not null, hash bytea not null unique)`.execute(
    db,
  );
  const audit = new AuditLog(db, pool, silentLogger());
  if (mode === 'chained') audit.sequencer.start();

  const write = writeFor(mode, db, audit);
  let events = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      for (let i = 0; performance.now() < deadline; i++) {
        await write(eventFor(writer, i));
        events += 1;
      }
    }),
  );
  if (mode === 'chained') await audit.sequencer.stop();
  const seconds = (performance.now() - started) / 1000;
  if (mode === 'chained') {
    const result = await audit.verify();
    if (!result.ok || result.checked !== events)
      throw new Error(`chain check failed after the benchmark: ${JSON.stringify(result)}`);
    await options.afterChained?.(db, events);
  }
  await db.destroy();
  return { mode, writers, events, seconds, perSecond: events / seconds };
}

function writeFor(mode: Mode, db: Db, audit: AuditLog): (event: AuditEventInput) => Promise<void> {
  if (mode === 'plain') {
    return async (event) => {
      const body = validateEventInput(event);
      await sql`insert into plain_events (actor, action, subject, body) values (${event.actor}, ${event.action}, ${event.subject ?? null}, ${body})`.execute(
        db,
      );
    };
  }
  if (mode === 'chained') return (event) => audit.record(event);
  // The design we did not choose: lock the head in the writer's own transaction, hash, insert.
  return async (event) => {
    await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(42)`.execute(trx);
      const head = await sql<{
        seq: number;
        hash: Buffer;
      }>`select seq, hash from naive_events order by seq desc limit 1`.execute(trx);
      const seq = (head.rows[0]?.seq ?? 0) + 1;
      const prev = head.rows[0]?.hash ?? GENESIS_HASH;
      const canonical = encodeEvent({
        v: 1,
        seq,
        time: new Date().toISOString().replace('Z', '000Z'),
        actor: event.actor,
        action: event.action,
        subject: event.subject ?? null,
        body: event.body ?? {},
      });
      await sql`insert into naive_events values (${seq}, ${canonical}, ${prev}, ${chainHash(prev, canonical)})`.execute(
        trx,
      );
    });
  };
}

export async function benchAppend(server: BenchServer, durationMs: number, repeats: number): Promise<AppendResult[]> {
  const results: AppendResult[] = [];
  for (let round = 0; round < repeats; round++) {
    for (const writers of [1, 8, 32]) {
      // Alternate the modes so that drift in the machine's speed hits each alike.
      for (const mode of ['plain', 'chained', 'naive'] as const) {
        const result = await runMode(server, mode, writers, durationMs);
        console.error(
          `  append ${mode.padEnd(7)} ${String(writers).padStart(2)} writers: ${Math.round(result.perSecond)}/s (${result.events} events)`,
        );
        results.push(result);
      }
    }
  }
  return results;
}
