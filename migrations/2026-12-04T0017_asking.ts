import { sql, type Kysely } from 'kysely';

/**
 * Asking well (issue 18, 4; docs/asking.md).
 *
 * `access_requests.ticket` is the ticket reference a resource's `ticket:` rule required.
 * `escalate_at` and `escalate_to` are set at filing when the resource has `escalate_after`
 * and `escalate_to`: the sweep sends a request still pending then to that group as well,
 * moving `escalated_at` from null once (a conditional update), so it happens exactly once
 * on any number of replicas.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table access_requests add column ticket text`.execute(db);
  await sql`alter table access_requests add column escalate_at timestamptz`.execute(db);
  await sql`alter table access_requests add column escalate_to text`.execute(db);
  await sql`alter table access_requests add column escalated_at timestamptz`.execute(db);
  await sql`
    create index access_requests_escalation_due on access_requests (escalate_at)
    where status = 'pending' and escalated_at is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index access_requests_escalation_due`.execute(db);
  await sql`alter table access_requests drop column escalated_at`.execute(db);
  await sql`alter table access_requests drop column escalate_to`.execute(db);
  await sql`alter table access_requests drop column escalate_at`.execute(db);
  await sql`alter table access_requests drop column ticket`.execute(db);
}
