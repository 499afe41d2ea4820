import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { WebClient } from '@slack/web-api';
import type { Transaction } from 'kysely';
import type { AuditEventSummary } from '../../access/types.ts';
import { checkpointToJson, type Checkpoint } from '../../audit/checkpoints/checkpoint.ts';
import type { ChainedCue } from '../../audit/sequencer.ts';
import type { Db } from '../../db/database.ts';
import type { Database } from '../../db/schema.ts';
import type { Logger } from '../../log.ts';
import { Pump } from '../../outbox/pump.ts';
import { auditChannelMessage } from '../blocks/audit-channel.ts';
import type { Message } from '../blocks/kit.ts';
import { describeSlackError, retryDelayMs } from '../slack-errors.ts';
import {
  clearPending,
  lockFeedState,
  recordPosted,
  recordShown,
  storePending,
  type PendingPost,
} from './audit-feed-intent.ts';
import { FEED_EVENT_TYPE, readFeedPosts, showsPending, surelyNotPosted } from './audit-feed-readback.ts';

export { FEED_EVENT_TYPE };

/**
 * How long a pending post belongs to the replica that took it before another reads the
 * channel back to resolve it. The Slack client gives up on a call after 10 s and does not
 * retry (src/slack/client.ts), so by 30 s the post has been answered or abandoned, and Slack
 * has had 20 s more to show it in the channel's history.
 */
export const INTENT_LEASE_MS = 30_000;

/** The read-back starts this long before the pending post was taken: the database's clock and Slack's may differ. */
const READBACK_SKEW_MS = 60_000;

/**
 * Messages the read-back looks at, at most. While a post is pending no other is made, so
 * the channel's messages after it are alerts, checkpoints and people: a few, not a thousand.
 */
const READBACK_MESSAGES = 1000;

/** Messages reconcile() looks at when the feed starts: our last post is among the newest. */
const RECONCILE_MESSAGES = 20;

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
  /** This process's name on the pending posts it takes; unique per feed by default (host, pid, random). */
  replica?: string;
  /** How long another replica's pending post is left to it (INTENT_LEASE_MS; tests lengthen it). */
  intentLeaseMs?: number;
  now: () => Date;
}

/** What a round does after its first transaction. */
type Next =
  | { kind: 'wait' }
  | { kind: 'resolve'; pending: PendingPost }
  | { kind: 'post'; pending: PendingPost; message: Message; lastHash: string; checkpoint: Checkpoint | null };

const WAIT: Next = { kind: 'wait' };

/**
 * Posts every audit event to the audit channel, once each, in seq order, driven from the
 * committed chain. How far it got is one row (audit_channel_state). A round takes the next
 * events and commits a pending post on that row (its id, seqs, channel, replica and time)
 * before calling Slack, with the id in the message's metadata; a second transaction
 * records the post and clears it, on condition that it is still the pending one. While a
 * post is pending no replica posts the next events: if that second commit was lost (the
 * database restarted, the connection dropped, the replica was killed), whoever finds the
 * pending post unresolved reads the channel back: the replica that took it at its next
 * round, any other once it is older than INTENT_LEASE_MS. A post found there is recorded
 * and the feed carries on after it; one not found is cleared and posted by the next round.
 * Slack errors that say nothing was posted (a 429, `ok: false`) clear it at once; the
 * round is retried after Slack's Retry-After or with backoff. reconcile(), at start, moves
 * the row on to what the channel's newest posts show (posts made before pending posts
 * were recorded). docs/audit-log.md §12.5.1 says what remains.
 */
export class AuditFeed {
  /** This feed's name on the pending posts it takes. */
  readonly replica: string;
  private readonly batchMax: number;
  private readonly leaseMs: number;
  private readonly pump: Pump;
  /** The posts this feed's rounds may be making (the pump runs one round at a time; postOnce may be called too). */
  private readonly posting = new Set<string>();
  private botId: string | undefined;

  constructor(
    private readonly db: Db,
    private readonly client: WebClient,
    cue: ChainedCue,
    private readonly log: Logger,
    private readonly options: AuditFeedOptions,
  ) {
    this.batchMax = options.batchMax ?? 100;
    this.leaseMs = options.intentLeaseMs ?? INTENT_LEASE_MS;
    this.replica = options.replica ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
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

  /**
   * One round: posts one message with the next events, or resolves a pending post, unless
   * another replica is at it. Resolves with how many events it posted or found posted (1
   * for a pending post found missing and cleared, so the next round follows at once), 0
   * when there was nothing to do or it is another replica's turn.
   */
  async postOnce(): Promise<number> {
    // The id of the post this round may make counts as being made from before it is committed until the round ends.
    const postId = randomUUID();
    this.posting.add(postId);
    try {
      const next = await this.db.transaction().execute((trx) => this.claim(trx, postId));
      if (next.kind === 'resolve') return await this.resolve(next.pending);
      if (next.kind === 'post') return await this.post(next);
      return 0;
    } finally {
      this.posting.delete(postId);
    }
  }

  /** The round's first transaction: a pending post to resolve, or the next events and their pending post. */
  private async claim(trx: Transaction<Database>, postId: string): Promise<Next> {
    const state = await lockFeedState(trx, this.leaseMs);
    // Another replica's round holds the row for a moment.
    if (!state) return WAIT;
    const { pending } = state;
    if (pending) {
      const mine = pending.replica === this.replica;
      if (mine ? !this.posting.has(pending.id) : state.lapsed) return { kind: 'resolve', pending };
      this.log.debug(
        { postId: pending.id, replica: pending.replica, seq: pending.firstSeq },
        'a post to the audit channel is under way; waiting for it',
      );
      return WAIT;
    }
    const rows = await trx
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '>', state.postedSeq)
      .orderBy('seq')
      .limit(this.batchMax)
      .execute();
    if (rows.length === 0) return WAIT;
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
    // A batch too long for one message is posted in parts: this post is only what this one shows.
    const last = events[Math.max(1, message.shown) - 1]!;
    // Signed before the pending post's clock starts: the lease is for the post alone.
    const checkpoint = await this.checkpointFor();
    const stored = await storePending(trx, {
      id: postId,
      firstSeq: events[0]!.seq,
      lastSeq: last.seq,
      channel: this.options.channel(),
      replica: this.replica,
    });
    return { kind: 'post', pending: stored, message, lastHash: last.hash, checkpoint };
  }

