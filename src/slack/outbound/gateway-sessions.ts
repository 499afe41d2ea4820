import { asSlackUserId } from '../../access/ids.ts';
import type { Notification } from '../../access/notifications.ts';
import { resourceById } from '../../config/policy.ts';
import * as ui from '../blocks/index.ts';
import { findSession } from '../../access/gateway-sessions.ts';
import { shownSession } from '../gateway-sessions.ts';
import { describeSlackError } from '../slack-errors.ts';
import { publishHome } from './home.ts';
import type { Outbound } from './outbound.ts';
import { updateCardsOfGrant } from './requests.ts';

/** A gateway session started: its request's approval cards show it live, with End session. */
export async function sessionStarted(out: Outbound, sessionId: string): Promise<void> {
  const session = await findSession(out.db, sessionId);
  if (!session) {
    out.log.warn({ sessionId }, 'a gateway session said to have started is not on record; no card to update');
    return;
  }
  await updateCardsOfGrant(out, session.grant_id);
}

/**
 * A gateway session ended: its request's approval cards no longer show it, one summary goes
 * to the audit channel, then its resource's owners' Home tabs are redrawn without it. The
 * cards come first because updating one again is harmless: a failure retries them before
 * the summary is posted. The Home redraws are best effort: a failed one is logged, and not
 * retried with the summary, which would post it twice; the tab is drawn afresh when opened.
 */
export async function sessionEnded(out: Outbound, sessionId: string): Promise<void> {
  const session = await findSession(out.db, sessionId);
  if (!session?.ended_at) {
    out.log.warn({ sessionId }, 'a gateway session said to have ended is not on record as ended; nothing to post');
    return;
  }
  await updateCardsOfGrant(out, session.grant_id);
  const { policy } = out.policy();
  await out.to.toAuditChannel(ui.gatewaySessionEnded(shownSession(policy, session)));
  for (const owner of resourceById(policy, session.resource_id)?.owners ?? []) {
    try {
      await publishHome(out, asSlackUserId(owner));
    } catch (err) {
      out.log.warn(
        { err: describeSlackError(err), userId: owner, sessionId },
        "could not redraw an owner's Home tab after a gateway session ended",
      );
    }
  }
}

/** A statement the gateway refused: posted to the audit channel at once, with the session's holder and resource. */
export async function statementRefused(
  out: Outbound,
  n: Extract<Notification, { kind: 'notify_gateway_refused' }>,
): Promise<void> {
  const session = await findSession(out.db, n.sessionId);
  const { kind: _kind, ...refusal } = n;
  await out.to.toAuditChannel(
    ui.gatewayStatementRefused(refusal, session ? shownSession(out.policy().policy, session) : null),
  );
}
