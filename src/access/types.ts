/** The domain as the rest of Gatehouse sees it: plain data, no Slack, no SQL. */

import type { GrantId, RequestId, SlackUserId } from '../db/ids.ts';
import type { GrantEndReason, GrantStatus, RequestStatus } from '../db/schema.ts';

/** The statuses are written once, with the tables that hold them. */
export type { GrantEndReason, GrantStatus, RequestStatus };

/**
 * A grant in these states gives access, or is about to: a person holds one such grant of a
 * resource at a time. fileRequest's one statement (requests.ts) spells them in its SQL.
 */
export const LIVE_GRANT_STATUSES: readonly GrantStatus[] = ['provisioning', 'active', 'provision_failed'];

export interface Approval {
  approver: SlackUserId;
  at: Date;
  /** The approver gave a right MFA code with it (approver_mfa). */
  mfaChecked?: boolean;
}

export interface AccessRequest {
  id: RequestId;
  requester: SlackUserId;
  resourceId: string;
  resourceName: string;
  durationMs: number;
  reason: string;
  status: RequestStatus;
  approvalsRequired: number;
  approvals: Approval[];
  createdAt: Date;
  /** When a still-pending request expires. */
  expiresAt: Date;
  decidedAt: Date | null;
  /** Who made the final decision: the last approver, the denier, the requester (cancel), or `system` (expiry). */
  decidedBy: string | null;
  denyReason: string | null;
  /** Set when this request asks to extend an existing grant. */
  extendsGrantId: GrantId | null;
  /** The requester gave a right MFA code with it (require_mfa). */
  mfaChecked?: boolean;
  /** Granted at once, without approval, to be ratified by owners (access/break-glass.ts). */
  breakGlass?: boolean;
  /** Shortened to end with the requester's contract, which ends then (access/contracts.ts). */
  contractEndsAt?: Date;
  /** The ticket reference it carries, and its link under the policy's template (access/tickets.ts). */
  ticket?: { id: string; url: string | null };
  /** Sent to a fallback group too, after waiting `afterMs` unanswered (access/escalation.ts). */
  escalation?: { to: string; afterMs: number; at: Date };
  /** With the resource's on_call rule: who was asked, and why (access/on-call.ts). */
  onCall?: { asked: SlackUserId[]; because: 'on-call' | 'nobody-on-call' | 'schedule-unreadable'; schedule: string };
}

export interface Grant {
  id: GrantId;
  requestId: RequestId;
  userId: SlackUserId;
  resourceId: string;
  resourceName: string;
  status: GrantStatus;
  startsAt: Date;
  endsAt: Date;
  endedAt: Date | null;
  endReason: GrantEndReason | null;
  /** Set while provisioning, revoking or applying an extension keeps failing. */
  lastError: string | null;
  /** An approved extension moved `endsAt`, and the target is still being told (the retry sweep goes on). */
  extending?: boolean;
  /** When its holder was warned that it ends soon; null again after an extension (warned anew). */
  warnedAt?: Date | null;
}

/** A summary of one audit event, as posted to the audit channel. */
export interface AuditEventSummary {
  seq: number;
  occurredAt: Date;
  actor: string;
  action: string;
  subject: string | null;
  body: Record<string, unknown>;
  /** Hex. */
  hash: string;
}
