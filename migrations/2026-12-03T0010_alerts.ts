import { sql, type Kysely } from 'kysely';

/**
 * Alerts (docs/alerts.md).
 *
 * `watch_state` is the watcher's cursor on the chain: the seq of the last event its
 * detectors have seen. One row, locked (SKIP LOCKED) for the length of one round, so with
 * several replicas one watches at a time, and moved in the transaction that records the
 * round's alerts: an event is watched exactly once. It starts at the head, so a deployment
 * that upgrades is not alerted about its whole history.
 *
 * `alerts` is one row per incident: `incident_key` is unique, so a detector that fires
 * twice for one incident (a sweep on two replicas, a round retried) records it once. The
 * alert itself is the `alert.raised` audit event; the row carries what changes after it:
 * who acknowledged it, who ended the access. `alert_messages` are where it was posted, to
 * update every copy when that changes.
 *
 * `audit_channel_posts` is where the audit feed posted each range of seqs, so an alert can
 * link to the messages that show its evidence.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table watch_state (
      id boolean primary key default true check (id),
      cursor_seq bigint not null,
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`insert into watch_state (cursor_seq) select coalesce(max(seq), 0) from audit_events`.execute(db);
  await sql`
    create table alerts (
      id text primary key,
      incident_key text not null unique,
      detector text not null,
      severity text not null check (severity in ('info', 'warning', 'high', 'critical')),
      subject text not null,
      user_id text,
      resource_id text,
      grant_id text,
      session_id text,
      title text not null,
      detail text not null,
      evidence bigint[] not null default '{}',
      ends text not null check (ends in ('grant', 'person', 'none')),
      raised_at timestamptz not null default now(),
      acknowledged_by text,
      acknowledged_at timestamptz,
      access_ended_by text,
      access_ended_at timestamptz
    )`.execute(db);
  // The revoke alert of old is the watcher's now (stuck access): one queued is not sent twice.
  await sql`
    update outbox set done_at = now(), last_error = 'replaced by the stuck-access alert'
     where kind = 'notify_grant_revoke_alert' and done_at is null`.execute(db);
  await sql`create index alerts_raised_at on alerts (raised_at)`.execute(db);
  // The approval-share detector counts a resource's approvals over a window at each approval.
  await sql`create index approvals_created_at on approvals (created_at)`.execute(db);
  await sql`
    create table alert_messages (
      alert_id text not null references alerts (id),
      channel text not null,
      ts text not null,
      primary key (alert_id, channel)
    )`.execute(db);
  await sql`
    create table audit_channel_posts (
      first_seq bigint not null,
      last_seq bigint not null,
      channel text not null,
      ts text not null,
      primary key (last_seq)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index approvals_created_at`.execute(db);
  await sql`drop table audit_channel_posts`.execute(db);
  await sql`drop table alert_messages`.execute(db);
  await sql`drop table alerts`.execute(db);
  await sql`drop table watch_state`.execute(db);
}
