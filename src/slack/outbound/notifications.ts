import { asSlackUserId } from '../../access/ids.ts';
import type { Notification } from '../../access/notifications.ts';
import type { Destination } from '../../outbox/outbox-pump.ts';
import { describeSlackError, retryDelayMs } from '../slack-errors.ts';
import { alertChanged, alertRaised } from './alerts.ts';
import { breakGlassChanged, breakGlassTaken, contractEnding } from './break-glass.ts';
import { publishCheckpoint } from './checkpoints.ts';
import { Conversations } from './conversations.ts';
import { sessionEnded, sessionStarted, statementRefused } from './gateway-sessions.ts';
import { grantNotice } from './grants.ts';
import { publishHome } from './home.ts';
import * as mfa from './mfa.ts';
import type { Outbound } from './outbound.ts';
import { remindOwners, requestDecided, requestProgress, requestSubmitted } from './requests.ts';
import { reviewChanged, reviewOpened, reviewReminder } from './reviews.ts';

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
    merged: { kind: 'refresh_home', by: 'userId', deliver: (userId) => publishHome(out, asSlackUserId(userId)) },
    retryDelayMs,
    describe: describeSlackError,
  };
}

async function deliver(out: Outbound, n: Notification): Promise<void> {
  switch (n.kind) {
    case 'notify_request_submitted':
      return requestSubmitted(out, n.requestId);
    case 'notify_request_progress':
      return requestProgress(out, n.requestId);
    case 'notify_request_decided':
      return requestDecided(out, n.requestId);
    case 'notify_request_reminder':
      return remindOwners(out, n.requestId);
    case 'notify_grant_active':
    case 'notify_grant_expiring':
    case 'notify_grant_ended':
    case 'notify_grant_failing':
    case 'notify_grant_changed':
      return grantNotice(out, n);
    case 'notify_alert':
      return alertRaised(out, n.alertId);
    case 'notify_alert_changed':
      return alertChanged(out, n.alertId, n.unlinked);
    case 'notify_break_glass':
      return breakGlassTaken(out, n.grantId);
    case 'notify_break_glass_changed':
      return breakGlassChanged(out, n.grantId);
    case 'notify_contract_ending':
      return contractEnding(out, n);
    case 'notify_review_opened':
      return reviewOpened(out, n.reviewId);
    case 'notify_review_changed':
      return reviewChanged(out, n.reviewId);
    case 'notify_review_reminder':
      return reviewReminder(out, n.reviewId);
    case 'refresh_home':
      return publishHome(out, n.userId);
    case 'publish_checkpoint':
      return publishCheckpoint(out, n.checkpointId);
    case 'notify_mfa_enrolment':
      return mfa.sendEnrolment(out, n.userId);
    case 'notify_mfa_enrolled':
      return mfa.enrolled(out, n);
    case 'notify_mfa_changed':
      return mfa.changed(out, n);
    case 'notify_mfa_locked':
      return mfa.locked(out, n);
    case 'notify_gateway_session_started':
      return sessionStarted(out, n.sessionId);
    case 'notify_gateway_session_ended':
      return sessionEnded(out, n.sessionId);
    case 'notify_gateway_refused':
      return statementRefused(out, n);
    default: {
      // A kind this version does not know (a newer replica wrote it): leave it for one that does.
      const unknown: never = n;
      throw new Error(`unknown notification kind ${(unknown as { kind: string }).kind}`);
    }
  }
}
