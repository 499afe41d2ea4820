import type { MessageMetadata } from '@slack/types';
import type { WebClient } from '@slack/web-api';
import type { Message } from '../blocks/index.ts';

/** How a person is named in Slack, as users.info gives it. */
export interface PersonName {
  /** The display name (what a mention shows), the full name, and the handle; any may be empty. */
  displayName: string;
  realName: string;
  name: string;
}

/** Names are read again after this long: a renamed person is shown by their new name soon enough. */
const NAME_TTL_MS = 10 * 60_000;
const MAX_NAMES = 2_000;

/**
 * Where messages go: a person's direct message (opened once, then remembered) or the audit
 * channel; and how people are named (read once, kept for a while: a card redrawn at each
 * session start must not ask Slack each time).
 */
export class Conversations {
  private readonly dmChannels = new Map<string, string>();
  private readonly names = new Map<string, { name: PersonName; at: number }>();

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

  /** A person's names from Slack (users.info), kept for ten minutes. Throws what Slack answers. */
  async nameOf(userId: string): Promise<PersonName> {
    const known = this.names.get(userId);
    if (known && Date.now() - known.at < NAME_TTL_MS) return known.name;
    const { user } = await this.client.users.info({ user: userId });
    const name = {
      displayName: user?.profile?.display_name?.trim() ?? '',
      realName: user?.real_name?.trim() ?? '',
      name: user?.name?.trim() ?? '',
    };
    if (this.names.size >= MAX_NAMES) this.names.delete(this.names.keys().next().value!);
    this.names.set(userId, { name, at: Date.now() });
    return name;
  }

  /** Posts to the audit channel; with metadata, so the post can be read back (a checkpoint). */
  async toAuditChannel(message: Message, metadata?: MessageMetadata): Promise<void> {
    const post = { channel: this.auditChannel(), text: message.text, blocks: message.blocks };
    await this.client.chat.postMessage(metadata ? { ...post, metadata } : post);
  }
}
