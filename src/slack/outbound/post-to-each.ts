import type { Message } from '../blocks/kit.ts';
import { describeSlackError } from '../slack-errors.ts';
import type { Outbound } from './outbound.ts';

/** Where one copy of a message goes: a channel, or a person's DM (named for the log). */
export interface Destination {
  userId?: string;
  channel: () => Promise<string>;
}

export interface PostToEach {
  destinations: Destination[];
  message: Message;
  /** Channels already holding a copy (recorded by an earlier attempt): skipped. */
  posted: ReadonlySet<string>;
  /** Records a copy just posted, so a retry does not post it again. */
  record: (channel: string, ts: string) => Promise<void>;
  /** For the log: what is posted (`a break-glass alert`) and the ids it is about. */
  what: string;
  about: Record<string, unknown>;
}

/**
 * Posts one message to every destination that has no copy yet, recording each copy. One
 * destination failing does not hold back the others; the first failure is thrown after, so
 * the rest is retried. A rate limit stops the round at once, as Slack asks.
 */
export async function postToEach(out: Outbound, post: PostToEach): Promise<void> {
  let failure: unknown = null;
  for (const destination of post.destinations) {
    try {
      const channel = await destination.channel();
      if (post.posted.has(channel)) continue;
      const result = await out.client.chat.postMessage({
        channel,
        text: post.message.text,
        blocks: post.message.blocks,
        unfurl_links: false,
      });
      await post.record(result.channel ?? channel, result.ts!);
    } catch (err) {
      if (typeof (err as { retryAfter?: unknown }).retryAfter === 'number') throw err;
      out.log.warn(
        { err: describeSlackError(err), ...post.about, userId: destination.userId },
        `could not post ${post.what} to one of its destinations; the others go on, and it is retried`,
      );
      failure ??= err;
    }
  }
  if (failure) throw failure;
}
