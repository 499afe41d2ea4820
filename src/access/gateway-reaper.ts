import { sql } from 'kysely';
import type { AccessContext } from './context.ts';
import { SESSION_SEEN_WITHIN_MS } from './gateway-sessions.ts';
import { notify } from './notifications.ts';

/**
 * Sessions of a lost gateway replica (docs/gateway.md, "A lost replica"). The replica
 * holding a session refreshes its row's `seen_at` every 5 s (RECHECK_MS in
 * src/gateway/server.ts); one killed with -9 stops, and its sessions would stay open on the
 * record for ever. This sweep ends them `replica_lost`, each with its
 * `gateway.session_ended`, in the transaction that ends the row.
 */

/**
 * An open session not seen for this long is ended as lost: 18 refreshes missed, three times
 * SESSION_SEEN_WITHIN_MS (when owners stop seeing it as live). Hiding a session is
 * harmless; ending one cuts a contractor's work and cannot be undone, so a replica whose
 * connection to this database blips (a PostgreSQL restart or failover takes seconds to
 * tens of seconds) keeps its sessions. A replica cut off for longer finds its sessions
 * ended when it comes back, and ends them there without a second record (server.ts).
 */
export const SESSION_LOST_AFTER_MS = 3 * SESSION_SEEN_WITHIN_MS;

/**
 * Ends the open sessions whose replica has not been seen for SESSION_LOST_AFTER_MS; returns
 * how many. Rows are claimed FOR UPDATE SKIP LOCKED and moved from `ended_at` null once, so
 * on any number of replicas each is ended and recorded exactly once; the holder's own end
 * (recordSessionEnd) is the same conditional update, so the two never both record.
 *
 * The row's counts are the holder's as of its last refresh (`counts_as_of`): statements
 * committed in the last few seconds before it was lost are on the chain but may be missing
 * from them, so they are a lower bound. The outcome of a statement under way is not known.
 */
export async function endLostSessions(ctx: AccessContext, limit = 100): Promise<number> {
  return ctx.audit.transact(async (trx) => {
    const lost = await trx
      .selectFrom('gateway_sessions')
      .select(['id', 'grant_id', 'resource_id', 'replica', 'started_at', 'seen_at', 'statements', 'rows', 'refused'])
      .where('ended_at', 'is', null)
      .where('seen_at', '<', sql<Date>`now() - make_interval(secs => ${SESSION_LOST_AFTER_MS / 1000})`)
      .orderBy('seen_at')
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .execute();
    let ended = 0;
    for (const row of lost) {
      const updated = await trx
        .updateTable('gateway_sessions')
        .set({ ended_at: sql<Date>`now()`, end_reason: 'replica_lost' })
        .where('id', '=', row.id)
        .where('ended_at', 'is', null)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) continue;
      ended++;
      ctx.log.warn(
        { sessionId: row.id, grantId: row.grant_id, replica: row.replica, seenAt: row.seen_at },
        'a gateway session was ended on the record: the replica holding it was not seen for too long',
      );
      await ctx.audit.append(trx, {
        actor: 'system',
        action: 'gateway.session_ended',
        subject: row.id,
        body: {
          grant: row.grant_id,
          resource: row.resource_id,
          reason: 'replica_lost',
          statements: row.statements,
          refused: row.refused,
          rows: Number(row.rows),
          // Up to when it was last seen alive: how long it ran after that is not known.
          duration_ms: Math.max(0, row.seen_at.getTime() - row.started_at.getTime()),
          in_transaction: null,
          replica: row.replica,
          last_seen_at: row.seen_at.toISOString(),
          counts_as_of: row.seen_at.toISOString(),
        },
      });
      await notify(trx, { kind: 'notify_gateway_session_ended', sessionId: row.id });
    }
    return ended;
  });
}
