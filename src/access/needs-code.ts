/**
 * Whether a step takes the person's MFA code, asked before a form opens: a step that does
 * is asked for in a form with a code field, and one who cannot give a code is refused at
 * once instead. The code itself is checked with the step (requestAccess, approve).
 */
import { resourceOf, type AccessContext } from './context.ts';
import { mayDecide } from './decisions.ts';
import type { GrantId, RequestId, SlackUserId } from './ids.ts';
import { MfaService } from './mfa.ts';
import { refuse, type Outcome } from './refusals.ts';
import { findGrant, toRequest } from './store.ts';
import { LIVE_GRANT_STATUSES, type AccessRequest, type Grant } from './types.ts';

/**
 * A request for a resource with require_mfa, by someone who may ask for it (anyone else is
 * refused by requestAccess, code or not). No resource named yet: no code yet either.
 */
export async function requestNeedsCode(
  ctx: AccessContext,
  requester: SlackUserId,
  resourceId: string | undefined,
): Promise<Outcome<{ needsCode: boolean }>> {
  const resource = resourceId === undefined ? undefined : resourceOf(ctx, resourceId);
  const needsCode = resource?.requireMfa === true && resource.requesters.includes(requester);
  if (needsCode && (await new MfaService(ctx).status(requester)).state !== 'on')
    return refuse({ kind: 'mfa-not-enrolled', purpose: 'request' });
  return { ok: true, needsCode };
}

/**
 * An approval of a request for a resource with approver_mfa: only an owner who may decide
 * (a refusal is on the record, as mayDecide says) and has MFA on is asked for a code.
 * Otherwise approve() is called at once, and refuses an unknown request itself.
 */
export async function approvalNeedsCode(
  ctx: AccessContext,
  requestId: RequestId,
  approver: SlackUserId,
): Promise<Outcome<{ needsCode: false } | { needsCode: true; request: AccessRequest }>> {
  if (!(await approverMfaApplies(ctx, requestId))) return { ok: true, needsCode: false };
  const allowed = await mayDecide(ctx, requestId, approver, 'approve');
  if (!allowed.ok) return allowed;
  if ((await new MfaService(ctx).status(approver)).state !== 'on')
    return refuse({ kind: 'mfa-not-enrolled', purpose: 'approve' });
  return { ok: true, needsCode: true, request: allowed.request };
}

async function approverMfaApplies(ctx: AccessContext, requestId: RequestId): Promise<boolean> {
  if (!ctx.policy().policy.resources.some((resource) => resource.approverMfa)) return false;
  const row = await ctx.db
    .selectFrom('access_requests')
    .select('resource_id')
    .where('id', '=', requestId)
    .executeTakeFirst();
  return row !== undefined && resourceOf(ctx, row.resource_id)?.approverMfa === true;
}

/** What the Extend form shows: the grant, how long an extension may be, and whether it takes a code. */
export interface ExtensionForm {
  grant: Grant;
  /** What the form offers first (the resource's default duration) and the most it takes (its maximum). */
  defaultMs: number;
  maxMs: number;
  needsCode: boolean;
  /** The reason the grant was asked for, to remind the holder. */
  originalReason: string | null;
}

/**
 * Before the Extend form opens: only the holder's own grant that still gives access, with
 * no extension already waiting, and (with require_mfa) a holder who can give a code. A
 * stale button is answered from the grant as it is now.
 */
export async function extensionForm(
  ctx: AccessContext,
  grantId: GrantId,
  holder: SlackUserId,
): Promise<Outcome<ExtensionForm>> {
  const grant = await findGrant(ctx, grantId);
  if (!grant) return refuse({ kind: 'not-found', id: grantId });
  if (grant.userId !== holder) return refuse({ kind: 'not-yours' });
  if (!LIVE_GRANT_STATUSES.includes(grant.status) || grant.endsAt <= ctx.now())
    return refuse({ kind: 'extension-of-ended', grant });
  const resource = resourceOf(ctx, grant.resourceId);
  if (!resource) return refuse({ kind: 'extension-of-ended', grant });
  const pending = await ctx.db
    .selectFrom('access_requests')
    .selectAll()
    .where('requester', '=', holder)
    .where('resource_id', '=', grant.resourceId)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  if (pending) return refuse({ kind: 'already-pending', request: await toRequest(ctx, ctx.db, pending) });
  const needsCode = resource.requireMfa;
  if (needsCode && (await new MfaService(ctx).status(holder)).state !== 'on')
    return refuse({ kind: 'mfa-not-enrolled', purpose: 'request' });
  const original = await ctx.db
    .selectFrom('access_requests')
    .select('reason')
    .where('id', '=', grant.requestId)
    .executeTakeFirst();
  return {
    ok: true,
    grant,
    defaultMs: Math.min(resource.defaultDurationMs, resource.maxDurationMs),
    maxMs: resource.maxDurationMs,
    needsCode,
    originalReason: original?.reason ?? null,
  };
}
