import { findReview } from '../../access/reviews.ts';
import * as ui from '../blocks/index.ts';
import { describeSlackError, MESSAGE_GONE } from '../slack-errors.ts';
import type { Outbound } from './outbound.ts';

/**
 * A review opened: each owner gets its message by DM, in pages of REVIEW_PAGE_SIZE people
 * (Slack's 50 blocks), each post recorded in access_review_messages. A retry posts only
 * the pages not posted yet; one owner failing does not hold back the others.
 */
export async function reviewOpened(out: Outbound, reviewId: string): Promise<void> {
  const review = await findReview({ db: out.db, policy: out.policy }, reviewId);
  if (!review) {
    out.log.warn({ reviewId }, 'an access review to send is not on record; nothing to post');
    return;
  }
  const posted = await out.db
    .selectFrom('access_review_messages')
    .select(['owner', 'page'])
    .where('review_id', '=', reviewId)
    .execute();
  const done = new Set(posted.map((p) => `${p.owner}/${p.page}`));
  let failure: unknown = null;
  for (const owner of review.owners) {
    try {
      for (let page = 0; page < ui.reviewPageCount(review); page++) {
        if (done.has(`${owner}/${page}`)) continue;
        const channel = await out.to.dmChannel(owner);
        const message = ui.reviewMessage(review, page);
        const result = await out.client.chat.postMessage({
          channel,
          text: message.text,
          blocks: message.blocks,
          unfurl_links: false,
        });
        await out.db
          .insertInto('access_review_messages')
          .values({ review_id: reviewId, owner, page, channel: result.channel ?? channel, ts: result.ts! })
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
    } catch (err) {
      if (typeof (err as { retryAfter?: unknown }).retryAfter === 'number') throw err;
      out.log.warn(
        { err: describeSlackError(err), reviewId, userId: owner },
        'could not send an access review to one of its owners; the others go on, and it is retried',
      );
      failure ??= err;
    }
  }
  if (failure) throw failure;
  // Decisions made while the messages went out: set every copy to the state of now.
  const now = await findReview({ db: out.db, policy: out.policy }, reviewId);
  if (now && now.items.some((i, k) => i.decision !== review.items[k]?.decision)) await reviewChanged(out, reviewId);
}

/** A decision (or a change applied): every page of every owner's copy is set to the state of now. */
export async function reviewChanged(out: Outbound, reviewId: string): Promise<void> {
  const review = await findReview({ db: out.db, policy: out.policy }, reviewId);
  if (!review) return;
  const copies = await out.db
    .selectFrom('access_review_messages')
    .selectAll()
    .where('review_id', '=', reviewId)
    .orderBy('owner')
    .orderBy('page')
    .execute();
  for (const { channel, ts, page } of copies) {
    const message = ui.reviewMessage(review, page);
    try {
      await out.client.chat.update({ channel, ts, text: message.text, blocks: message.blocks });
    } catch (err) {
      if (!MESSAGE_GONE.has(describeSlackError(err))) throw err;
      out.log.warn(
        { err: describeSlackError(err), reviewId, channel, ts },
        'a copy of an access review is gone; not updated',
      );
    }
  }
}

/** A review still open after reminder_after: each owner hears how many people are undecided (the review is in the same DM). */
export async function reviewReminder(out: Outbound, reviewId: string): Promise<void> {
  const review = await findReview({ db: out.db, policy: out.policy }, reviewId);
  if (!review || review.status !== 'open') return;
  for (const owner of review.owners) await out.to.dm(owner, ui.reviewReminderMessage(review));
}
