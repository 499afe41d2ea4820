import type { WebClient } from '@slack/web-api';
import { AnchorReadError, type Anchor } from '../../audit/checkpoints/anchors.ts';
import {
  checkpointToJson,
  InvalidCheckpointError,
  parseCheckpoint,
  type Checkpoint,
} from '../../audit/checkpoints/checkpoint.ts';
import { describeSlackError } from '../slack-errors.ts';
import { FEED_EVENT_TYPE } from './audit-feed.ts';

/** Marks the audit channel's checkpoint posts, so they can be told apart when read back. */
export const CHECKPOINT_EVENT_TYPE = 'gatehouse_checkpoint';

/**
 * The metadata a checkpoint is posted with. The checkpoint travels as its canonical JSON
 * text, one string, so it comes back byte for byte whatever Slack does with numbers and nulls.
 */
export function checkpointMetadata(checkpoint: Checkpoint): {
  event_type: string;
  event_payload: { checkpoint: string; seq: number };
} {
  return {
    event_type: CHECKPOINT_EVENT_TYPE,
    event_payload: { checkpoint: checkpointToJson(checkpoint), seq: checkpoint.seq },
  };
}

export interface ChannelAnchorOptions {
  /** Only posts by this bot count: another app's or person's message is no anchor. */
  botId: string;
  /** Messages read at most, newest first, in pages of 200. */
  maxMessages?: number;
  /** Stop once this many checkpoints were found. */
  maxAnchors?: number;
}

interface HistoryMessage {
  ts?: string;
  bot_id?: string;
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
}

/**
 * The newest checkpoints posted to the audit channel, newest first, read back through
 * conversations.history: the checkpoint posts, and the checkpoints the feed's posts carry. A post of ours whose metadata is not a checkpoint fails the read,
 * naming the message: an anchor that cannot be read must not be silently dropped.
 */
export async function readChannelAnchors(
  client: WebClient,
  channel: string,
  options: ChannelAnchorOptions,
): Promise<Anchor[]> {
  const maxMessages = options.maxMessages ?? 1000;
  const maxAnchors = options.maxAnchors ?? 20;
  const anchors: Anchor[] = [];
  let read = 0;
  let latest: string | undefined;
  while (read < maxMessages && anchors.length < maxAnchors) {
    let page;
    try {
      page = await client.conversations.history({
        channel,
        limit: Math.min(200, maxMessages - read),
        include_all_metadata: true,
        ...(latest ? { latest } : {}),
      });
    } catch (err) {
      throw new AnchorReadError(
        `could not read the audit channel ${channel} back from Slack (${describeSlackError(err)}).`,
      );
    }
    const messages = (page.messages ?? []) as HistoryMessage[];
    for (const message of messages) {
      const type = message.metadata?.event_type;
      if (type !== CHECKPOINT_EVENT_TYPE && type !== FEED_EVENT_TYPE) continue;
      if (message.bot_id !== options.botId) continue;
      const payload = message.metadata?.event_payload;
      // A feed post carries the checkpoint of its last event when a key signs them; one without is no anchor.
      if (type === FEED_EVENT_TYPE && payload?.checkpoint === undefined) continue;
      const source = `audit channel ${channel} message ${message.ts ?? '(no ts)'}`;
      const checkpoint = parseChannelCheckpoint(payload?.checkpoint, source);
      // Posts in a row may carry the same checkpoint: it counts once.
      if (anchors.some((anchor) => anchor.checkpoint.signature === checkpoint.signature)) continue;
      anchors.push({ source, checkpoint });
      if (anchors.length >= maxAnchors) break;
    }
    read += messages.length;
    const oldest = messages.at(-1)?.ts;
    if (!page.has_more || !oldest || messages.length === 0) break;
    latest = oldest;
  }
  return anchors;
}

/**
 * The channel's checkpoints for a verification that goes on without them when it must:
 * `problem` says, in a sentence for the report, why none were checked (Slack unreachable,
 * a post that is not a checkpoint, none found).
 */
export async function channelAnchorsForReport(
  client: WebClient,
  channel: string,
  botId: string,
): Promise<{ anchors: Anchor[]; problem: string | null }> {
  try {
    const anchors = await readChannelAnchors(client, channel, { botId });
    return {
      anchors,
      problem:
        anchors.length === 0
          ? `No checkpoint was found among the recent messages of the audit channel ${channel}.`
          : null,
    };
  } catch (err) {
    if (!(err instanceof AnchorReadError)) throw err;
    return { anchors: [], problem: `The audit channel's checkpoints were NOT checked: ${err.message}` };
  }
}

function parseChannelCheckpoint(value: unknown, source: string): Checkpoint {
  try {
    if (typeof value !== 'string') throw new InvalidCheckpointError('the metadata holds no checkpoint text');
    return parseCheckpoint(value);
  } catch (err) {
    if (err instanceof InvalidCheckpointError)
      throw new AnchorReadError(`${source} is not a checkpoint: ${err.message}.`);
    throw err;
  }
}