  /** Posts the pending post's message, then records it; a Slack error that says nothing was posted clears it. */
  private async post({ pending, message, lastHash, checkpoint }: Extract<Next, { kind: 'post' }>): Promise<number> {
    let posted: { ts?: string; channel?: string };
    try {
      posted = await this.client.chat.postMessage({
        channel: pending.channel,
        text: message.text,
        blocks: message.blocks,
        unfurl_links: false,
        metadata: {
          event_type: FEED_EVENT_TYPE,
          event_payload: {
            first_seq: pending.firstSeq,
            last_seq: pending.lastSeq,
            last_hash: lastHash,
            post_id: pending.id,
            ...(checkpoint ? { checkpoint: checkpointToJson(checkpoint) } : {}),
          },
        },
      });
    } catch (err) {
      // Not posted for certain: the retry (after Retry-After or backoff) posts these events anew.
      if (surelyNotPosted(err))
        await clearPending(this.db, pending.id).catch((clearErr: unknown) =>
          this.log.warn(
            { err: clearErr, postId: pending.id },
            'could not clear a post Slack refused; it will be read back before posting',
          ),
        );
      throw err;
    }
    // Where these events are shown, so an alert can link to its evidence. If this commit is lost, the post stays pending.
    const { firstSeq: first_seq, lastSeq: last_seq, id: postId } = pending;
    const post = posted.ts
      ? [{ first_seq, last_seq, channel: posted.channel ?? pending.channel, ts: posted.ts, postId }]
      : [];
    if (!(await recordPosted(this.db, pending.id, post, pending.lastSeq)))
      this.log.warn(
        { postId: pending.id, seq: pending.firstSeq, lastSeq: pending.lastSeq },
        'another replica resolved this audit channel post while it was being made (it took longer than the lease); its events may show twice',
      );
    return pending.lastSeq - pending.firstSeq + 1;
  }

  /**
   * Settles a pending post whose record was never committed by reading the channel back:
   * found (by its id, or a post of ours showing its first seq), it is recorded and the feed
   * carries on after the newest post read; not found, it is cleared for the next round to
   * post. A read-back that fails changes nothing (the round fails and is retried).
   */
  private async resolve(pending: PendingPost): Promise<number> {
    const context = { postId: pending.id, replica: pending.replica, seq: pending.firstSeq, lastSeq: pending.lastSeq };
    const posts = await readFeedPosts(this.client, pending.channel, {
      botId: await this.ourBotId(),
      messages: READBACK_MESSAGES,
      oldest: new Date(pending.at.getTime() - READBACK_SKEW_MS),
    });
    if (!showsPending(posts, pending)) {
      if (!(await clearPending(this.db, pending.id))) return 0;
      this.log.info(context, 'a post to the audit channel was not made (it is not in the channel); posting it again');
      return 1;
    }
    const lastSeq = Math.max(...posts.map((p) => p.last_seq));
    if (!(await recordPosted(this.db, pending.id, posts, lastSeq))) return 0;
    this.log.warn(
      { ...context, postedSeq: lastSeq },
      'the audit channel shows a post whose commit was lost; recorded it from the channel and carrying on after it',
    );
    return pending.lastSeq - pending.firstSeq + 1;
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

  /** Our bot's id, by auth.test once: only its messages are read back. */
  private async ourBotId(): Promise<string> {
    if (this.botId) return this.botId;
    const me = (await this.client.auth.test()).bot_id;
    if (!me) throw new Error('auth.test gave no bot_id: SLACK_BOT_TOKEN must be a bot token (xoxb-)');
    this.botId = me;
    return me;
  }

  /** At start: the seq up to which the channel already shows events, by our newest posts' metadata. */
  async reconcile(): Promise<void> {
    const channel = this.options.channel();
    const posts = await readFeedPosts(this.client, channel, {
      botId: await this.ourBotId(),
      messages: RECONCILE_MESSAGES,
    });
    const lastSeq = await recordShown(this.db, posts);
    if (lastSeq !== null)
      this.log.warn(
        { seq: lastSeq },
        'the audit channel was ahead of the record (a post without its commit); carrying on after it',
      );
  }
}
