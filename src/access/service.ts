import {
  acknowledgeAlert,
  alertMessages,
  endAccessForAlert,
  findAlert,
  respondersOf,
  type AlertRow,
} from './alerts.ts';
import { mayVerifyAudit, refuseVerification } from './auditors.ts';
import {
  breakGlass,
  breakGlassMessages,
  breakGlassRecipients,
  findBreakGlass,
  type BreakGlassInput,
} from './break-glass.ts';
import { ratifyBreakGlass, revokeBreakGlass } from './break-glass-decisions.ts';
import type { AccessContext } from './context.ts';
import { approve, approversOf, deny, mayDecide, provisionSoon, type ApproveOptions } from './decisions.ts';
import { expireStaleRequests, remindOwners } from './expiry.ts';
import { requestSessionEnd } from './gateway-sessions.ts';
import { endDueGrants, releaseGrant, retryGrants, warnExpiring } from './grants.ts';
import { MfaService } from './mfa.ts';
import { approvalNeedsCode, extensionForm, requestNeedsCode } from './needs-code.ts';
import { reconcileGrants } from './reconcile.ts';
import { cancelRequest, requestableBy, requestAccess, type RequestInput } from './requests.ts';
import {
  awaitingDecisionBy,
  awaitingDecisionPage,
  findGrant,
  findRequest,
  grantOfRequest,
  holdingsOf,
  pendingExtensionOf,
} from './store.ts';
import type { GrantId, RequestId, SlackUserId } from './ids.ts';
import type { AccessRequest } from './types.ts';

/**
 * The access rules behind one object, for the adapters (Slack, the sweeps, the CLI).
 * Inputs and outputs are plain data; nothing here knows about Slack.
 */
export class AccessService {
  /** Step-up MFA: enrolment, removal, resets and code checks. */
  readonly mfa: MfaService;

  constructor(readonly ctx: AccessContext) {
    this.mfa = new MfaService(ctx);
  }

  requestable(userId: SlackUserId) {
    return requestableBy(this.ctx, userId);
  }
  request(input: RequestInput) {
    return requestAccess(this.ctx, input);
  }
  cancel(requestId: RequestId, userId: SlackUserId) {
    return cancelRequest(this.ctx, requestId, userId);
  }
  approve(requestId: RequestId, approver: SlackUserId, options?: ApproveOptions) {
    return approve(this.ctx, requestId, approver, options);
  }
  /** Provisions a grant approved with `deferProvisioning`; if that fails, the retry sweep does. */
  provision(grantId: GrantId) {
    return provisionSoon(this.ctx, grantId);
  }
  mayDecide(requestId: RequestId, userId: SlackUserId, decision: 'approve' | 'deny' = 'deny') {
    return mayDecide(this.ctx, requestId, userId, decision);
  }
  deny(requestId: RequestId, denier: SlackUserId, reason: string) {
    return deny(this.ctx, requestId, denier, reason);
  }
  release(grantId: GrantId, userId: SlackUserId) {
    return releaseGrant(this.ctx, grantId, userId);
  }
  /** An owner's End session on a live gateway session (whichever replica holds it ends it). */
  endGatewaySession(sessionId: string, by: SlackUserId) {
    return requestSessionEnd(this.ctx, sessionId, by);
  }
  /** Alerts (src/watch raises them): who may act, and their two buttons. */
  findAlert(alertId: string) {
    return findAlert(this.ctx, alertId);
  }
  alertResponders(alert: Pick<AlertRow, 'resource_id'>) {
    return respondersOf(this.ctx, alert);
  }
  alertMessages(alertId: string) {
    return alertMessages(this.ctx, alertId);
  }
  acknowledgeAlert(alertId: string, userId: SlackUserId) {
    return acknowledgeAlert(this.ctx, alertId, userId);
  }
  endAccessForAlert(alertId: string, userId: SlackUserId) {
    return endAccessForAlert(this.ctx, alertId, userId);
  }
  /** Break-glass access (break-glass.ts): taken at once, then ratified or revoked by owners. */
  breakGlass(input: BreakGlassInput) {
    return breakGlass(this.ctx, input);
  }
  findBreakGlass(grantId: string) {
    return findBreakGlass(this.ctx, grantId);
  }
  breakGlassRecipients(bg: Parameters<typeof breakGlassRecipients>[1]) {
    return breakGlassRecipients(this.ctx, bg);
  }
  breakGlassMessages(grantId: GrantId) {
    return breakGlassMessages(this.ctx, grantId);
  }
  ratifyBreakGlass(grantId: string, userId: SlackUserId) {
    return ratifyBreakGlass(this.ctx, grantId, userId);
  }
  revokeBreakGlass(grantId: string, userId: SlackUserId) {
    return revokeBreakGlass(this.ctx, grantId, userId);
  }
  /**
   * The holder asks to extend a grant by `duration` (at most the resource's maximum), with
   * a reason: a request the owners approve again, which moves that grant's end when approved.
   */
  async extend(
    grantId: GrantId,
    userId: SlackUserId,
    options: { reason: string; duration?: string; mfaCode?: string },
  ) {
    const grant = await findGrant(this.ctx, grantId);
    if (!grant) return { ok: false as const, refusal: { kind: 'not-found' as const, id: grantId } };
    if (grant.userId !== userId) return { ok: false as const, refusal: { kind: 'not-yours' as const } };
    return requestAccess(this.ctx, {
      requester: userId,
      resourceId: grant.resourceId,
      reason: options.reason,
      extendsGrantId: grantId,
      ...(options.duration !== undefined ? { duration: options.duration } : {}),
      ...(options.mfaCode !== undefined ? { mfaCode: options.mfaCode } : {}),
    });
  }

