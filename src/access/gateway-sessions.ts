import { sql } from 'kysely';
import { appendEvent } from '../audit/append.ts';
import type { AuditEventInput } from '../audit/event.ts';
import type { Db } from '../db/database.ts';
import type { GrantId, SlackUserId } from '../db/ids.ts';
import type { Selectable, Transaction } from 'kysely';
import type { Database, GatewayEndReason, GatewaySessionTable } from '../db/schema.ts';
import { resourceOf, type AccessContext } from './context.ts';
import { notify } from './notifications.ts';

/**
 * Sessions through the database gateway, as the access rules see them: who holds one, how
 * it ends, and an owner's End session. The gateway (src/gateway) holds the connections;
 * this is the state every replica shares, and the audit events that go with it.
 */

/** A session is live while its replica says so: one that stopped refreshing it this long ago has died. */
export const SESSION_SEEN_WITHIN_MS = 30_000;

export interface NewSession {
  id: string;
  grantId: GrantId;
  userId: SlackUserId;
  resourceId: string;
  replica: string;
  clientAddress: string | null;
  applicationName: string | null;
  cancelKey: { pid: number; secret: number };
  upstreamKey: { pid: number; secret: number };
}

/**
 * Records a session opened, with its `gateway.session_started` in the same transaction (a
 * row the lost-session sweep may end always has its start on the chain), and queues the
 * update of its request's approval cards (owners see it live there).
 */
export async function recordSessionStart(db: Db, session: NewSession, event?: AuditEventInput): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await insertSession(trx, session);
    if (event) await appendEvent(trx, event);
    await notify(trx, { kind: 'notify_gateway_session_started', sessionId: session.id });
  });
}

async function insertSession(db: Transaction<Database>, session: NewSession): Promise<void> {
  await db
    .insertInto('gateway_sessions')
    .values({
      id: session.id,
      grant_id: session.grantId,
      user_id: session.userId,
      resource_id: session.resourceId,
      replica: session.replica,
      client_address: session.clientAddress,
      application_name: session.applicationName,
      cancel_pid: session.cancelKey.pid,
      cancel_secret: session.cancelKey.secret,
      upstream_pid: session.upstreamKey.pid,
      upstream_secret: session.upstreamKey.secret,
    })
    .execute();
}

/**
 * Marks a session ended with its counts and records its `gateway.session_ended`, in one
 * transaction, and queues its summary for the audit channel: only if the row was still
 * open. Returns false when the record already says the session ended (the reaper ended
 * it while its replica was cut off): nothing is recorded twice. `event` is left out only
 * for a session whose start never made it to the record.
 */
export async function recordSessionEnd(
  db: Db,
  id: string,
  end: { reason: GatewayEndReason; statements: number; rows: number; refused: number },
  event?: AuditEventInput,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const ended = await trx
      .updateTable('gateway_sessions')
      .set({
        ended_at: sql<Date>`now()`,
        end_reason: end.reason,
        statements: end.statements,
        rows: end.rows,
        refused: end.refused,
      })
      .where('id', '=', id)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    if (Number(ended.numUpdatedRows) !== 1) return false;
    if (event) await appendEvent(trx, event);
    await notify(trx, { kind: 'notify_gateway_session_ended', sessionId: id });
    return true;
  });
}

/** Queues a refused statement's post to the audit channel. */
export async function noteRefusal(
  db: Db,
  refusal: { sessionId: string; n: number; rule: string; reason: string; sql: string },
): Promise<void> {
  await db
    .transaction()
    .execute((trx) => notify(trx, { kind: 'notify_gateway_refused', ...refusal, sql: refusal.sql.slice(0, 500) }));
}

/** A held session's counts of what is committed on the record so far. */
export interface HeldSession {
  id: string;
  statements: number;
  rows: number;
  refused: number;
}

/**
 * Refreshes `seen_at` of the sessions a replica holds, and their counts (so a session the
 * reaper has to end carries counts at most one refresh old). Returns the ids whose rows are
 * still open: a held session missing from it was ended on the record by someone else (the
 * reaper, while this replica was cut off), and must end here without a second record.
 */
export async function touchSessions(db: Db, held: HeldSession[]): Promise<Set<string>> {
  if (held.length === 0) return new Set();
  const { rows } = await sql<{ id: string }>`
    update gateway_sessions s
       set seen_at = now(), statements = v.statements, rows = v.rows, refused = v.refused
      from unnest(${held.map((h) => h.id)}::text[], ${held.map((h) => h.statements)}::int[],
                  ${held.map((h) => h.rows)}::bigint[], ${held.map((h) => h.refused)}::int[])
           as v (id, statements, rows, refused)
     where s.id = v.id and s.ended_at is null
    returning s.id`.execute(db);
  return new Set(rows.map((row) => row.id));
}

export type GatewaySessionRow = Selectable<GatewaySessionTable>;

/** The live sessions of these resources, oldest first: what owners see with End session. */
export async function liveSessions(db: Db, resourceIds: string[]): Promise<GatewaySessionRow[]> {
  if (resourceIds.length === 0) return [];
  return db
    .selectFrom('gateway_sessions')
    .selectAll()
    .where('resource_id', 'in', resourceIds)
    .where('ended_at', 'is', null)
    .where('seen_at', '>', sql<Date>`now() - make_interval(secs => ${SESSION_SEEN_WITHIN_MS / 1000})`)
    .orderBy('started_at')
    .execute();
}

/** One session by its id, live or ended; null when there is none. */
export async function findSession(db: Db, id: string): Promise<GatewaySessionRow | null> {
  return (await db.selectFrom('gateway_sessions').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export type EndSessionResult =
  { ok: true; session: GatewaySessionRow } | { ok: false; reason: 'unknown' | 'not-owner' | 'already-ended' };

/**
 * An owner of the session's resource asks for it to end: recorded (`gateway.end_requested`)
 * with the request, which notifies every replica at commit; the one holding the session
 * ends it. Anyone else is refused, and a session already over is said to be.
 */
export async function requestSessionEnd(
  ctx: AccessContext,
  sessionId: string,
  by: SlackUserId,
): Promise<EndSessionResult> {
  return ctx.db.transaction().execute(async (trx) => {
    const session = await trx
      .selectFrom('gateway_sessions')
      .selectAll()
      .where('id', '=', sessionId)
      .forUpdate()
      .executeTakeFirst();
    if (!session) return { ok: false, reason: 'unknown' } as const;
    const owners = resourceOf(ctx, session.resource_id)?.owners ?? [];
    if (!owners.includes(by)) return { ok: false, reason: 'not-owner' } as const;
    if (session.ended_at || session.end_requested_at) return { ok: false, reason: 'already-ended' } as const;
    await trx
      .updateTable('gateway_sessions')
      .set({ end_requested_at: sql<Date>`now()`, end_requested_by: by })
      .where('id', '=', sessionId)
      .execute();
    await ctx.audit.append(trx, {
      actor: by,
      action: 'gateway.end_requested',
      subject: sessionId,
      body: { grant: session.grant_id, resource: session.resource_id, user: session.user_id },
    });
    return { ok: true, session } as const;
  });
}
