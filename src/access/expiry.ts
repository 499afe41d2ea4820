import type { AccessContext } from './context.ts';
import { notify } from './notifications.ts';
import { homeRefreshes } from './requests.ts';

/**
 * The sweep for requests nobody decided in time: claims them with SKIP LOCKED, marks them
 * expired with their audit events, and tells the requester and the owners' cards.
 */
export async function expireStaleRequests(ctx: AccessContext, limit = 200): Promise<number> {
  return ctx.audit.transact(async (trx) => {
    const rows = await trx
      .updateTable('access_requests')
      .set({ status: 'expired', decided_at: ctx.now(), decided_by: 'system' })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('access_requests')
          .select('id')
          .where('status', '=', 'pending')
          .where('expires_at', '<=', ctx.now())
          .orderBy('expires_at')
          .limit(limit)
          .forUpdate()
          .skipLocked(),
      )
      .returningAll()
      .execute();
    for (const row of rows) {
      await ctx.audit.append(trx, {
        actor: 'system',
        action: 'request.expired',
        subject: row.id,
        body: { resource: row.resource_id, requester: row.requester, expires_at: row.expires_at.toISOString() },
      });
      await notify(trx, { kind: 'request.decided', requestId: row.id }, ...homeRefreshes(ctx, row.resource_id, row.requester));
    }
    return rows.length;
  });
}
