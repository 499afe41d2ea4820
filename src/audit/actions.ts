/**
 * Every action Gatehouse records, in one list. `AuditLog.append`/`record` and `queueRow`
 * take only these, so recording a new action means adding it here first, and adding it to
 * the table in docs/audit-log.md, which test/audit-actions.test.ts checks.
 */
export const AUDIT_ACTIONS = [
  // A contractor's request and how it ends.
  'request.created',
  'request.cancelled',
  'request.approved',
  'request.denied',
  'request.expired',
  'request.reminded',
  'request.escalated',
  'request.refused',
  // Owners deciding.
  'approval.recorded',
  'approval.refused',
  // A grant's life.
  'grant.provisioning',
  'grant.active',
  'grant.provision_failed',
  'grant.extending',
  'grant.extended',
  'grant.extend_failed',
  'grant.ending',
  'grant.revoked',
  'grant.revoke_failed',
  'grant.drift_revoked',
  // Step-up MFA.
  'mfa.enrolment_started',
  'mfa.enrolled',
  'mfa.removed',
  'mfa.reset',
  'mfa.reset_refused',
  'mfa.failed',
  'mfa.locked',
  'mfa.refused',
  // Sessions through the database gateway, and every statement in them.
  'gateway.session_started',
  'gateway.statement',
  'gateway.statement_done',
  'gateway.statement_refused',
  'gateway.session_ended',
  'gateway.login_refused',
  'gateway.end_requested',
  // Alerts raised by the watcher (src/watch) and what people did about them.
  'alert.raised',
  'alert.acknowledged',
  'alert.access_ended',
  'alert.action_refused',
  // Break-glass access (src/access/break-glass.ts) and contract ends (src/access/contracts.ts).
  'request.break_glass',
  'breakglass.ratification_recorded',
  'breakglass.ratified',
  'breakglass.revoked_by_owner',
  'breakglass.unratified_revoked',
  'breakglass.action_refused',
  'contract.ending_noticed',
  // Access reviews (src/access/reviews.ts): owners keep or remove each requester.
  'review.opened',
  'review.decided',
  'review.decision_refused',
  'review.completed',
  'review.change_applied',
  // The log itself and the policy.
  'audit.verified',
  'audit.verify_refused',
  'audit.receipt_sent',
  'audit.receipt_refused',
  'policy.loaded',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];
