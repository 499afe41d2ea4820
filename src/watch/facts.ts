import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { headSeq, readSubjectEvents, seqBefore } from './chain.ts';
import type { Facts, GrantFacts } from './detector.ts';

const MINUTE = 60_000;
/** Commits in flight can put an event's time a little out of seq order. */
const MARGIN_MS = 5000;

/** The facts detectors look up, read from the tables the same transactions wrote. */
export function databaseFacts(db: Kysely<Database>): Facts {
  return {
    async grant(grantId: string): Promise<GrantFacts | null> {
      const row = await db
        .selectFrom('grants')
        .select(['user_id', 'resource_id', 'status', 'ends_at', 'ended_at'])
        .where('id', '=', grantId as never)
        .executeTakeFirst();
      return row
        ? {
            userId: row.user_id,
            resourceId: row.resource_id,
            status: row.status,
            endsAt: row.ends_at,
            endedAt: row.ended_at,
          }
        : null;
    },

    async grantOfRequest(requestId: string): Promise<string | null> {
      const row = await db
        .selectFrom('grants')
        .select('id')
        .where('request_id', '=', requestId as never)
        .executeTakeFirst();
      return row?.id ?? null;
    },

    async approvalsBy(resourceId: string, since: Date, until: Date): Promise<Map<string, number>> {
      const rows = await db
        .selectFrom('approvals')
        .innerJoin('access_requests', 'access_requests.id', 'approvals.request_id')
        .select(['approvals.approver', sql<number>`count(*)::int`.as('n')])
        .where('access_requests.resource_id', '=', resourceId)
        .where('approvals.created_at', '>', since)
        .where('approvals.created_at', '<=', until)
        .groupBy('approvals.approver')
        .execute();
      return new Map(rows.map((r) => [r.approver as string, r.n]));
    },

    async requestsOf(userId: string, since: Date, until: Date) {
      const rows = await db
        .selectFrom('access_requests')
        .select(['resource_id', 'duration_ms'])
        .where('requester', '=', userId as never)
        .where('created_at', '>', since)
        .where('created_at', '<=', until)
        .execute();
      return rows.map((r) => ({ resourceId: r.resource_id, durationMs: r.duration_ms }));
    },

    async sessionStart(sessionId: string) {
      const session = await db
        .selectFrom('gateway_sessions')
        .select('started_at')
        .where('id', '=', sessionId)
        .executeTakeFirst();
      if (!session) return null;
      const start = session.started_at.getTime();
      const head = await headSeq(db);
      const from = await seqBefore(db, new Date(start - MARGIN_MS), head);
      const to = await seqBefore(db, new Date(start + MINUTE + MARGIN_MS), head);
      const events = await readSubjectEvents(db, from, to, sessionId, 'gateway.statement');
      const firstMinute = events.filter((e) => e.time.getTime() < start + MINUTE).length;
      return { startedAt: session.started_at, firstMinute };
    },
  };
}
