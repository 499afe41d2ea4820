import type { Transaction } from 'kysely';
import type { GrantId, RequestId, SlackUserId } from '../db/ids.ts';
import type { Database } from '../db/schema.ts';

/**
 * What the people involved must be told, written to the outbox in the transaction of the
 * change. The Slack notifier renders each from the state at the time it is sent, and
 * retries until Slack has it: a crash or an outage delays a message, never loses it.
 * Kinds are snake_case and start with what delivering does (`notify_…`, `refresh_home`,
 * `publish_checkpoint`), never dotted: a dotted name is an audit action (src/audit/actions.ts).
 * Renaming a kind takes a migration for the rows already queued (as 2026-12-03T0008 did).
 */
export type Notification =
  | { kind: 'notify_request_submitted'; requestId: RequestId }
  | { kind: 'notify_request_progress'; requestId: RequestId }
  | { kind: 'notify_request_decided'; requestId: RequestId }
  | { kind: 'notify_request_reminder'; requestId: RequestId }
  | { kind: 'notify_grant_active'; grantId: GrantId }
  | { kind: 'notify_grant_expiring'; grantId: GrantId }
  | { kind: 'notify_grant_ended'; grantId: GrantId }
  | { kind: 'notify_grant_failing'; grantId: GrantId }
  /** Nothing new to say: the holder's messages about the grant are set to where it stands (an extension applied after failing). */
  | { kind: 'notify_grant_changed'; grantId: GrantId }
  | { kind: 'refresh_home'; userId: SlackUserId }
  /** An alert (access/alerts.ts): posted to the alert channel, sent to the owners and the security group. */
  | { kind: 'notify_alert'; alertId: string }
  /** An alert acknowledged or its access ended: every copy of it is updated. */
  /** With `unlinked`, a look for evidence links the audit feed has posted since (how many were unlinked then). */
  | { kind: 'notify_alert_changed'; alertId: string; unlinked?: number }
  /** Break-glass access taken (access/break-glass.ts): the alert with Ratify and Revoke now, to the audit channel, owners and security. */
  | { kind: 'notify_break_glass'; grantId: GrantId }
  /** Ratified, revoked or revoked unratified: every copy of its alert is updated. */
  | { kind: 'notify_break_glass_changed'; grantId: GrantId }
  /** A contract ends within a week (access/contracts.ts): each owner hears what is still recurring on what they own. */
  | {
      kind: 'notify_contract_ending';
      userId: SlackUserId;
      endsAt: string;
      written: string;
      recurring: { resource: string; grants: number; lastStartedAt: string; owners: SlackUserId[] }[];
    }
  /** An access review opened (access/reviews.ts): each owner gets its message, a Keep and Remove per person. */
  | { kind: 'notify_review_opened'; reviewId: string }
  /** A review's item decided: every copy of every owner's message is updated. */
  | { kind: 'notify_review_changed'; reviewId: string }
  /** Owners of a review still open after the policy's reminder_after are reminded once. */
  | { kind: 'notify_review_reminder'; reviewId: string }
  /** A signed checkpoint, posted to the audit channel with the checkpoint in its metadata. */
  | { kind: 'publish_checkpoint'; checkpointId: number }
  /** MFA (src/mfa): the QR code of an enrolment, by direct message, rendered from the sealed secret at sending. */
  | { kind: 'notify_mfa_enrolment'; userId: SlackUserId }
  /** An enrolment confirmed: its QR code message is deleted and the person told. */
  | { kind: 'notify_mfa_enrolled'; userId: SlackUserId; reEnrolment?: boolean }
  | {
      kind: 'notify_mfa_changed';
      userId: SlackUserId;
      change: 'removed' | 'reset';
      by?: SlackUserId;
      leftover?: EnrolmentMessage;
    }
  /** Too many wrong codes: the person is told (the watcher raises the `mfa_lockout` alert). */
  | { kind: 'notify_mfa_locked'; userId: SlackUserId; until: string }
  /** A gateway session started: the owners' approval cards of its request show it, with End session. */
  | { kind: 'notify_gateway_session_started'; sessionId: string }
  /** A gateway session ended: one summary in the audit channel (who, resource, duration, statements, rows, refused). */
  | { kind: 'notify_gateway_session_ended'; sessionId: string }
  /** A statement the gateway refused: posted to the audit channel at once. */
  | {
      kind: 'notify_gateway_refused';
      sessionId: string;
      n: number;
      rule: string;
      reason: string;
      /** The statement, cut to 500 characters. */
      sql: string;
    };

/** Compiles only while no kind is dotted like an audit action. */
type NoneOf<T extends never> = T;
type _NoDottedKinds = NoneOf<Extract<Notification['kind'], `${string}.${string}`>>;

/** The direct message (and uploaded QR image) of an enrolment, to delete once it is no longer needed. */
export interface EnrolmentMessage {
  channel: string;
  ts?: string;
  file?: string;
}

export async function notify(trx: Transaction<Database>, ...notifications: Notification[]): Promise<void> {
  if (notifications.length === 0) return;
  await trx
    .insertInto('outbox')
    .values(notifications.map(({ kind, ...payload }) => ({ kind, payload })))
    .execute();
}

/** Queues a signed checkpoint's post to the audit channel, in the transaction that stores it. */
export function queueCheckpointPost(trx: Transaction<Database>, checkpoint: { id: number }): Promise<void> {
  return notify(trx, { kind: 'publish_checkpoint', checkpointId: checkpoint.id });
}
