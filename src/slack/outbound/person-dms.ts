import type { SlackUserId } from '../../access/ids.ts';
import type { PersonMessageKind } from '../../db/schema.ts';
import type * as ui from '../blocks/index.ts';
import { alreadySent, recordSent, updateMessages, type MessageSubject } from '../person-messages.ts';
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
  const row = await recordSent(out.db, posted, userId, kind, subject);
  // A change that came while it was being sent (the grant ended) found no message to update:
  // this one is set to the state of now, if that is not what was sent.
  if (kind === 'grant' || kind === 'credentials') await updateMessages(out, [row], message);
}
