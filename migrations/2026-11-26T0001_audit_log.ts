import { sql, type Kysely } from 'kysely';

/**
 * The hash-chained audit log (docs/audit-log.md) and the queue its events wait in.
 * The table refuses UPDATE, DELETE and TRUNCATE through triggers that fire ALWAYS, so
 * that `session_replication_role = replica` does not switch them off either.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Parses the canonical time form "YYYY-MM-DDTHH:MM:SS.ffffffZ". Built from immutable
  // functions only (the text->timestamptz cast depends on settings), so a generated
  // column may use it.
  await sql`
    create function gatehouse_utc(t text) returns timestamptz
    language sql immutable strict parallel safe as $$
      select timezone('UTC', make_timestamp(
        substr(t, 1, 4)::int, substr(t, 6, 2)::int, substr(t, 9, 2)::int,
        substr(t, 12, 2)::int, substr(t, 15, 2)::int, substr(t, 18, 9)::float8))
    $$
  `.execute(db);

  await sql`
    create table audit_events (
      canonical   text   not null,
      prev_hash   bytea  not null check (octet_length(prev_hash) = 32),
      hash        bytea  not null check (octet_length(hash) = 32),
      seq         bigint generated always as ((canonical::jsonb ->> 'seq')::bigint) stored not null,
      occurred_at timestamptz generated always as (gatehouse_utc(canonical::jsonb ->> 'time')) stored not null,
      actor       text   generated always as (canonical::jsonb ->> 'actor') stored not null,
      action      text   generated always as (canonical::jsonb ->> 'action') stored not null,
      subject     text   generated always as (canonical::jsonb ->> 'subject') stored,
      constraint audit_events_pkey primary key (seq),
      constraint audit_events_hash_key unique (hash)
    )
  `.execute(db);
  await sql`create index audit_events_action_idx on audit_events (action, seq)`.execute(db);
  await sql`create index audit_events_subject_idx on audit_events (subject, seq) where subject is not null`.execute(db);

  await sql`
    create function audit_events_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_events is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege',
              hint = 'Audit events are never changed or removed; record a new event instead.';
    end
    $$
  `.execute(db);
  await sql`
    create trigger audit_events_no_update_delete before update or delete on audit_events
    for each row execute function audit_events_refuse_change()
  `.execute(db);
  await sql`
    create trigger audit_events_no_truncate before truncate on audit_events
    for each statement execute function audit_events_refuse_change()
  `.execute(db);
  await sql`alter table audit_events enable always trigger audit_events_no_update_delete`.execute(db);
  await sql`alter table audit_events enable always trigger audit_events_no_truncate`.execute(db);

  await sql`
    create table audit_queue (
      id          bigint generated always as identity primary key,
      occurred_at timestamptz not null default clock_timestamp(),
      actor       text not null,
      action      text not null,
      subject     text,
      body        text not null
    )
  `.execute(db);

  await sql`create table gatehouse_meta (key text primary key, value text not null)`.execute(db);
  await sql`insert into gatehouse_meta (key, value) values ('log_id', gen_random_uuid()::text)`.execute(db);

  await sql`
    create table policy_state (
      id        boolean primary key default true check (id),
      sha256    text not null,
      path      text not null,
      loaded_at timestamptz not null default now()
    )
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('The audit log is never rolled back: its history is the point.');
}
