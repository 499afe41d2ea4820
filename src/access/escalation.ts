/**
 * Escalation (docs/asking.md): a request still pending `escalate_after` after it was filed
 * goes to the resource's `escalate_to` group as well. The sweep moves `escalated_at` from
 * null once, under a row lock taken with SKIP LOCKED, so each request is escalated exactly
 * once on any number of replicas; its audit event and the cards' delivery commit with it.
 * From then on the group's members may approve or deny it, and their approvals count
 * toward its quorum like the owners'.
 */
import { resourceOf, type AccessContext } from './context.ts';
import type { SlackUserId } from './ids.ts';
import { notify } from './notifications.ts';

/** Who may decide a request: its resource's owners, and the fallback group once it was escalated; never the requester. */
export function decidersOf(
  ctx: AccessContext,
  request: { resourceId: string; requester: string; escalatedTo?: string | null },
): SlackUserId[] {
  const owners = resourceOf(ctx, request.resourceId)?.owners ?? [];
  const fallback = request.escalatedTo ? (ctx.policy().policy.groups.get(request.escalatedTo) ?? []) : [];
  return [...new Set([...owners, ...fallback])].filter((id) => id !== request.requester).sort();
}

/** Escalates the pending requests whose time has come; returns how many. */
export async function escalateWaiting(ctx: AccessContext, limit = 200): Promise<number> {
  return ctx.audit.transact(async (trx) => {
    const due = await trx
      .selectFrom('access_requests')
      .select(['id', 'resource_id', 'requester', 'created_at', 'escalate_at', 'escalate_to'])
      .where('status', '=', 'pending')
      .where('escalated_at', 'is', null)
      .where('escalate_at', '<=', ctx.now())
      .orderBy('escalate_at')
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .execute();
    let escalated = 0;
    for (const row of due) {
      const updated = await trx
        .updateTable('access_requests')
        .set({ escalated_at: ctx.now() })
        .where('id', '=', row.id)
        .where('status', '=', 'pending')
        .where('escalated_at', 'is', null)
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) continue;
      escalated++;
      const to = row.escalate_to ?? '';
      const members = decidersOf(ctx, { resourceId: row.resource_id, requester: row.requester, escalatedTo: to });
      await ctx.audit.append(trx, {
        actor: 'system',
        action: 'request.escalated',
        subject: row.id,
        body: {
          resource: row.resource_id,
          to,
          after_ms: (row.escalate_at ?? ctx.now()).getTime() - row.created_at.getTime(),
          approvers: members,
        },
      });
      // Cards to those who have none yet (the fallback group), then every copy says it was escalated.
      await notify(
        trx,
        { kind: 'notify_request_submitted', requestId: row.id },
        { kind: 'notify_request_progress', requestId: row.id },
        ...members.map((userId) => ({ kind: 'refresh_home' as const, userId })),
      );
    }
    return escalated;
  });
}
