import { sql, type Kysely } from 'kysely';

/**
 * The hash-chained audit log (docs/audit-log.md), a view of its fields, and the queue its
 * events wait in.
 * The table refuses UPDATE, DELETE and TRUNCATE through triggers that fire ALWAYS, so
 * that `session_replication_role = replica` does not switch them off either.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Only the hashed text is stored, beside its place and hashes: no second copy of a field
  // that could be edited to disagree with it. The audit_log view reads the fields out.
  await sql`
    create table audit_events (
      seq       bigint not null,
      canonical text   not null,
      prev_hash bytea  not null check (octet_length(prev_hash) = 32),
      hash      bytea  not null check (octet_length(hash) = 32),
      constraint audit_events_pkey primary key (seq),
      constraint audit_events_hash_key unique (hash),
      constraint audit_events_seq_positive check (seq > 0)
    )
  `.execute(db);
  await sql`
    create view audit_log as
    select seq,
           (e ->> 'time')::timestamptz as occurred_at,
           e ->> 'actor' as actor,
           e ->> 'action' as action,
           e ->> 'subject' as subject,
           e -> 'body' as body,
           encode(hash, 'hex') as hash
    from (select seq, canonical::jsonb as e, hash from audit_events) as parsed
  `.execute(db);

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
