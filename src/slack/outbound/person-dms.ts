import type { SlackUserId } from '../../access/ids.ts';
import type { PersonMessageKind } from '../../db/schema.ts';
import type * as ui from '../blocks/index.ts';
import {
  alreadySent,
  recordSent,
  refreshMessagesAbout,
  renderPersonMessage,
  updateMessages,
  type MessageSubject,
} from '../person-messages.ts';
import type { Outbound } from './outbound.ts';

/**
 * Sends a person a message that shows a request's or grant's state, and records it so each
 * later change updates it (src/slack/person-messages.ts). One already sent by an earlier
 * try of the same delivery is not sent again.
 */
export async function sendToPerson(
  out: Outbound,
  userId: SlackUserId,
  kind: PersonMessageKind,
  subject: MessageSubject,
  message: ui.Message,
): Promise<void> {
  if (await alreadySent(out.db, kind, subject)) return;
  const posted = await out.to.dm(userId, message);
  if (!posted.ts) return;
  await recordSent(out.db, posted, userId, kind, subject);
  // A change that came while it was being sent (the grant ended) found no message to update:
  // set this one to the state of now, if that differs from what was sent.
  if (kind === 'grant' || kind === 'credentials') {
    const row = { channel: posted.channel, ts: posted.ts, kind, request_id: null, grant_id: subject.grantId ?? null };
    const now = await renderPersonMessage(out.access, row, out.now());
    if (now && JSON.stringify(now.blocks) !== JSON.stringify(message.blocks))
      await updateMessages(out, [{ ...row, user_id: userId, created_at: new Date() }]);
  }
}

/** After a change: every message about the request or grant (and those tied to it) is set to the state of now. */
export function refreshPersonMessages(out: Outbound, subject: MessageSubject): Promise<void> {
  return refreshMessagesAbout(out, subject);
}
