import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { WatchedEvent } from './detector.ts';

interface LogRow {
  seq: number;
  occurred_at: Date;
  actor: string;
  action: string;
  subject: string | null;
  body: unknown;
}

function toEvent(row: LogRow): WatchedEvent {
  return {
    seq: row.seq,
    time: row.occurred_at,
    actor: row.actor,
    action: row.action,
    subject: row.subject,
    body: typeof row.body === 'object' && row.body !== null ? (row.body as Record<string, unknown>) : {},
  };
}

/** Events with seq in (after, upTo], in seq order; only `actions` when given. */
export async function readEvents(
  db: Kysely<Database>,
  after: number,
  upTo: number,
  actions?: readonly string[],
): Promise<WatchedEvent[]> {
  if (actions && actions.length === 0) return [];
  let query = db
    .selectFrom('audit_log')
    .select(['seq', 'occurred_at', 'actor', 'action', 'subject', 'body'])
    .where('seq', '>', after)
    .where('seq', '<=', upTo)
    .orderBy('seq');
  if (actions) query = query.where('action', 'in', actions);
  return ((await query.execute()) as LogRow[]).map(toEvent);
}

export async function headSeq(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.max('seq').as('head'))
    .executeTakeFirst();
  return Number(row?.head ?? 0);
}

async function timeOf(db: Kysely<Database>, seq: number): Promise<number | null> {
  const row = await db
    .selectFrom('audit_events')
    .select(sql<string>`canonical::jsonb ->> 'time'`.as('time'))
    .where('seq', '=', seq)
    .executeTakeFirst();
  return row ? Date.parse(row.time) : null;
}

/**
 * The last seq at or below `upTo` whose event is older than `time`: where a replay of the
 * window ending now starts. A binary search over seq (event times rise with seq, give or
 * take the commits in flight, which the callers' margin covers): some twenty lookups.
 */
export async function seqBefore(db: Kysely<Database>, time: Date, upTo: number): Promise<number> {
  let lo = 0;
  let hi = upTo;
  const target = time.getTime();
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const at = await timeOf(db, mid);
    if (at === null || at >= target) hi = mid - 1;
    else lo = mid;
  }
  return lo;
}
