import { sql, type Selectable } from 'kysely';
import type { Db } from '../db/database.ts';
import type { OutboxTable } from '../db/schema.ts';

/** A message the access rules queued with a change: its kind, what it is about, and how delivering it went. */
export type OutboxRow = Selectable<OutboxTable>;

/** How long a claimed row is leased before another replica may try it. */
const LEASE = sql<Date>`now() + interval '2 minutes'`;

/**
 * Claims up to `limit` rows that are due, oldest first, and leases them: rows another
 * replica is claiming are skipped (SKIP LOCKED), so replicas share the work.
 */
export async function claimDue(db: Db, limit: number): Promise<OutboxRow[]> {
  const rows = await db
    .updateTable('outbox')
    .set((eb) => ({ attempts: eb('attempts', '+', 1), next_attempt_at: LEASE }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('outbox')
        .select('id')
        .where('done_at', 'is', null)
        .where('next_attempt_at', '<=', sql<Date>`now()`)
        .orderBy('id')
        .limit(limit)
        .forUpdate()
        .skipLocked(),
    )
    .returningAll()
    .execute();
  return rows.sort((a, b) => a.id - b.id);
}

/** Claims every undelivered row of `kind` whose payload has `field` = `value`, due or not, and leases them. */
export async function claimAllFor(
  db: Db,
  kind: string,
  field: string,
  value: string,
): Promise<{ id: number; attempts: number }[]> {
  return db
    .updateTable('outbox')
    .set((eb) => ({ attempts: eb('attempts', '+', 1), next_attempt_at: LEASE }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('outbox')
        .select('id')
        .where('kind', '=', kind)
        .where('done_at', 'is', null)
        .where(eb.ref('payload', '->>').key(field), '=', value)
        .forUpdate()
        .skipLocked(),
    )
    .returning(['id', 'attempts'])
    .execute();
}

export async function markDelivered(db: Db, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('outbox')
    .set({ done_at: sql<Date>`now()`, last_error: null })
    .where('id', 'in', ids)
    .execute();
}

/** Rows that could not be delivered: tried again at `retryAt`, with why they failed. */
export async function postpone(db: Db, ids: number[], retryAt: Date, error: string): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('outbox')
    .set({ next_attempt_at: retryAt, last_error: error.slice(0, 500) })
    .where('id', 'in', ids)
    .execute();
}

/**
 * Queues a delivery for later, outside any change (a destination that must come back to a
 * message once something else has happened), unless one of `kind` about the same
 * `payload[key]` is still waiting to be tried: however many deliveries ask, one is queued.
 * A row being delivered has been tried, so the delivery may queue the one after it.
 * Returns whether it queued.
 */
export async function queueOnceAt(
  db: Db,
  kind: string,
  payload: Record<string, unknown>,
  key: string,
  at: Date,
): Promise<boolean> {
  const result = await sql`
    insert into outbox (kind, payload, next_attempt_at)
    select ${kind}::text, ${JSON.stringify(payload)}::jsonb, ${at}::timestamptz
     where not exists (
       select 1 from outbox
        where kind = ${kind} and done_at is null and attempts = 0
          and payload ->> ${key} = ${String(payload[key])})`.execute(db);
  return Number(result.numAffectedRows ?? 0) > 0;
}
