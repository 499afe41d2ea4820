import type { WebClient } from '@slack/web-api';
import type { SlackUserId } from '../../access/ids.ts';

/**
 * Whether `channelId` is the bot's own DM with `userId`, where the outbox's DMs land: an
 * answer there would say twice what that DM says. Other DMs (with a colleague) and
 * channels are not.
 */
export async function isBotDm(client: WebClient, channelId: string | undefined, userId: SlackUserId): Promise<boolean> {
  if (!channelId?.startsWith('D')) return false;
  try {
    const opened = await client.conversations.open({ users: userId });
    return opened.channel?.id === channelId;
  } catch {
    // Slack could not say: answer here as well. Twice is better than not at all.
    return false;
  }
}
