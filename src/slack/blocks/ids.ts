/**
 * Every action_id, block_id and callback_id Gatehouse puts on a Slack surface. Builders
 * and listeners both import these, so a renamed id cannot leave a button without a handler.
 * Ids are namespaced with `gatehouse.` so they never collide with another app's in logs.
 */

/** Button action ids. Every button's `value` carries the id of the request, grant, session or alert it acts on. */
export const ACTION = {
  approve: 'gatehouse.approve',
  deny: 'gatehouse.deny',
  cancelRequest: 'gatehouse.cancel_request',
  /** "I'm done": the holder ends a grant early. */
  endGrant: 'gatehouse.end_grant',
  extendGrant: 'gatehouse.extend_grant',
  /** The App Home "Request access" button; it carries no value. */
  openRequestModal: 'gatehouse.open_request_modal',
  /** MFA: confirm an enrolment with a code (on the QR code message), re-enrol, turn off. No value. */
  mfaConfirm: 'gatehouse.mfa_confirm',
  /** App Home: start an enrolment (the QR code comes by direct message). */
  mfaStart: 'gatehouse.mfa_start',
  mfaReEnrol: 'gatehouse.mfa_re_enrol',
  mfaRemove: 'gatehouse.mfa_remove',
  /** App Home: an owner ends a live database session on the gateway. The value is the session's id. */
  endGatewaySession: 'gatehouse.end_gateway_session',
  /** On an alert: a responder says they have seen it. The value is the alert's id. */
  acknowledgeAlert: 'gatehouse.acknowledge_alert',
  /** On an alert: a responder ends the access it is about, now. The value is the alert's id. */
  endAlertAccess: 'gatehouse.end_alert_access',
  /** On a grant's end in the audit channel: an auditor gets the grant's receipt as a file. The value is the grant's id. */
  sendReceipt: 'gatehouse.send_receipt',
  /** On a break-glass alert: an owner ratifies, or takes the access away now. The value is the grant's id. */
  ratifyBreakGlass: 'gatehouse.ratify_break_glass',
  revokeBreakGlass: 'gatehouse.revoke_break_glass',
  /** On an access review: an owner keeps or removes one person. The value is `<review id>:<user id>`. */
  reviewKeep: 'gatehouse.review_keep',
  reviewRemove: 'gatehouse.review_remove',
} as const;

export type ActionId = (typeof ACTION)[keyof typeof ACTION];

/**
 * Block ids. Slack rejects a surface where two blocks share a block_id, so blocks repeated
 * per item (a list of grants, say) use `itemBlockId(prefix, itemId)` instead of the bare prefix.
 */
export const BLOCK = {
  approvalActions: 'gatehouse.approval_actions',
  requestActions: 'gatehouse.request_actions',
  grantActions: 'gatehouse.grant_actions',
  homeActions: 'gatehouse.home_actions',
  mfaActions: 'gatehouse.mfa_actions',
  gatewaySessionActions: 'gatehouse.gateway_session_actions',
  alertActions: 'gatehouse.alert_actions',
  receiptActions: 'gatehouse.receipt_actions',
  breakGlassActions: 'gatehouse.break_glass_actions',
  /** Per person of a review: `itemBlockId(BLOCK.reviewPerson, userId)`. */
  reviewPerson: 'gatehouse.review_person',
} as const;

/** View callback ids, matched by `app.view(...)`. */
export const VIEW = {
  requestModal: 'gatehouse.request_modal',
  denyModal: 'gatehouse.deny_modal',
  /** Asks for a TOTP code; what it is for travels in private_metadata (MfaModalContext). */
  mfaModal: 'gatehouse.mfa_modal',
  /** The holder's Extend form: how much longer, and why. The grant's id travels in private_metadata. */
  extendModal: 'gatehouse.extend_modal',
  /** What an approval pressed on the App Home did (nothing to submit). */
  approvedNotice: 'gatehouse.approved_notice',
  home: 'gatehouse.home',
} as const;

/** Input blocks of the request modal: read as `view.state.values[block][action]`. */
export const REQUEST_MODAL = {
  resource: { block: 'gatehouse.request.resource', action: 'gatehouse.request.resource_select' },
  duration: { block: 'gatehouse.request.duration', action: 'gatehouse.request.duration_input' },
  reason: { block: 'gatehouse.request.reason', action: 'gatehouse.request.reason_input' },
  mfaCode: { block: 'gatehouse.request.mfa', action: 'gatehouse.request.mfa_input' },
  ticket: { block: 'gatehouse.request.ticket', action: 'gatehouse.request.ticket_input' },
} as const;

/** Input blocks of the Extend form. */
export const EXTEND_MODAL = {
  duration: { block: 'gatehouse.extend.duration', action: 'gatehouse.extend.duration_select' },
  reason: { block: 'gatehouse.extend.reason', action: 'gatehouse.extend.reason_input' },
  mfaCode: { block: 'gatehouse.extend.mfa', action: 'gatehouse.extend.mfa_input' },
} as const;

/** Input block of the MFA code modal. */
export const MFA_MODAL = {
  code: { block: 'gatehouse.mfa.code', action: 'gatehouse.mfa.code_input' },
} as const;

/** Input block of the deny modal. */
export const DENY_MODAL = {
  reason: { block: 'gatehouse.deny.reason', action: 'gatehouse.deny.reason_input' },
} as const;

const MAX_ID_LENGTH = 255;

/** A block id unique per item, within Slack's 255 characters; the item id is kept whole when it fits. */
export function itemBlockId(prefix: string, itemId: string): string {
  return `${prefix}:${itemId}`.slice(0, MAX_ID_LENGTH);
}
