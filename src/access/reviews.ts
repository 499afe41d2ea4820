/**
 * Access reviews (issue 18, 3): on the policy's schedule, each reviewed resource's owners
 * are shown who may request it (the policy's standing permission) and what each person
 * was granted in the period, with Keep and Remove per person. Opening is claimed by the
 * unique (resource, scheduled time), so of several replicas exactly one opens each review
 * and records `review.opened`; the owners' messages go through the outbox.
 */
import { randomBytes } from 'node:crypto';
import type { Selectable, Transaction } from 'kysely';
import { sql } from 'kysely';
import { latestDue } from '../config/review-schedule.ts';
import type { ResourceReview } from '../config/reviews-policy.ts';
import type { ResourcePolicy } from '../config/policy.ts';
import type { AccessReviewItemTable, AccessReviewTable, Database } from '../db/schema.ts';
import type { AccessContext } from './context.ts';
import type { SlackUserId } from './ids.ts';
import { notify } from './notifications.ts';

export type ReviewRow = Selectable<AccessReviewTable>;

export interface ReviewItem {
  userId: SlackUserId;
  via: string[];
  grants: number;
  totalMs: number;
  lastGrantAt: Date | null;
  decision: 'keep' | 'remove' | null;
  decidedBy: SlackUserId | null;
  decidedAt: Date | null;
  changeAppliedAt: Date | null;
}

export interface Review extends ReviewRow {
  resourceName: string;
  items: ReviewItem[];
}

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
function newReviewId(): string {
  let id = 'rev_';
  for (const byte of randomBytes(12)) id += ALPHABET[byte % 32];
  return id;
}

export function toItem(row: Selectable<AccessReviewItemTable>): ReviewItem {
  return {
    userId: row.user_id,
    via: row.via,
    grants: row.grants,
    totalMs: Number(row.total_ms),
    lastGrantAt: row.last_grant_at,
    decision: row.decision,
    decidedBy: row.decided_by,
    decidedAt: row.decided_at,
    changeAppliedAt: row.change_applied_at,
  };
}

/** The policy entries through which a person may request a resource: their own id, or the groups they are in. */
export function entriesFor(
  userId: SlackUserId,
  entries: readonly string[],
  groups: ReadonlyMap<string, readonly SlackUserId[]>,
): string[] {
  return entries.filter((entry) => entry === userId || (groups.get(entry) ?? []).includes(userId));
}

/** Each person's grants of the resource that overlap the period: how many, how long in it, the latest start. */
async function usage(
  trx: Transaction<Database>,
  resourceId: string,
  from: Date,
  to: Date,
): Promise<Map<string, { grants: number; totalMs: number; last: Date | null }>> {
  const rows = await trx
    .selectFrom('grants')
    .select([
      'user_id',
      sql<number>`count(*)::int`.as('grants'),
      sql<string>`coalesce(sum(extract(epoch from (least(coalesce(ended_at, ends_at), ${to}::timestamptz) - greatest(starts_at, ${from}::timestamptz))) * 1000), 0)::bigint`.as(
        'total_ms',
      ),
      sql<Date | null>`max(starts_at)`.as('last'),
    ])
    .where('resource_id', '=', resourceId)
    .where('starts_at', '<', to)
    .where(sql<boolean>`coalesce(ended_at, ends_at) > ${from}::timestamptz`)
    .where('status', '!=', 'provision_failed')
    .groupBy('user_id')
    .execute();
  return new Map(
    rows.map((r) => [r.user_id, { grants: r.grants, totalMs: Math.max(0, Number(r.total_ms)), last: r.last }]),
  );
}

