import { ErrorCode, type WebClient } from '@slack/web-api';
import type { PendingPost } from './audit-feed-intent.ts';

/** Marks our posts so they can be recognised when reading the channel back. */
export const FEED_EVENT_TYPE = 'gatehouse_audit_events';

/** One of our feed's messages read back from the channel: the seqs it shows, where, and its post id. */
export interface FeedPost {
  first_seq: number;
  last_seq: number;
  channel: string;
  ts: string;
  /** The pending post it was made for (metadata `post_id`); null on posts made before intents were recorded. */
  postId: string | null;
}

/** A message as conversations.history returns it, with its metadata. */
interface FeedMessage {
  ts?: string;
  bot_id?: string;
  metadata?: {
    event_type?: string;
    event_payload?: { first_seq?: unknown; last_seq?: unknown; post_id?: unknown };
  };
}

/** The range of seqs one of our feed's messages shows, and where it is; nothing for any other message. */
function feedPostOf(message: FeedMessage, channel: string): FeedPost[] {
  const { ts, metadata } = message;
  const first = metadata?.event_payload?.first_seq;
  const last = metadata?.event_payload?.last_seq;
  const postId = metadata?.event_payload?.post_id;
  if (metadata?.event_type !== FEED_EVENT_TYPE || !ts || typeof first !== 'number' || typeof last !== 'number')
    return [];
  return [{ first_seq: first, last_seq: last, channel, ts, postId: typeof postId === 'string' ? postId : null }];
}

export interface ReadBackOptions {
  /** Only our bot's messages count: another app or person could otherwise make the feed skip events. */
  botId: string;
  /** How many of the channel's newest messages to look at, at most (pages of up to 200). */
  messages: number;
  /** Only messages posted after this time. */
  oldest?: Date;
}

/** Slack's recommended page size for conversations.history. */
const PAGE = 200;

/**
 * Our feed's posts among the channel's newest messages, newest first, read with their
 * metadata. Throws when Slack cannot be read: the caller then changes nothing.
 */
export async function readFeedPosts(client: WebClient, channel: string, options: ReadBackOptions): Promise<FeedPost[]> {
  const posts: FeedPost[] = [];
  const oldest = options.oldest ? (options.oldest.getTime() / 1000).toFixed(6) : undefined;
  let cursor: string | undefined;
  let read = 0;
  do {
    const page = await client.conversations.history({
      channel,
      limit: Math.min(PAGE, options.messages - read),
      include_all_metadata: true,
      ...(oldest ? { oldest } : {}),
      ...(cursor ? { cursor } : {}),
    });
    const messages = (page.messages ?? []) as FeedMessage[];
    read += messages.length;
    posts.push(...messages.filter((m) => m.bot_id === options.botId).flatMap((m) => feedPostOf(m, channel)));
    cursor = page.has_more ? page.response_metadata?.next_cursor || undefined : undefined;
    if (messages.length === 0) break;
  } while (cursor && read < options.messages);
  return posts;
}

/** Whether the channel shows the pending post: a post of ours with its id, or showing its first seq. */
export function showsPending(posts: readonly FeedPost[], pending: PendingPost): boolean {
  return posts.some(
    (p) => p.postId === pending.id || (p.first_seq <= pending.firstSeq && pending.firstSeq <= p.last_seq),
  );
}

/**
 * Slack's `ok: false` errors after which "some aspect of the operation" may have succeeded
 * (Slack's own words for these): a post may be in the channel all the same.
 */
const MAYBE_DONE = new Set(['internal_error', 'fatal_error', 'service_unavailable']);

/**
 * Whether a failed chat.postMessage certainly posted nothing: rate limited (429), or
 * refused with `ok: false` (channel_not_found, invalid_blocks, …) except MAYBE_DONE. After
 * anything else (HTTP 5xx, a timeout, a connection reset) the post may be in the channel,
 * and only reading it back tells.
 */
export function surelyNotPosted(err: unknown): boolean {
  const { code, data } = err as { code?: unknown; data?: { error?: unknown } };
  if (code === ErrorCode.RateLimitedError) return true;
  return code === ErrorCode.PlatformError && !MAYBE_DONE.has(String(data?.error));
}
