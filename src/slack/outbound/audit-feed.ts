import type { WebClient } from '@slack/web-api';
import { sql, type Selectable } from 'kysely';
import type { AuditEventSummary } from '../../access/types.ts';
import { checkpointToJson, type Checkpoint } from '../../audit/checkpoints/checkpoint.ts';
import type { ChainedCue } from '../../audit/sequencer.ts';
import type { Db } from '../../db/database.ts';
import type { AuditChannelPostTable } from '../../db/schema.ts';
import type { Logger } from '../../log.ts';
import { Pump } from '../../outbox/pump.ts';
import { auditChannelMessage } from '../blocks/audit-channel.ts';
import { describeSlackError, retryDelayMs } from '../slack-errors.ts';

export interface AuditFeedOptions {
  /** The policy's audit channel, read at each post (the policy may change). */
  channel: () => string;
  /** A resource's name in the policy, for the sentences (the id is shown when there is none). */
  resourceName?: (id: string) => string | undefined;
  /** Events read for one message when a backlog builds up; the message shows as many as fit. */
  batchMax?: number;
  /** Slack allows about one message per second per channel. */
  minIntervalMs?: number;
  /**
   * A signed checkpoint of the log's head (so of the post's last event and any after it),
   * carried in each post's metadata: the log is then anchored outside the database within
   * seconds, however far behind the posts are (issue 16, docs/audit-log.md §12.5). Unset
   * without a checkpoint key.
   */
  checkpointFor?: () => Promise<Checkpoint | null>;
  now: () => Date;
}

/** Marks our posts so they can be recognised when reading the channel back. */
export const FEED_EVENT_TYPE = 'gatehouse_audit_events';

/** A message as conversations.history returns it, with its metadata. */
interface FeedMessage {
  ts?: string;
  metadata?: { event_type?: string; event_payload?: { first_seq?: unknown; last_seq?: unknown } };
}

/** The range of seqs one of our feed's messages shows, and where it is; nothing for any other message. */
function feedPostOf(message: FeedMessage, channel: string): Selectable<AuditChannelPostTable>[] {
  const { ts, metadata } = message;
  const first = metadata?.event_payload?.first_seq;
  const last = metadata?.event_payload?.last_seq;
  if (metadata?.event_type !== FEED_EVENT_TYPE || !ts || typeof first !== 'number' || typeof last !== 'number')
    return [];
  return [{ first_seq: first, last_seq: last, channel, ts }];
}

/**
 * Posts every audit event to the audit channel, in seq order, driven from the committed
 * chain. How far it got is one row (audit_channel_state), locked with SKIP LOCKED for the
 * length of one post, so with several replicas exactly one posts at a time and none posts
 * an event twice. A failure leaves the row where it was and the post is tried again, after
 * Slack's Retry-After or with backoff. Each message carries its seq range in its metadata,
 * so after a crash between a post and its commit the next start reads the channel and
 * moves on instead of posting again.
 */
export class AuditFeed {
  private readonly batchMax: number;
  private readonly pump: Pump;

  constructor(
    private readonly db: Db,
    private readonly client: WebClient,
    cue: ChainedCue,
    private readonly log: Logger,
    private readonly options: AuditFeedOptions,
  ) {
    this.batchMax = options.batchMax ?? 100;
    this.pump = new Pump({
      round: () => this.postOnce(),
      failed: (err, failures) => {
        const next = retryDelayMs(err, failures);
        this.log.warn(
          { err: describeSlackError(err), retryInMs: next, failures },
          'posting to the audit channel failed; will retry',
        );
        return next;
      },
      cue,
      now: options.now,
      // Polls slowly for events chained by other replicas.
      pollMs: 1000,
      minIntervalMs: options.minIntervalMs ?? 1000,
    });
  }

  async start(): Promise<void> {
    await this.reconcile().catch((err: unknown) =>
      this.log.warn(
        { err: describeSlackError(err) },
        'could not read the audit channel back; posting from the recorded position',
      ),
    );
    this.pump.start();
  }