async function open(
  ctx: AccessContext,
  resource: ResourcePolicy,
  schedule: ResourceReview,
  dueAt: Date,
): Promise<string | null> {
  const { policy } = ctx.policy();
  return ctx.audit.transact(async (trx) => {
    const periodStart = new Date(dueAt.getTime() - schedule.periodMs);
    const now = ctx.now();
    const created = await trx
      .insertInto('access_reviews')
      .values({
        id: newReviewId(),
        resource_id: resource.id,
        due_at: dueAt,
        period_start: periodStart,
        period_end: dueAt,
        owners: resource.owners,
        opened_at: now,
        reminded_at: null,
        completed_at: null,
        ...(resource.requesters.length === 0 ? { status: 'completed' as const, completed_at: now } : {}),
      })
      .onConflict((oc) => oc.columns(['resource_id', 'due_at']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!created) return null;
    const used = await usage(trx, resource.id, periodStart, dueAt);
    const items = resource.requesters.map((userId) => {
      const u = used.get(userId);
      return {
        review_id: created.id,
        user_id: userId,
        via: entriesFor(userId, policy.requesterEntries.get(resource.id) ?? [], policy.groups),
        grants: u?.grants ?? 0,
        total_ms: u?.totalMs ?? 0,
        last_grant_at: u?.last ?? null,
      };
    });
    if (items.length > 0) await trx.insertInto('access_review_items').values(items).execute();
    await ctx.audit.append(trx, {
      actor: 'system',
      action: 'review.opened',
      subject: created.id,
      body: {
        resource: resource.id,
        due_at: dueAt.toISOString(),
        period_start: periodStart.toISOString(),
        period_end: dueAt.toISOString(),
        owners: resource.owners,
        people: items.map((i) => ({
          user: i.user_id,
          via: i.via,
          grants: i.grants,
          total_ms: i.total_ms,
          last_grant_at: i.last_grant_at?.toISOString() ?? null,
        })),
      },
    });
    if (items.length === 0)
      await ctx.audit.append(trx, {
        actor: 'system',
        action: 'review.completed',
        subject: created.id,
        body: { resource: resource.id, kept: [], removed: [] },
      });
    else await notify(trx, { kind: 'notify_review_opened', reviewId: created.id });
    return created.id;
  });
}

/**
 * The review sweep: for each reviewed resource, the review of its latest scheduled time is
 * opened unless one for that time (or a later one) exists. A review missed while Gatehouse
 * was down opens when it is back. Returns the ids opened.
 */
export async function openDueReviews(ctx: AccessContext): Promise<string[]> {
  const { policy } = ctx.policy();
  const now = ctx.now();
  const opened: string[] = [];
  for (const resource of policy.resources) {
    const schedule = policy.reviews.get(resource.id);
    const dueAt = schedule && latestDue(schedule.every, now);
    if (!schedule || !dueAt) continue;
    const latest = await ctx.db
      .selectFrom('access_reviews')
      .select('id')
      .where('resource_id', '=', resource.id)
      .where('due_at', '>=', dueAt)
      .executeTakeFirst();
    if (latest) continue;
    const id = await open(ctx, resource, schedule, dueAt);
    if (id) opened.push(id);
  }
  return opened;
}

/** A review with its items (people in policy order: sorted ids), or undefined. */
export async function findReview(
  ctx: Pick<AccessContext, 'db' | 'policy'>,
  reviewId: string,
): Promise<Review | undefined> {
  const row = await ctx.db.selectFrom('access_reviews').selectAll().where('id', '=', reviewId).executeTakeFirst();
  if (!row) return undefined;
  const items = await ctx.db
    .selectFrom('access_review_items')
    .selectAll()
    .where('review_id', '=', reviewId)
    .orderBy('user_id')
    .execute();
  const resource = ctx.policy().policy.resources.find((r) => r.id === row.resource_id);
  return { ...row, resourceName: resource?.name ?? row.resource_id, items: items.map(toItem) };
}

/** Who may decide a review's items: the resource's owners now, or those it was opened with if it left the policy. */
export function reviewersOf(ctx: Pick<AccessContext, 'policy'>, review: ReviewRow): SlackUserId[] {
  return ctx.policy().policy.resources.find((r) => r.id === review.resource_id)?.owners ?? review.owners;
}

/**
 * Open reviews past their resource's reminder_after since opening: each is claimed by a
 * conditional update of `reminded_at` (once, on any replica) and its owners reminded.
 */
export async function remindReviewers(ctx: AccessContext): Promise<number> {
  const { policy } = ctx.policy();
  const now = ctx.now();
  const open = await ctx.db
    .selectFrom('access_reviews')
    .select(['id', 'resource_id', 'opened_at'])
    .where('status', '=', 'open')
    .where('reminded_at', 'is', null)
    .execute();
  let reminded = 0;
  for (const review of open) {
    const after = policy.reviews.get(review.resource_id)?.reminderAfterMs ?? null;
    if (after === null || review.opened_at.getTime() + after > now.getTime()) continue;
    const claimed = await ctx.audit.transact(async (trx) => {
      const row = await trx
        .updateTable('access_reviews')
        .set({ reminded_at: now })
        .where('id', '=', review.id)
        .where('status', '=', 'open')
        .where('reminded_at', 'is', null)
        .returning('id')
        .executeTakeFirst();
      if (row) await notify(trx, { kind: 'notify_review_reminder', reviewId: review.id });
      return row !== undefined;
    });
    if (claimed) reminded++;
  }
  return reminded;
}
