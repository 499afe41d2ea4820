import type { Transaction } from 'kysely';
import type { LoadedPolicy } from '../config/policy.ts';
import type { Database } from '../db/schema.ts';
import type { AuditLog } from './audit-log.ts';

/**
 * An access review's Remove is carried out by the operator editing the policy file
 * (docs/reviews.md §4). Each pending removal that `loaded` no longer grants (the person
 * is not among the resource's requesters, or the resource is gone) is marked applied by a
 * conditional update and recorded as `review.change_applied`, in the caller's transaction:
 * the one that records `policy.loaded` (policy-record.ts) or the review sweep's. Lives
 * below access/ so the policy record can call it. Returns the removals it recorded.
 */
export async function applyReviewRemovals(
  trx: Transaction<Database>,
  audit: AuditLog,
  loaded: LoadedPolicy,
  now: Date,
): Promise<{ review: string; person: string }[]> {
  const pending = await trx
    .selectFrom('access_review_items')
    .innerJoin('access_reviews', 'access_reviews.id', 'access_review_items.review_id')
    .select(['access_review_items.review_id', 'access_review_items.user_id', 'access_reviews.resource_id'])
    .where('access_review_items.decision', '=', 'remove')
    .where('access_review_items.change_applied_at', 'is', null)
    .orderBy('access_review_items.review_id')
    .orderBy('access_review_items.user_id')
    .execute();
  const applied: { review: string; person: string }[] = [];
  for (const item of pending) {
    const resource = loaded.policy.resources.find((r) => r.id === item.resource_id);
    if (resource?.requesters.includes(item.user_id)) continue;
    const row = await trx
      .updateTable('access_review_items')
      .set({ change_applied_at: now })
      .where('review_id', '=', item.review_id)
      .where('user_id', '=', item.user_id)
      .where('change_applied_at', 'is', null)
      .returning('user_id')
      .executeTakeFirst();
    if (!row) continue;
    await audit.append(trx, {
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
    applied.push({ review: item.review_id, person: item.user_id });
  }
  // The owners' copies show it: access/notifications.ts's `notify_review_changed`, queued here
  // because this layer may not import access/.
  const reviews = [...new Set(applied.map((a) => a.review))];
  if (reviews.length > 0)
    await trx
      .insertInto('outbox')
      .values(reviews.map((reviewId) => ({ kind: 'notify_review_changed', payload: { reviewId } })))
      .execute();
  return applied;
}
