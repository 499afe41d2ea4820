import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

/**
 * What the people involved must be told, written to the outbox in the transaction of the
 * change. The Slack notifier renders each from the state at the time it is sent, and
 * retries until Slack has it: a crash or an outage delays a message, never loses it.
 */
export type Notification =
  | { kind: 'request.submitted'; requestId: string }
  | { kind: 'request.progress'; requestId: string }
  | { kind: 'request.decided'; requestId: string }
  | { kind: 'request.reminder'; requestId: string }
  | { kind: 'grant.active'; grantId: string }
  | { kind: 'grant.expiring'; grantId: string }
  | { kind: 'grant.ended'; grantId: string }
  | { kind: 'grant.failing'; grantId: string }
  | { kind: 'home.refresh'; userId: string }
  /** A revocation that keeps failing: the audit channel and the owners are alerted. */
  | { kind: 'grant.revoke_alert'; grantId: string }
  /** A signed checkpoint, posted to the audit channel with the checkpoint in its metadata. */
  | { kind: 'checkpoint.publish'; checkpointId: number }
  /** MFA (src/mfa): the QR code of an enrolment, by direct message, rendered from the sealed secret at sending. */
  | { kind: 'mfa.enrolment'; userId: string }
  /** An enrolment confirmed: its QR code message is deleted and the person told. */
  | { kind: 'mfa.enrolled'; userId: string; reEnrolment?: boolean }
  | { kind: 'mfa.changed'; userId: string; change: 'removed' | 'reset'; by?: string; leftover?: EnrolmentMessage }
  /** Too many wrong codes: the audit channel is alerted and the person told. */
  | { kind: 'mfa.locked'; userId: string; until: string };

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
  return notify(trx, { kind: 'checkpoint.publish', checkpointId: checkpoint.id });
}
