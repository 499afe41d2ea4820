/**
 * Puts the stream into the audit queue as Gatehouse does: each commit is one INSERT of
 * its events (queueRow, as the gateway's group commits write them) with the rows they
 * describe, in one transaction. `offerLoad` keeps to a rate for a while; `queueBacklog`
 * writes a stretch of it at once, with the times it would have had at that rate.
 */
import { sql } from 'kysely';
import { queueRow } from '../src/audit/append.ts';
import type { Db } from '../src/db/database.ts';
import type { AlertStream, StreamBatch } from './alerts-stream.ts';

/** The most events one commit carries: a backlog is written in commits of this size. */
const MAX_COMMIT = 2000;
/** How often the load looks at the clock when it is ahead of its rate. */
const TICK_MS = 10;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function commit(db: Db, batch: StreamBatch): Promise<void> {
  const rows = batch.events.map((event) => queueRow<string>(event));
  await db.transaction().execute(async (trx) => {
    if (batch.requests.length > 0) await trx.insertInto('access_requests').values(batch.requests).execute();
    if (batch.approvals.length > 0)
      await trx
        .insertInto('approvals')
        .values(batch.approvals)
        .onConflict((oc) => oc.doNothing())
        .execute();
    await trx.insertInto('audit_queue').values(rows).execute();
  });
}

export interface OfferedLoad {
  /** Events committed to the queue. */
  events: number;
  commits: number;
  seconds: number;
}

/**
 * Commits the stream at `rate` events a second for `seconds`, one commit in flight: what
 * fell due during a commit goes into the next. Falls behind only if the commits cannot
 * carry the rate.
 */
export async function offerLoad(db: Db, stream: AlertStream, rate: number, seconds: number): Promise<OfferedLoad> {
  const started = performance.now();
  const end = started + seconds * 1000;
  let events = 0;
  let commits = 0;
  for (let now = started; now < end; now = performance.now()) {
    const due = Math.min(MAX_COMMIT, Math.floor(((now - started) / 1000) * rate) - events);
    if (due <= 0) {
      await sleep(TICK_MS);
      continue;
    }
    const batch = stream.take(due);
    await commit(db, batch);
    events += batch.events.length;
    commits += 1;
  }
  return { events, commits, seconds: (performance.now() - started) / 1000 };
}

/**
 * Queues `count` events at once, timed as if they had come at `rate` a second until now:
 * a stretch the watcher has not seen, as after it was down. Returns how many were queued.
 */
export async function queueBacklog(db: Db, stream: AlertStream, count: number, rate: number): Promise<number> {
  const start = Date.now() - (count / rate) * 1000;
  let queued = 0;
  while (queued < count) {
    const batch = stream.take(Math.min(MAX_COMMIT * 5, count - queued));
    const at = (i: number) => new Date(start + ((queued + i) / rate) * 1000);
    const rows = batch.events.map((event) => queueRow<string>(event));
    await db.transaction().execute(async (trx) => {
      if (batch.requests.length > 0)
        await trx
          .insertInto('access_requests')
          .values(batch.requests.map((request) => ({ ...request, created_at: at(0) })))
          .execute();
      if (batch.approvals.length > 0)
        await trx
          .insertInto('approvals')
          .values(batch.approvals.map((approval) => ({ ...approval, created_at: at(0) })))
          .onConflict((oc) => oc.doNothing())
          .execute();
      await sql`
        insert into audit_queue (occurred_at, actor, action, subject, body)
        select * from unnest(
          ${rows.map((_, i) => at(i))}::timestamptz[], ${rows.map((r) => r.actor)}::text[],
          ${rows.map((r) => r.action)}::text[], ${rows.map((r) => r.subject)}::text[], ${rows.map((r) => r.body)}::text[])
      `.execute(trx);
    });
    queued += batch.events.length;
  }
  return queued;
}
