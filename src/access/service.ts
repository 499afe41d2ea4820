import type { AccessContext } from './context.ts';
import { approve, deny, mayDecide } from './decisions.ts';
import { expireStaleRequests, remindOwners } from './expiry.ts';
import { endDueGrants, reconcileGrants, releaseGrant, retryGrants, warnExpiring } from './grants.ts';
import { cancelRequest, requestableBy, requestAccess, type RequestInput } from './requests.ts';
import { awaitingDecisionBy, awaitingDecisionPage, findGrant, findRequest, holdingsOf } from './store.ts';

/**
 * The access rules behind one object, for the adapters (Slack, the sweeps, the CLI).
 * Inputs and outputs are plain data; nothing here knows about Slack.
 */
export class AccessService {
  constructor(readonly ctx: AccessContext) {}

  requestable(userId: string) {
    return requestableBy(this.ctx, userId);
  }
  request(input: RequestInput) {
    return requestAccess(this.ctx, input);
  }
  cancel(requestId: string, userId: string) {
    return cancelRequest(this.ctx, requestId, userId);
  }
  approve(requestId: string, approver: string, options?: { mfaChecked?: boolean }) {
    return approve(this.ctx, requestId, approver, options);
  }
  mayDecide(requestId: string, userId: string) {
    return mayDecide(this.ctx, requestId, userId);
  }
  deny(requestId: string, denier: string, reason: string) {
    return deny(this.ctx, requestId, denier, reason);
  }
  release(grantId: string, userId: string) {
    return releaseGrant(this.ctx, grantId, userId);
  }
  /** Files a request to extend a grant: a new request, approved again by the owners. */
  async extend(grantId: string, userId: string, reason = 'extension of an active grant') {
    const grant = await findGrant(this.ctx, grantId);
    if (!grant) return { ok: false as const, refusal: { kind: 'not-found' as const, id: grantId } };
    if (grant.userId !== userId) return { ok: false as const, refusal: { kind: 'not-yours' as const } };
    return requestAccess(this.ctx, { requester: userId, resourceId: grant.resourceId, reason, extendsGrantId: grantId });
  }

  findRequest(id: string) {
    return findRequest(this.ctx, id);
  }
  findGrant(id: string) {
    return findGrant(this.ctx, id);
  }
  holdingsOf(userId: string) {
    return holdingsOf(this.ctx, userId);
  }
  awaitingDecisionBy(userId: string) {
    return awaitingDecisionBy(this.ctx, userId);
  }
  /** For screens: the first `limit` waiting for this person, and the total. */
  awaitingDecisionPage(userId: string, limit = 20) {
    return awaitingDecisionPage(this.ctx, userId, limit);
  }

  endDueGrants() {
    return endDueGrants(this.ctx);
  }
  retryGrants() {
    return retryGrants(this.ctx);
  }
  /** Takes away access found in a target without a live grant (see reconcileGrants). */
  reconcileGrants() {
    return reconcileGrants(this.ctx);
  }
  warnExpiring(withinMs: number) {
    return warnExpiring(this.ctx, withinMs);
  }
  expireStaleRequests() {
    return expireStaleRequests(this.ctx);
  }
  remindOwners() {
    return remindOwners(this.ctx);
  }
}
