import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { WatchedEvent } from './detector.ts';

/**
 * An event from its canonical text, parsed here rather than by PostgreSQL (the audit_log
 * view parses it to jsonb, then pg parses the body again: several times the work).
 */
function toEvent(seq: number, canonical: string): WatchedEvent {
  const e = JSON.parse(canonical) as {
    time: string;
    actor: string;
    action: string;
    subject: string | null;
    body: unknown;
  };
  return {
    seq,
    time: new Date(e.time),
    actor: e.actor,
    action: e.action,
    subject: e.subject ?? null,
    body: typeof e.body === 'object' && e.body !== null ? (e.body as Record<string, unknown>) : {},
  };
}

/**
 * Events with seq in (after, upTo], in seq order; only `actions` when given. The canonical
 * form (RFC 8785) writes `"action":"…"` exactly so, which lets PostgreSQL pass over the
 * others without parsing them; the action parsed here is what decides.
 */
export async function readEvents(
  db: Kysely<Database>,
  after: number,
  upTo: number,
  actions?: readonly string[],
): Promise<WatchedEvent[]> {
  if (actions && actions.length === 0) return [];
  let query = db
    .selectFrom('audit_events')
    .select(['seq', 'canonical'])
    .where('seq', '>', after)
    .where('seq', '<=', upTo)
    .orderBy('seq');
  if (actions)
    query = query.where((eb) =>
      eb.or(actions.map((action) => eb(sql`strpos(canonical, ${`"action":${JSON.stringify(action)}`})`, '>', 0))),
    );
  const events = (await query.execute()).map((row) => toEvent(row.seq, row.canonical));
  return actions ? events.filter((e) => actions.includes(e.action)) : events;
}

/** Events of one subject with seq in (after, upTo], as readEvents. */
export async function readSubjectEvents(
  db: Kysely<Database>,
  after: number,
  upTo: number,
  subject: string,
  action: string,
): Promise<WatchedEvent[]> {
  const rows = await db
    .selectFrom('audit_events')
    .select(['seq', 'canonical'])
    .where('seq', '>', after)
    .where('seq', '<=', upTo)
    .where(sql`strpos(canonical, ${`"subject":${JSON.stringify(subject)}`})`, '>', 0)
    .orderBy('seq')
    .execute();
  return rows.map((row) => toEvent(row.seq, row.canonical)).filter((e) => e.subject === subject && e.action === action);
}

export async function headSeq(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.max('seq').as('head'))
    .executeTakeFirst();
  return Number(row?.head ?? 0);
}

async function timeOf(db: Kysely<Database>, seq: number): Promise<number | null> {
  const row = await db.selectFrom('audit_events').select('canonical').where('seq', '=', seq).executeTakeFirst();
  return row ? toEvent(seq, row.canonical).time.getTime() : null;
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
