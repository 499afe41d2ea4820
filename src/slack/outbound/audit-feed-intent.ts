import { sql, type Transaction } from 'kysely';
import type { Db } from '../../db/database.ts';
import type { Database } from '../../db/schema.ts';
import type { FeedPost } from './audit-feed-readback.ts';

/**
 * A post of the audit feed, committed on `audit_channel_state` before it is made and cleared
 * in the transaction that records it (migration 0018): while it is on the row, no replica
 * posts the next events; whoever finds it unresolved reads the channel back first.
 */
export interface PendingPost {
  /** Random; carried in the message's metadata as `post_id`. */
  id: string;
  firstSeq: number;
  lastSeq: number;
  channel: string;
  /** The replica that took it (AuditFeed's `replica`). */
  replica: string;
  /** When it was taken, by the database's clock. */
  at: Date;
}

/** The feed's row as a round finds it. */
export interface FeedState {
  postedSeq: number;
  pending: PendingPost | null;
  /** The pending post is older than the lease: its replica had time to post and record it. */
  lapsed: boolean;
}

const NO_PENDING = {
  pending_id: null,
  pending_first_seq: null,
  pending_last_seq: null,
  pending_channel: null,
  pending_replica: null,
  pending_at: null,
} as const;

/** Locks the feed's row (SKIP LOCKED: undefined while another replica's round holds it) and reads it. */
export async function lockFeedState(trx: Transaction<Database>, leaseMs: number): Promise<FeedState | undefined> {
  const row = await trx
    .selectFrom('audit_channel_state')
    .selectAll()
    .select(sql<boolean>`coalesce(pending_at < now() - make_interval(secs => ${leaseMs / 1000}), false)`.as('lapsed'))
    .forUpdate()
    .skipLocked()
    .executeTakeFirst();
  if (!row) return undefined;
  const pending =
    row.pending_id !== null
      ? {
          id: row.pending_id,
          firstSeq: row.pending_first_seq!,
          lastSeq: row.pending_last_seq!,
          channel: row.pending_channel!,
          replica: row.pending_replica!,
          at: row.pending_at!,
        }
      : null;
  return { postedSeq: row.posted_seq, pending, lapsed: row.lapsed };
}

/** Records the post about to be made, on the row locked by lockFeedState. */
export async function storePending(trx: Transaction<Database>, post: Omit<PendingPost, 'at'>): Promise<PendingPost> {
  const { id } = post;
  const row = await trx
    .updateTable('audit_channel_state')
    .set({
      pending_id: id,
      pending_first_seq: post.firstSeq,
      pending_last_seq: post.lastSeq,
      pending_channel: post.channel,
      pending_replica: post.replica,
      // The moment it is taken, not the transaction's start (now()): the lease counts from here.
      pending_at: sql<Date>`clock_timestamp()`,
    })
    .returning('pending_at')
    .executeTakeFirstOrThrow();
  return { ...post, id, at: row.pending_at! };
}

/**
 * Records that the channel shows `posts` (at least the pending one): moves `posted_seq` on
 * to `postedSeq` (never back) and clears the pending post, only if it is still `pendingId`.
 * Returns false when it was not (another replica resolved it meanwhile); the posts are
 * recorded all the same, so alerts can link to them.
 */
export async function recordPosted(db: Db, pendingId: string, posts: FeedPost[], postedSeq: number): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const moved = await trx
      .updateTable('audit_channel_state')
      .set({ ...NO_PENDING, posted_seq: sql<number>`greatest(posted_seq, ${postedSeq})`, updated_at: sql<Date>`now()` })
      .where('pending_id', '=', pendingId)
      .executeTakeFirst();
    if (posts.length > 0)
      await trx
        .insertInto('audit_channel_posts')
        .values(posts.map(({ first_seq, last_seq, channel, ts }) => ({ first_seq, last_seq, channel, ts })))
        .onConflict((oc) => oc.doNothing())
        .execute();
    return Number(moved.numUpdatedRows) > 0;
  });
}

/** Gives up the pending post `pendingId` (nothing was posted for it), so the next round posts its events. */
export async function clearPending(db: Db, pendingId: string): Promise<boolean> {
  const cleared = await db
    .updateTable('audit_channel_state')
    .set({ ...NO_PENDING, updated_at: sql<Date>`now()` })
    .where('pending_id', '=', pendingId)
    .executeTakeFirst();
  return Number(cleared.numUpdatedRows) > 0;
}

/**
 * Records posts read back from the channel and moves `posted_seq` on to the newest one's
 * last seq if it is behind (posts whose commit was lost before pending posts were
 * recorded). Returns that seq when it moved the row, else null.
 */
export async function recordShown(db: Db, posts: FeedPost[]): Promise<number | null> {
  if (posts.length === 0) return null;
  // Not on record either: alerts can link to them all the same.
  await db
    .insertInto('audit_channel_posts')
    .values(posts.map(({ first_seq, last_seq, channel, ts }) => ({ first_seq, last_seq, channel, ts })))
    .onConflict((oc) => oc.doNothing())
    .execute();
  const lastSeq = Math.max(...posts.map((post) => post.last_seq));
  const moved = await db
    .updateTable('audit_channel_state')
    .set({ posted_seq: lastSeq, updated_at: sql<Date>`now()` })
    .where('posted_seq', '<', lastSeq)
    .executeTakeFirst();
  return Number(moved.numUpdatedRows) > 0 ? lastSeq : null;
}
