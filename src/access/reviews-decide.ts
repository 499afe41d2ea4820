/**
 * An owner's Keep or Remove on one person of a review, and the record of a removal showing
 * up in a loaded policy. Each decision is a conditional update of the item (null to a
 * decision) committed with its `review.decided` event: a second click, or a second owner,
 * is told who decided it already. The last decision completes the review.
 */
import { applyReviewRemovals } from '../audit/review-changes.ts';
import type { AccessContext } from './context.ts';
import type { SlackUserId } from './ids.ts';
import { notify } from './notifications.ts';
import { findReview, reviewersOf, toItem, type Review, type ReviewItem } from './reviews.ts';

export type ReviewDecisionOutcome =
  | { ok: true; review: Review; item: ReviewItem }
  | { ok: false; reason: 'not-found'; reviewId: string; person: SlackUserId }
  | { ok: false; reason: 'not-owner'; review: Review; owners: SlackUserId[] }
  | { ok: false; reason: 'decided'; review: Review; item: ReviewItem };

export async function decideReviewItem(
  ctx: AccessContext,
  reviewId: string,
  person: SlackUserId,
  decision: 'keep' | 'remove',
  by: SlackUserId,
): Promise<ReviewDecisionOutcome> {
  const result = await ctx.audit.transact(async (trx) => {
    const review = await trx
      .selectFrom('access_reviews')
      .selectAll()
      .where('id', '=', reviewId)
      .forUpdate()
      .executeTakeFirst();
    if (!review) return { ok: false as const, reason: 'not-found' as const };
    const owners = reviewersOf(ctx, review);
    const body = { review: review.id, resource: review.resource_id, person, decision };
    if (!owners.includes(by)) {
      await ctx.audit.append(trx, {
        actor: by,
        action: 'review.decision_refused',
        subject: review.id,
        body: { ...body, reason: 'not-owner', owners },
      });
      return { ok: false as const, reason: 'not-owner' as const, owners };
    }
    const now = ctx.now();
    const decided = await trx
      .updateTable('access_review_items')
      .set({ decision, decided_by: by, decided_at: now })
      .where('review_id', '=', review.id)
      .where('user_id', '=', person)
      .where('decision', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (!decided) {
      const item = await trx
        .selectFrom('access_review_items')
        .selectAll()
        .where('review_id', '=', review.id)
        .where('user_id', '=', person)
        .executeTakeFirst();
      return item
        ? { ok: false as const, reason: 'decided' as const, item: toItem(item) }
        : { ok: false as const, reason: 'not-found' as const };
    }
    await ctx.audit.append(trx, {
      actor: by,
      action: 'review.decided',
      subject: review.id,
      body: { ...body, by, via: decided.via },
    });
    const open = await trx
      .selectFrom('access_review_items')
      .select(['user_id', 'decision'])
      .where('review_id', '=', review.id)
      .orderBy('user_id')
      .execute();
    if (open.every((i) => i.decision !== null)) {
      await trx
        .updateTable('access_reviews')
        .set({ status: 'completed', completed_at: now })
        .where('id', '=', review.id)
        .where('status', '=', 'open')
        .execute();
      await ctx.audit.append(trx, {
        actor: by,
        action: 'review.completed',
        subject: review.id,
        body: {
          resource: review.resource_id,
          kept: open.filter((i) => i.decision === 'keep').map((i) => i.user_id),
          removed: open.filter((i) => i.decision === 'remove').map((i) => i.user_id),
        },
      });
    }
    await notify(trx, { kind: 'notify_review_changed', reviewId: review.id });
    return { ok: true as const, item: toItem(decided) };
  });
  const review = await findReview(ctx, reviewId);
  if (!result.ok && result.reason === 'not-found') return { ok: false, reason: 'not-found', reviewId, person };
  if (!review) return { ok: false, reason: 'not-found', reviewId, person };
  if (result.ok) return { ok: true, review, item: result.item };
  if (result.reason === 'not-owner') return { ok: false, reason: 'not-owner', review, owners: result.owners };
  return { ok: false, reason: 'decided', review, item: result.item };
}

/**
 * Removals the policy in force now carries out (audit/review-changes.ts): the review sweep's
 * check, for a policy recorded before a removal was decided. Each is recorded once, on any
 * replica. Returns how many.
 */
export async function recordAppliedChanges(ctx: AccessContext): Promise<number> {
  const applied = await ctx.audit.transact((trx) => applyReviewRemovals(trx, ctx.audit, ctx.policy(), ctx.now()));
  return applied.length;
}
