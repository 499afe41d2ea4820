import type { WebClient } from '@slack/web-api';

export interface ReceiptFile {
  /** The person it goes to, in the bot's DM with them. */
  userId: string;
  fileName: string;
  title: string;
  text: string;
  comment: string;
}

/** Slack refused the file or its upload; the message names the step. */
export class FileSendError extends Error {}

/**
 * Sends a file into the bot's DM with a person, as Slack's upload flow has it: an upload URL
 * from files.getUploadURLExternal, the bytes POSTed to it, then files.completeUploadExternal
 * shares the file into the DM with a comment. Returns the file's id.
 */
export async function sendFileToPerson(client: WebClient, file: ReceiptFile): Promise<string> {
  const bytes = Buffer.from(file.text, 'utf8');
  const opened = await client.conversations.open({ users: file.userId });
  const channel = opened.channel?.id;
  if (!channel) throw new FileSendError('conversations.open gave no DM channel');
  const upload = await client.files.getUploadURLExternal({ filename: file.fileName, length: bytes.length });
  if (!upload.upload_url || !upload.file_id) throw new FileSendError('files.getUploadURLExternal gave no upload URL');
  const posted = await fetch(upload.upload_url, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
    signal: AbortSignal.timeout(30_000),
  });
  if (!posted.ok) throw new FileSendError(`the upload of ${file.fileName} was answered ${posted.status}`);
  await client.files.completeUploadExternal({
    files: [{ id: upload.file_id, title: file.title }],
    channel_id: channel,
    initial_comment: file.comment,
  });
  return upload.file_id;
}
