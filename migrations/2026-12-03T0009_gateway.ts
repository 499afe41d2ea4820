import { sql, type Kysely } from 'kysely';

/**
 * The database gateway (docs/gateway.md).
 *
 * `gateway_logins` holds, per grant reached through the gateway, the SCRAM-SHA-256 verifier
 * of the password its holder was sent (never the password): what the gateway checks a
 * login against, on any replica.
 *
 * `gateway_sessions` is one row per session a replica holds: owners list the live ones,
 * an owner's End session sets `end_requested_at`, and `cancel_*` let whichever replica
 * receives a client's cancel request forward it upstream. `seen_at` is refreshed by the
 * holding replica, so a session of a replica that died is not shown as live.
 *
 * Replicas end sessions on the instant: a grant's status or end changing, or an end being
 * asked for, notifies `gatehouse_gateway` at commit with the grant's id.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table gateway_logins (
      grant_id text primary key references grants (id),
      username text not null unique,
      salt text not null,
      iterations integer not null,
      stored_key text not null,
      server_key text not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table gateway_sessions (
      id text primary key,
      grant_id text not null references grants (id),
      user_id text not null,
      resource_id text not null,
      replica text not null,
      client_address text,
      application_name text,
      started_at timestamptz not null default now(),
      seen_at timestamptz not null default now(),
      ended_at timestamptz,
      end_reason text check (end_reason in ('client_closed', 'grant_ended', 'ended_by_owner', 'upstream_closed', 'setting_changed', 'gateway_stopped')),
      end_requested_at timestamptz,
      end_requested_by text,
      statements integer not null default 0,
      rows bigint not null default 0,
      refused integer not null default 0,
      cancel_pid integer not null,
      cancel_secret integer not null,
      upstream_pid integer,
      upstream_secret integer
    )`.execute(db);
  await sql`create index gateway_sessions_live on gateway_sessions (grant_id) where ended_at is null`.execute(db);
  // Owners' Home tabs list the live sessions of their resources.
  await sql`create index gateway_sessions_live_by_resource on gateway_sessions (resource_id) where ended_at is null`.execute(
    db,
  );
  await sql`create unique index gateway_sessions_cancel on gateway_sessions (cancel_pid, cancel_secret)`.execute(db);
  await sql`
    create function gatehouse_gateway_notify_grant() returns trigger language plpgsql as $$
    begin
      if new.status is distinct from old.status or new.ends_at is distinct from old.ends_at then
        perform pg_notify('gatehouse_gateway', new.id);
      end if;
      return null;
    end $$`.execute(db);
  await sql`
    create trigger grants_gateway_notify after update of status, ends_at on grants
    for each row execute function gatehouse_gateway_notify_grant()`.execute(db);
  await sql`
    create function gatehouse_gateway_notify_session() returns trigger language plpgsql as $$
    begin
      if new.end_requested_at is not null and old.end_requested_at is null then
        perform pg_notify('gatehouse_gateway', new.grant_id);
      end if;
      return null;
    end $$`.execute(db);
  await sql`
    create trigger gateway_sessions_end_requested after update of end_requested_at on gateway_sessions
    for each row execute function gatehouse_gateway_notify_session()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop trigger gateway_sessions_end_requested on gateway_sessions`.execute(db);
  await sql`drop function gatehouse_gateway_notify_session()`.execute(db);
  await sql`drop trigger grants_gateway_notify on grants`.execute(db);
  await sql`drop function gatehouse_gateway_notify_grant()`.execute(db);
  await sql`drop table gateway_sessions`.execute(db);
  await sql`drop table gateway_logins`.execute(db);
}
