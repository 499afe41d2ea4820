/**
 * The evidence of access reviews (`gatehouse review export`): who decided what and when,
 * what was removed and whether the policy change has been made, each fact with the seq of
 * the audit event that records it, so an auditor can check them against the chain.
 */
import type { Db } from '../db/database.ts';
import type { Policy } from '../config/policy.ts';
import { policyChange } from './reviews-change.ts';
import { toItem } from './reviews.ts';

export interface ReviewReportPerson {
  person: string;
  via: string[];
  grants: number;
  total_ms: number;
  last_grant_at: string | null;
  decision: 'keep' | 'remove' | null;
  decided_by: string | null;
  decided_at: string | null;
  decided_seq: number | null;
  /** Remove only: null while the change is pending. */
  change_applied_at: string | null;
  change_applied_seq: number | null;
  /** Remove only, while pending: the policy change to make, against the policy given. */
  policy_change: string | null;
}

export interface ReviewReport {
  review: string;
  resource: string;
  status: 'open' | 'completed';
  due_at: string;
  period_start: string;
  period_end: string;
  owners: string[];
  opened_at: string;
  opened_seq: number | null;
  completed_at: string | null;
  completed_seq: number | null;
  people: ReviewReportPerson[];
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** Every review (or the one named), oldest first. Events not yet chained have a null seq. */
export async function reviewReports(db: Db, policy: Policy | null, reviewId?: string): Promise<ReviewReport[]> {
  let query = db.selectFrom('access_reviews').selectAll().orderBy('due_at').orderBy('resource_id');
  if (reviewId !== undefined) query = query.where('id', '=', reviewId);
  const reviews = await query.execute();
  const reports: ReviewReport[] = [];
  for (const review of reviews) {
    const items = await db
      .selectFrom('access_review_items')
      .selectAll()
      .where('review_id', '=', review.id)
      .orderBy('user_id')
      .execute();
    const events = await db
      .selectFrom('audit_log')
      .select(['seq', 'action', 'body'])
      .where('subject', '=', review.id)
      .where('action', 'in', ['review.opened', 'review.decided', 'review.completed', 'review.change_applied'])
      .orderBy('seq')
      .execute();
    const seqOf = (action: string, person?: string) =>
      events.find((e) => e.action === action && (person === undefined || e.body['person'] === person))?.seq ?? null;
    reports.push({
      review: review.id,
      resource: review.resource_id,
      status: review.status,
      due_at: review.due_at.toISOString(),
      period_start: review.period_start.toISOString(),
      period_end: review.period_end.toISOString(),
      owners: review.owners,
      opened_at: review.opened_at.toISOString(),
      opened_seq: seqOf('review.opened'),
      completed_at: iso(review.completed_at),
      completed_seq: seqOf('review.completed'),
      people: items.map(toItem).map((item) => {
        const pending = item.decision === 'remove' && item.changeAppliedAt === null;
        return {
          person: item.userId,
          via: item.via,
          grants: item.grants,
          total_ms: item.totalMs,
          last_grant_at: iso(item.lastGrantAt),
          decision: item.decision,
          decided_by: item.decidedBy,
          decided_at: iso(item.decidedAt),
          decided_seq: item.decision ? seqOf('review.decided', item.userId) : null,
          change_applied_at: iso(item.changeAppliedAt),
          change_applied_seq: item.changeAppliedAt ? seqOf('review.change_applied', item.userId) : null,
          policy_change: pending && policy ? policyChange(policy, review.resource_id, item.userId) : null,
        };
      }),
    });
  }
  return reports;
}
