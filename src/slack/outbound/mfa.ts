import type { SlackUserId } from '../../access/ids.ts';
import type { EnrolmentMessage, Notification } from '../../access/notifications.ts';
import { otpauthUri, qrPng } from '../../mfa/totp.ts';
import * as ui from '../blocks/index.ts';
import { describeSlackError } from '../slack-errors.ts';
import type { Outbound } from './outbound.ts';

/**
 * The QR code of an enrolment, uploaded to the person's direct message, then the link,
 * the key for typing in by hand and the button that confirms. Rendered from the sealed
 * secret now: an enrolment confirmed or replaced meanwhile sends nothing (or the newest).
 * Where it went is remembered at once, so a retry or the confirmation deletes it.
 */
export async function sendEnrolment(out: Outbound, userId: SlackUserId): Promise<void> {
  const pending = await out.access.mfa.pendingEnrolment(userId);
  if (!pending) return;
  await deleteEnrolmentMessage(out, pending.leftover);
  const channel = await out.to.dmChannel(userId);
  const uri = otpauthUri(pending.secret, await displayName(out, userId));
  const uploaded = (await out.client.filesUploadV2({
    channel_id: channel,
    file: await qrPng(uri),
    filename: 'gatehouse-mfa.png',
    title: 'Gatehouse MFA QR code',
    alt_text: 'QR code that adds Gatehouse to an authenticator app',
    initial_comment: ui.mfaQrComment(pending.reEnrolment),
  })) as { files?: { files?: { id?: string }[] }[] };
  const file = uploaded.files?.[0]?.files?.[0]?.id;
  await out.access.mfa.rememberEnrolmentMessage(userId, { channel, ...(file ? { file } : {}) });
  const message = ui.mfaEnrolmentDM(uri, pending.secret, pending.reEnrolment);
  const posted = await out.client.chat.postMessage({ channel, text: message.text, blocks: message.blocks });
  await out.access.mfa.rememberEnrolmentMessage(userId, {
    channel,
    ...(posted.ts ? { ts: posted.ts } : {}),
    ...(file ? { file } : {}),
  });
}

/** An enrolment confirmed: its QR code and message are deleted, and the person told. */
export async function enrolled(
  out: Outbound,
  n: Extract<Notification, { kind: 'notify_mfa_enrolled' }>,
): Promise<void> {
  await deleteEnrolmentMessage(out, await out.access.mfa.confirmedEnrolmentMessage(n.userId));
  await out.access.mfa.forgetEnrolmentMessage(n.userId);
  await out.to.dm(n.userId, ui.mfaEnrolledDM(n.reEnrolment === true));
}

/** MFA removed or reset: what is left of an unfinished enrolment is deleted, and the person told. */
export async function changed(out: Outbound, n: Extract<Notification, { kind: 'notify_mfa_changed' }>): Promise<void> {
  await deleteEnrolmentMessage(out, n.leftover);
  await out.to.dm(n.userId, ui.mfaChangedDM(n.change, n.by));
}

/** Too many wrong codes: the person is told (the watcher alerts the security group: an mfa_lockout alert). */
export async function locked(out: Outbound, n: Extract<Notification, { kind: 'notify_mfa_locked' }>): Promise<void> {
  await out.to.dm(n.userId, ui.mfaLockedDM(new Date(n.until)));
}

/** The label an authenticator app shows: the person's name when Slack gives it, else their id. */
async function displayName(out: Outbound, userId: SlackUserId): Promise<string> {
  try {
    const named = await out.to.nameOf(userId);
    return named.displayName || named.realName || named.name || userId;
  } catch (err) {
    out.log.warn(
      { err: describeSlackError(err), userId },
      'could not read a name for the MFA label; using the user id',
    );
    return userId;
  }
}

/** Deletes an enrolment's QR code and message; already gone is fine (a retry, or the person deleted it). */
async function deleteEnrolmentMessage(out: Outbound, message: EnrolmentMessage | undefined): Promise<void> {
  if (!message) return;
  const gone = new Set(['file_not_found', 'file_deleted', 'message_not_found', 'cant_delete_message']);
  const ignoreGone = (err: unknown) => {
    const code = (err as { data?: { error?: string } }).data?.error;
    if (!code || !gone.has(code)) throw err;
  };
  if (message.file) await out.client.files.delete({ file: message.file }).catch(ignoreGone);
  if (message.ts) await out.client.chat.delete({ channel: message.channel, ts: message.ts }).catch(ignoreGone);
}
