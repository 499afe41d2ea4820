import type { MessageMetadata } from '@slack/types';
import type { WebClient } from '@slack/web-api';
import type { Message } from '../blocks/index.ts';

/** Where messages go: a person's direct message (opened once, then remembered) or the audit channel. */
export class Conversations {
  private readonly dmChannels = new Map<string, string>();

  constructor(
    private readonly client: WebClient,
    /** The policy's audit channel, read at each post (the policy may change). */
    private readonly auditChannel: () => string,
  ) {}

  /** Posts to a person's DM; where it landed, to update it later. */
  async dm(userId: string, message: Message): Promise<{ channel: string; ts: string }> {
    const channel = await this.dmChannel(userId);
    const posted = await this.client.chat.postMessage({ channel, text: message.text, blocks: message.blocks });
    return { channel: posted.channel ?? channel, ts: posted.ts ?? '' };
  }

  async dmChannel(userId: string): Promise<string> {
    const known = this.dmChannels.get(userId);
    if (known) return known;
    const opened = await this.client.conversations.open({ users: userId });
    const id = opened.channel?.id;
    if (!id) throw new Error(`Slack opened no direct message with ${userId}`);
    this.dmChannels.set(userId, id);
    return id;
  }

  /** Posts to the audit channel; with metadata, so the post can be read back (a checkpoint). */
  async toAuditChannel(message: Message, metadata?: MessageMetadata): Promise<void> {
    const post = { channel: this.auditChannel(), text: message.text, blocks: message.blocks };
    await this.client.chat.postMessage(metadata ? { ...post, metadata } : post);
  }
}
