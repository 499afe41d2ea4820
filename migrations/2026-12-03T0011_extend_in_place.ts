import { sql, type Kysely } from 'kysely';

/**
 * Extensions move a grant's end (issue 15), and the messages a person is sent stay true.
 *
 * `grants.target_ends_at` is the end the target system was last told (a login's
 * `VALID UNTIL`): an approved extension moves `ends_at` at once, and the provisioner is
 * told after the commit; while the two differ, the retry sweep tells it again. Grants
 * provisioned before this migration hold their `ends_at` already.
 *
 * `person_messages` are the direct messages sent to a requester or holder that show a
 * request's or a grant's state (request sent, approved, access active, its login, ending
 * soon, failing): every change of that state sets each of them to what is true now, and a
 * click on one that was not updated yet is answered from the state, not the message.
 *
 * Two indexes serve an approval card's history of its requester with the resource.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table grants add column target_ends_at timestamptz`.execute(db);
  await sql`update grants set target_ends_at = ends_at where status not in ('provisioning', 'provision_failed')`.execute(
    db,
  );
  await sql`create index grants_extend_retry on grants (next_attempt_at) where status = 'active' and next_attempt_at is not null`.execute(
    db,
  );
  await sql`
    create table person_messages (
      channel text not null,
      ts text not null,
      user_id text not null,
      kind text not null check (kind in ('request', 'approved', 'grant', 'credentials', 'expiring', 'failing')),
      request_id text references access_requests (id),
      grant_id text references grants (id),
      created_at timestamptz not null default now(),
      primary key (channel, ts),
      check (request_id is not null or grant_id is not null)
    )`.execute(db);
  await sql`create index person_messages_request on person_messages (request_id) where request_id is not null`.execute(
    db,
  );
  await sql`create index person_messages_grant on person_messages (grant_id) where grant_id is not null`.execute(db);
  // An approval card's history of its requester with the resource (src/access/history.ts).
  await sql`create index access_requests_history on access_requests (requester, resource_id, created_at)`.execute(db);
  await sql`create index grants_history on grants (user_id, resource_id, starts_at)`.execute(db);
  await sql`create index access_requests_extends on access_requests (extends_grant_id) where extends_grant_id is not null`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index grants_history`.execute(db);
  await sql`drop index access_requests_history`.execute(db);
  await sql`drop index access_requests_extends`.execute(db);
  await sql`drop table person_messages`.execute(db);
  await sql`drop index grants_extend_retry`.execute(db);
  await sql`alter table grants drop column target_ends_at`.execute(db);
}
