import type { Notification } from '../../access/notifications.ts';
import type { Destination } from '../../outbox/outbox-pump.ts';
import { describeSlackError, retryDelayMs } from '../slack-errors.ts';
import { publishCheckpoint } from './checkpoints.ts';
import { Conversations } from './conversations.ts';
import { alertRevokeFailing, grantNotice } from './grants.ts';
import { publishHome } from './home.ts';
import * as mfa from './mfa.ts';
import type { Outbound } from './outbound.ts';
import { remindOwners, requestDecided, requestProgress, requestSubmitted } from './requests.ts';

/**
 * Slack as the outbox's destination: each notification the access rules wrote with a
 * change becomes Slack messages, rendered from the state at the time of sending. Steps
 * that could repeat on a retry are made safe: cards already posted are recorded and not
 * posted again, and card updates simply set the card to the current state.
 */
export function slackNotifications(parts: Omit<Outbound, 'to'>): Destination<Notification> {
  const out: Outbound = { ...parts, to: new Conversations(parts.client, () => parts.policy().policy.auditChannel) };
  return {
    deliver: (n) => deliver(out, n),
    // Home tabs are refreshed once per batch, however many changes touched them.
    merged: { kind: 'home.refresh', by: 'userId', deliver: (userId) => publishHome(out, userId) },
    retryDelayMs,
    describe: describeSlackError,
  };
}

async function deliver(out: Outbound, n: Notification): Promise<void> {
  switch (n.kind) {
    case 'request.submitted':
      return requestSubmitted(out, n.requestId);
    case 'request.progress':
      return requestProgress(out, n.requestId);
    case 'request.decided':
      return requestDecided(out, n.requestId);
    case 'request.reminder':
      return remindOwners(out, n.requestId);
    case 'grant.active':
    case 'grant.expiring':
    case 'grant.ended':
    case 'grant.failing':
      return grantNotice(out, n);
    case 'grant.revoke_alert':
      return alertRevokeFailing(out, n.grantId);
    case 'home.refresh':
      return publishHome(out, n.userId);
    case 'checkpoint.publish':
      return publishCheckpoint(out, n.checkpointId);
    case 'mfa.enrolment':
      return mfa.sendEnrolment(out, n.userId);
    case 'mfa.enrolled':
      return mfa.enrolled(out, n);
    case 'mfa.changed':
      return mfa.changed(out, n);
    case 'mfa.locked':
      return mfa.locked(out, n);
    default: {
      // A kind this version does not know (a newer replica wrote it): leave it for one that does.
      const unknown: never = n;
      throw new Error(`unknown notification kind ${(unknown as { kind: string }).kind}`);
    }
  }
}