  stop(): Promise<void> {
    return this.pump.stop();
  }

  /** Posts one message with the next events, if there are any and no other replica is posting. */
  async postOnce(): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const state = await trx
        .selectFrom('audit_channel_state')
        .select('posted_seq')
        .forUpdate()
        .skipLocked()
        .executeTakeFirst();
      if (!state) return 0;
      const rows = await trx
        .selectFrom('audit_log')
        .selectAll()
        .where('seq', '>', state.posted_seq)
        .orderBy('seq')
        .limit(this.batchMax)
        .execute();
      if (rows.length === 0) return 0;
      const events: AuditEventSummary[] = rows.map((row) => ({
        seq: row.seq,
        occurredAt: row.occurred_at,
        actor: row.actor,
        action: row.action,
        subject: row.subject,
        body: row.body,
        hash: row.hash,
      }));
      const message = auditChannelMessage(events, this.options.resourceName);
      // A batch too long for one message is posted in parts: record only what this one shows.
      const first = events[0]!.seq;
      const last = events[Math.max(1, message.shown) - 1]!;
      const channel = this.options.channel();
      const checkpoint = await this.checkpointFor();
      const posted = await this.client.chat.postMessage({
        channel,
        text: message.text,
        blocks: message.blocks,
        unfurl_links: false,
        metadata: {
          event_type: FEED_EVENT_TYPE,
          event_payload: {
            first_seq: first,
            last_seq: last.seq,
            last_hash: last.hash,
            ...(checkpoint ? { checkpoint: checkpointToJson(checkpoint) } : {}),
          },
        },
      });
      await trx
        .updateTable('audit_channel_state')
        .set({ posted_seq: last.seq, updated_at: sql<Date>`now()` })
        .execute();
      // Where these events are shown, so an alert can link to its evidence.
      if (posted.ts)
        await trx
          .insertInto('audit_channel_posts')
          .values({ first_seq: first, last_seq: last.seq, channel: posted.channel ?? channel, ts: posted.ts })
          .onConflict((oc) => oc.doNothing())
          .execute();
      return last.seq - first + 1;
    });
  }

  /** The checkpoint a post carries; a post goes out without one rather than not at all (the signer logs why). */
  private async checkpointFor(): Promise<Checkpoint | null> {
    if (!this.options.checkpointFor) return null;
    try {
      return await this.options.checkpointFor();
    } catch (err) {
      this.log.error({ err }, 'no checkpoint for an audit channel post; it is posted without one');
      return null;
    }
  }

  /** The seq up to which the channel already shows events, by our last post's metadata. */
  async reconcile(): Promise<void> {
    // Only our own posts count: another app or person could otherwise make the feed skip events.
    const me = (await this.client.auth.test()).bot_id;
    if (!me) return;
    const channel = this.options.channel();
    const history = await this.client.conversations.history({ channel, limit: 20, include_all_metadata: true });
    const posts = (history.messages ?? [])
      .filter((m) => (m as { bot_id?: string }).bot_id === me)
      .flatMap((m) => feedPostOf(m as FeedMessage, channel));
    if (posts.length === 0) return;
    // A post whose commit was lost is not on record either: alerts can link to it all the same.
    await this.db
      .insertInto('audit_channel_posts')
      .values(posts)
      .onConflict((oc) => oc.doNothing())
      .execute();
    const lastSeq = Math.max(...posts.map((post) => post.last_seq));
    const moved = await this.db
      .updateTable('audit_channel_state')
      .set({ posted_seq: lastSeq, updated_at: sql<Date>`now()` })
      .where('posted_seq', '<', lastSeq)
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) > 0)
      this.log.warn(
        { seq: lastSeq },
        'the audit channel was ahead of the record (a post without its commit); carrying on after it',
      );
  }
}
