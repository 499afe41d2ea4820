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
import { findGrant } from './store.ts';
import type { AccessRequest, Grant } from './types.ts';

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

/**
 * The holder's extension of a grant of a resource with require_mfa, which is asked for in
 * the request form (it has the code field). Anything else goes to extend() at once, which
 * refuses what it must.
 */
export async function extensionNeedsCode(
  ctx: AccessContext,
  grantId: GrantId,
  holder: SlackUserId,
): Promise<{ needsCode: false } | { needsCode: true; grant: Grant }> {
  const grant = await findGrant(ctx, grantId);
  if (grant && grant.userId === holder && resourceOf(ctx, grant.resourceId)?.requireMfa)
    return { needsCode: true, grant };
  return { needsCode: false };
}
