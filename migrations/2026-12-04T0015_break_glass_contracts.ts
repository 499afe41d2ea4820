import { sql, type Kysely } from 'kysely';

/**
 * Break-glass access and contract ends (issue 18, 1 and 2).
 *
 * `access_requests.break_glass` marks a request granted at once, without approval; its
 * `break_glass` row holds what must still happen: a quorum of owners ratifying it by
 * `ratify_by`, or the sweep revokes it. The row moves once, by a conditional update, from
 * `pending` to `ratified`, `unratified` (the sweep) or `revoked` (an owner's Revoke now).
 * `break_glass_ratifications` counts distinct owners; `break_glass_messages` is where its
 * alert was posted, to update every copy.
 *
 * `access_requests.contract_ends_at` is set when a request was shortened to end with the
 * requester's contract. `contract_notices` records each contract end whose owners were
 * told a week before, so that the notice goes out once per person and end, on any replica.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table access_requests add column break_glass boolean not null default false`.execute(db);
  await sql`alter table access_requests add column contract_ends_at timestamptz`.execute(db);
  await sql`
    create table break_glass (
      grant_id text primary key references grants (id),
      request_id text not null references access_requests (id),
      user_id text not null,
      resource_id text not null,
      reason text not null,
      quorum int not null check (quorum >= 1),
      ratify_by timestamptz not null,
      status text not null default 'pending' check (status in ('pending', 'ratified', 'unratified', 'revoked')),
      created_at timestamptz not null,
      settled_at timestamptz,
      settled_by text
    )`.execute(db);
  await sql`create index break_glass_due on break_glass (ratify_by) where status = 'pending'`.execute(db);
  await sql`
    create table break_glass_ratifications (
      grant_id text not null references break_glass (grant_id),
      owner text not null,
      created_at timestamptz not null default now(),
      primary key (grant_id, owner)
    )`.execute(db);
  await sql`
    create table break_glass_messages (
      grant_id text not null references break_glass (grant_id),
      channel text not null,
      ts text not null,
      primary key (grant_id, channel)
    )`.execute(db);
  await sql`
    create table contract_notices (
      user_id text not null,
      ends_at timestamptz not null,
      noticed_at timestamptz not null default now(),
      primary key (user_id, ends_at)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table contract_notices`.execute(db);
  await sql`drop table break_glass_messages`.execute(db);
  await sql`drop table break_glass_ratifications`.execute(db);
  await sql`drop table break_glass`.execute(db);
  await sql`alter table access_requests drop column contract_ends_at`.execute(db);
  await sql`alter table access_requests drop column break_glass`.execute(db);
}