  /**
   * Questions an adapter asks before it opens a form or answers: whether a step takes a
   * code (needs-code.ts), who is asked to decide, who may verify the log. The rules answer;
   * the adapter only renders.
   */
  requestNeedsCode(userId: SlackUserId, resourceId: string | undefined) {
    return requestNeedsCode(this.ctx, userId, resourceId);
  }
  approvalNeedsCode(requestId: RequestId, userId: SlackUserId) {
    return approvalNeedsCode(this.ctx, requestId, userId);
  }
  /** Before the Extend form opens: what it offers, or why there is nothing to extend. */
  extensionForm(grantId: GrantId, userId: SlackUserId) {
    return extensionForm(this.ctx, grantId, userId);
  }
  approversOf(request: Pick<AccessRequest, 'resourceId' | 'requester' | 'escalation'> & { createdAt?: Date }) {
    return approversOf(this.ctx, request);
  }
  mayVerifyAudit(userId: SlackUserId) {
    return mayVerifyAudit(this.ctx, userId);
  }
  refuseVerification(userId: SlackUserId) {
    return refuseVerification(this.ctx, userId);
  }

  findRequest(id: RequestId) {
    return findRequest(this.ctx, id);
  }
  findGrant(id: GrantId) {
    return findGrant(this.ctx, id);
  }
  /** The grant a request was approved into, or the one it extends. */
  grantOfRequest(request: Pick<AccessRequest, 'id' | 'extendsGrantId'>) {
    return grantOfRequest(this.ctx, request);
  }
  pendingExtensionOf(grantId: GrantId) {
    return pendingExtensionOf(this.ctx, grantId);
  }
  holdingsOf(userId: SlackUserId) {
    return holdingsOf(this.ctx, userId);
  }
  awaitingDecisionBy(userId: SlackUserId) {
    return awaitingDecisionBy(this.ctx, userId);
  }
  /** For screens: the first `limit` waiting for this person, and the total. */
  awaitingDecisionPage(userId: SlackUserId, limit = 20) {
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
