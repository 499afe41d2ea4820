import { sql, type Kysely } from 'kysely';

/**
 * Access reviews (issue 18, 3).
 *
 * `access_reviews` is one review of one resource for one scheduled time: the unique
 * (resource_id, due_at) makes the sweep open it once across replicas. Its items are the
 * people who may request the resource, with their grants in the period, frozen when it
 * opened; each item's decision moves once, by a conditional update, from null to `keep` or
 * `remove`. A `remove` stays pending until a loaded policy no longer lets the person
 * request the resource (`change_applied_at`). `access_review_messages` is where each
 * owner's message was posted, to update every copy after a decision.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table access_reviews (
      id text primary key,
      resource_id text not null,
      due_at timestamptz not null,
      period_start timestamptz not null,
      period_end timestamptz not null,
      owners text[] not null,
      status text not null default 'open' check (status in ('open', 'completed')),
      opened_at timestamptz not null,
      reminded_at timestamptz,
      completed_at timestamptz,
      unique (resource_id, due_at)
    )`.execute(db);
  await sql`
    create table access_review_items (
      review_id text not null references access_reviews (id),
      user_id text not null,
      via text[] not null,
      grants int not null,
      total_ms bigint not null,
      last_grant_at timestamptz,
      decision text check (decision in ('keep', 'remove')),
      decided_by text,
      decided_at timestamptz,
      change_applied_at timestamptz,
      primary key (review_id, user_id)
    )`.execute(db);
  await sql`create index access_review_items_pending on access_review_items (review_id)
    where decision = 'remove' and change_applied_at is null`.execute(db);
  await sql`
    create table access_review_messages (
      review_id text not null references access_reviews (id),
      owner text not null,
      page int not null,
      channel text not null,
      ts text not null,
      primary key (review_id, owner, page)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table access_review_messages`.execute(db);
  await sql`drop table access_review_items`.execute(db);
  await sql`drop table access_reviews`.execute(db);
}
