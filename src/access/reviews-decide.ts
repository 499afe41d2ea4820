/**
 * An owner's Keep or Remove on one person of a review, and the record of a removal showing
 * up in a loaded policy. Each decision is a conditional update of the item (null to a
 * decision) committed with its `review.decided` event: a second click, or a second owner,
 * is told who decided it already. The last decision completes the review.
 */
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
 * Removals the policy in force now carries out: each decided `remove` whose person the
 * loaded policy no longer lets request the resource is marked applied, with
 * `review.change_applied` naming the policy's SHA-256. Run after a policy is loaded (and by
 * the review sweep); the conditional update records each once, on any replica.
 */
export async function recordAppliedChanges(ctx: AccessContext): Promise<number> {
  const loaded = ctx.policy();
  const pending = await ctx.db
    .selectFrom('access_review_items')
    .innerJoin('access_reviews', 'access_reviews.id', 'access_review_items.review_id')
    .select(['access_review_items.review_id', 'access_review_items.user_id', 'access_reviews.resource_id'])
    .where('access_review_items.decision', '=', 'remove')
    .where('access_review_items.change_applied_at', 'is', null)
    .execute();
  let applied = 0;
  for (const item of pending) {
    const resource = loaded.policy.resources.find((r) => r.id === item.resource_id);
    if (resource?.requesters.includes(item.user_id)) continue;
    const done = await ctx.audit.transact(async (trx) => {
      const row = await trx
        .updateTable('access_review_items')
        .set({ change_applied_at: ctx.now() })
        .where('review_id', '=', item.review_id)
        .where('user_id', '=', item.user_id)
        .where('change_applied_at', 'is', null)
        .returning('user_id')
        .executeTakeFirst();
      if (!row) return false;
      await ctx.audit.append(trx, {
        actor: 'system',
        action: 'review.change_applied',
        subject: item.review_id,
        body: {
          review: item.review_id,
          resource: item.resource_id,
          person: item.user_id,
          policy_sha256: loaded.sha256,
          resource_in_policy: resource !== undefined,
        },
      });
      await notify(trx, { kind: 'notify_review_changed', reviewId: item.review_id });
      return true;
    });
    if (done) applied++;
  }
  return applied;
}
