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
      await notify(
        trx,
        { kind: 'notify_request_decided', requestId: row.id },
        ...homeRefreshes(ctx, row.resource_id, row.requester),
      );
    }
    return rows.length;
  });
}

/**
 * The sweep for reminders: owners of a request still waiting after the policy's
 * `remind_after` hear again, then after twice that, four times that … until it expires.
 */
export async function remindOwners(ctx: AccessContext, limit = 200): Promise<number> {
  const base = ctx.policy().policy.remindAfterMs;
  if (!base) return 0;
  return ctx.audit.transact(async (trx) => {
    const due = await trx
      .selectFrom('access_requests')
      .select(['id', 'reminders_sent'])
      .where('status', '=', 'pending')
      .where('next_reminder_at', '<=', ctx.now())
      .orderBy('next_reminder_at')
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .execute();
    for (const row of due) {
      const sent = row.reminders_sent + 1;
      await trx
        .updateTable('access_requests')
        .set({ reminders_sent: sent, next_reminder_at: new Date(ctx.now().getTime() + base * 2 ** sent) })
        .where('id', '=', row.id)
        .execute();
      await ctx.audit.append(trx, {
        actor: 'system',
        action: 'request.reminded',
        subject: row.id,
        body: { reminder: sent },
      });
      await notify(trx, { kind: 'notify_request_reminder', requestId: row.id });
    }
    return due.length;
  });
}
