import { parseDuration } from '../config/duration.ts';
import type { ResourcePolicy } from '../config/policy.ts';
import { resourceOf, type AccessContext } from './context.ts';
import { newId } from './ids.ts';
import { notify } from './notifications.ts';
import { refuse, type Outcome, type ResourceRef } from './refusals.ts';
import { findRequest, newRequestFrom, toGrant, toRequest } from './store.ts';
import type { AccessRequest } from './types.ts';

export interface RequestInput {
  requester: string;
  resourceId: string;
  /** As typed (`2h`); unset means the resource's default. */
  duration?: string;
  reason: string;
  /** The grant this request would extend. */
  extendsGrantId?: string;
}

export const MAX_REASON_LENGTH = 2000;

const ref = (r: ResourcePolicy): ResourceRef => ({ id: r.id, name: r.name });

/** The resources this person may ask for. */
export function requestableBy(ctx: AccessContext, userId: string): ResourcePolicy[] {
  return ctx.policy().policy.resources.filter((r) => r.requesters.includes(userId));
}

/**
 * Checks a request against the policy and files it: the request, its audit event and the
 * notifications commit together. At most one pending request per person and resource.
 */
export async function requestAccess(ctx: AccessContext, input: RequestInput): Promise<Outcome<{ request: AccessRequest }>> {
  const allowed = requestableBy(ctx, input.requester).map(ref);
  const resource = resourceOf(ctx, input.resourceId);
  if (!resource) return refuse({ kind: 'unknown-resource', given: input.resourceId, allowed });
  if (!resource.requesters.includes(input.requester)) return refuse({ kind: 'not-allowed', resource: ref(resource), allowed });
  let durationMs = resource.defaultDurationMs;
  if (input.duration !== undefined && input.duration.trim() !== '') {
    try {
      durationMs = parseDuration(input.duration.trim());
    } catch {
      return refuse({ kind: 'bad-duration', given: input.duration });
    }
  }
  if (durationMs > resource.maxDurationMs) {
    return refuse({ kind: 'too-long', resource: ref(resource), requestedMs: durationMs, maxMs: resource.maxDurationMs });
  }
  const reason = input.reason.trim().slice(0, MAX_REASON_LENGTH);
  if (reason === '') return refuse({ kind: 'reason-required', resource: ref(resource) });

  const loaded = ctx.policy();
  const now = ctx.now();
  return ctx.audit.transact(async (trx) => {
    if (!input.extendsGrantId) {
      const held = await trx
        .selectFrom('grants')
        .selectAll()
        .where('user_id', '=', input.requester)
        .where('resource_id', '=', resource.id)
        .where('status', 'in', ['provisioning', 'active', 'provision_failed'])
        .executeTakeFirst();
      if (held) return refuse({ kind: 'already-held', grant: toGrant(ctx, held) });
    }
    const id = newId('req');
    const inserted = await trx
      .insertInto('access_requests')
      .values({
        id,
        requester: input.requester,
        resource_id: resource.id,
        duration_ms: durationMs,
        reason,
        approvals_required: resource.approvalsRequired,
        created_at: now,
        expires_at: new Date(now.getTime() + loaded.policy.requestTtlMs),
        decided_at: null,
        decided_by: null,
        deny_reason: null,
        extends_grant_id: input.extendsGrantId ?? null,
        policy_sha256: loaded.sha256,
        next_reminder_at: loaded.policy.remindAfterMs ? new Date(now.getTime() + loaded.policy.remindAfterMs) : null,
      })
      .onConflict((oc) => oc.columns(['requester', 'resource_id']).where('status', '=', 'pending').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!inserted) {
      const pending = await trx
        .selectFrom('access_requests')
        .selectAll()
        .where('requester', '=', input.requester)
        .where('resource_id', '=', resource.id)
        .where('status', '=', 'pending')
        .executeTakeFirstOrThrow();
      return refuse({ kind: 'already-pending', request: await toRequest(ctx, trx, pending) });
    }
    await ctx.audit.append(trx, {
      actor: input.requester,
      action: 'request.created',
      subject: id,
      body: {
        resource: resource.id,
        duration_ms: durationMs,
        reason,
        approvals_required: resource.approvalsRequired,
        owners: resource.owners,
        ...(input.extendsGrantId ? { extends_grant: input.extendsGrantId } : {}),
        policy_sha256: loaded.sha256,
      },
    });
    await notify(
      trx,
      { kind: 'request.submitted', requestId: id },
      ...[input.requester, ...resource.owners].map((userId) => ({ kind: 'home.refresh' as const, userId })),
    );
    return { ok: true as const, request: newRequestFrom(ctx, inserted) };
  });
}

/** The requester withdraws a pending request. */
export async function cancelRequest(ctx: AccessContext, requestId: string, userId: string): Promise<Outcome<{ request: AccessRequest }>> {
  return ctx.audit.transact(async (trx) => {
    const current = await findRequest(ctx, requestId, trx);
    if (!current) return refuse({ kind: 'not-found', id: requestId });
    if (current.requester !== userId) return refuse({ kind: 'not-yours' });
    const row = await trx
      .updateTable('access_requests')
      .set({ status: 'cancelled', decided_at: ctx.now(), decided_by: userId })
      .where('id', '=', requestId)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
    if (!row) return refuse({ kind: 'already-decided', request: current });
    await ctx.audit.append(trx, { actor: userId, action: 'request.cancelled', subject: requestId, body: { resource: row.resource_id } });
    await notify(trx, { kind: 'request.decided', requestId }, ...homeRefreshes(ctx, row.resource_id, userId));
    return { ok: true as const, request: await toRequest(ctx, trx, row) };
  });
}

/** Home tabs to refresh when a request on `resourceId` changes: the requester's and every owner's. */
export function homeRefreshes(ctx: AccessContext, resourceId: string, requester: string): { kind: 'home.refresh'; userId: string }[] {
  const owners = resourceOf(ctx, resourceId)?.owners ?? [];
  return [...new Set([requester, ...owners])].map((userId) => ({ kind: 'home.refresh' as const, userId }));
}
