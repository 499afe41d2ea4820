import type { Db } from '../../db/database.ts';
import type { Logger } from '../../log.ts';
import { appendAnchor, readLastAnchor } from './anchors.ts';
import type { CheckpointKey } from './keys.ts';
import { CheckpointRefusedError, latestCheckpoint, makeCheckpoint, type StoredCheckpoint } from './store.ts';
import type pg from 'pg';
import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.ts';

export interface CheckpointerOptions {
  /** Events since the last checkpoint that call for a new one. */
  everyEvents: () => number;
  /** Time since the last checkpoint that calls for a new one, if anything happened. */
  everyMs: () => number;
  /** Where each checkpoint is also appended, outside the database; unset: nowhere. */
  anchorFile?: string;
  /** Checkpoints for audit channel posts: at most one per this many ms (3 s by default). */
  postEveryMs?: number;
  /** The anchor file gets a post's checkpoint when its newest line is this old (20 s by default). */
  anchorEveryMs?: number;
  /**
   * Queues each checkpoint's publication in the transaction that stores it: with Slack
   * connected, an outbox row for the audit channel post.
   */
  publish?: (trx: Transaction<Database>, checkpoint: StoredCheckpoint) => Promise<void>;
  /** The checkpoint notes' origin and key name (GATEHOUSE_CHECKPOINT_ORIGIN); unset: gatehouse.local/<log id>. */
  origin?: string | undefined;
}

/**
 * Makes the running app's signed checkpoints: after `everyEvents` events or `everyMs`,
 * whichever comes first, and once more at shutdown. Each is stored with the chain and then
 * appended to the anchor file. A refusal to sign (the log no longer extends the last
 * checkpoint or anchor) is logged as the alarm it is, and retried at the next tick.
 */
export class Checkpointer {
  constructor(
    private readonly db: Db,
    private readonly pool: pg.Pool,
    private readonly key: CheckpointKey,
    private readonly log: Logger,
    private readonly options: CheckpointerOptions,
  ) {}

  /** One tick: a checkpoint if one is due; returns it, or null. */
  async maybeCheckpoint(now = Date.now()): Promise<StoredCheckpoint | null> {
    const last = await latestCheckpoint(this.pool);
    const head = await this.db
      .selectFrom('audit_events')
      .select('seq')
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!head || (last && head.seq <= last.seq)) return null;
    const behind = head.seq - (last?.seq ?? 0);
    const age = last ? now - Date.parse(last.time) : Number.POSITIVE_INFINITY;
    if (behind < this.options.everyEvents() && age < this.options.everyMs()) return null;
    return this.checkpointNow();
  }

  /** A checkpoint of the head now, unless the newest one already covers it. */
  async checkpointNow(): Promise<StoredCheckpoint | null> {
    return this.sign({});
  }

  /**
   * A checkpoint for an audit channel post: the post carries it. It is of the log's head,
   * so it covers the post's last event and, when the feed is behind, the events it has not
   * posted yet: the channel anchors the log within seconds however far behind its posts
   * are. One is signed only when the newest checkpoint is at least `postEveryMs` old
   * (fewer signatures to keep and check); otherwise the newest is returned. Not published
   * again (the post is its publication), and appended to the anchor file only when the
   * file's newest line is `anchorEveryMs` old: the file stays small and is never more than
   * that behind.
   */
  async checkpointForPost(now = Date.now()): Promise<StoredCheckpoint | null> {
    const last = await latestCheckpoint(this.pool);
    if (last && now - Date.parse(last.time) < (this.options.postEveryMs ?? 3000)) return last;
    const anchor = !this.lastAnchoredAt || now - this.lastAnchoredAt >= (this.options.anchorEveryMs ?? 20_000);
    return (await this.sign({ anchor, publish: false })) ?? last;
  }

  private lastAnchoredAt: number | null = null;

  private async sign(how: { anchor?: boolean; publish?: boolean }): Promise<StoredCheckpoint | null> {
    const file = how.anchor === false ? undefined : this.options.anchorFile;
    try {
      const lastAnchor = this.options.anchorFile ? await readLastAnchor(this.options.anchorFile) : null;
      const checkpoint = await makeCheckpoint(this.db, this.key, {
        skipIfUnchanged: true,
        lastAnchor,
        origin: this.options.origin,
        ...(this.options.publish && how.publish !== false ? { inTransaction: this.options.publish } : {}),
      });
      if (!checkpoint) return null;
      if (file) {
        await appendAnchor(file, checkpoint);
        this.lastAnchoredAt = Date.now();
      }
      this.log[how.publish === false ? 'debug' : 'info'](
        { seq: checkpoint.seq, keyId: checkpoint.keyId },
        'audit checkpoint signed',
      );
      return checkpoint;
    } catch (err) {
      if (err instanceof CheckpointRefusedError) {
        this.log.error(
          { err },
          'REFUSED to sign a checkpoint: the audit log no longer extends the last checkpoint or anchor. Run `gatehouse audit verify` now.',
        );
        return null;
      }
      throw err;
    }
  }
}
