import { sql, type Kysely } from 'kysely';

/**
 * Requests, approvals and grants; the Slack messages to keep up to date; and the outbox
 * of notifications, written in the same transaction as the change they announce.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table access_requests (
      id                text primary key,
      requester         text not null,
      resource_id       text not null,
      duration_ms       bigint not null check (duration_ms > 0),
      reason            text not null,
      status            text not null default 'pending'
                        check (status in ('pending', 'approved', 'denied', 'expired', 'cancelled')),
      approvals_required int not null check (approvals_required >= 1),
      created_at        timestamptz not null default now(),
      expires_at        timestamptz not null,
      decided_at        timestamptz,
      decided_by        text,
      deny_reason       text,
      extends_grant_id  text,
      policy_sha256     text not null,
      reminders_sent    int not null default 0,
      next_reminder_at  timestamptz
    )
  `.execute(db);
  // One open request per person and resource, whatever the races.
  await sql`create unique index access_requests_one_pending on access_requests (requester, resource_id) where status = 'pending'`.execute(
    db,
  );
  await sql`create index access_requests_pending_expiry on access_requests (expires_at) where status = 'pending'`.execute(
    db,
  );
  await sql`create index access_requests_reminders on access_requests (next_reminder_at) where status = 'pending'`.execute(
    db,
  );

  await sql`
    create table approvals (
      request_id  text not null references access_requests (id),
      approver    text not null,
      created_at  timestamptz not null default now(),
      mfa_checked boolean not null default false,
      primary key (request_id, approver)
    )
  `.execute(db);

  await sql`
    create table grants (
      id              text primary key,
      request_id      text not null unique references access_requests (id),
      user_id         text not null,
      resource_id     text not null,
      status          text not null
                      check (status in ('provisioning', 'active', 'revoking', 'ended', 'provision_failed', 'revoke_failed')),
      starts_at       timestamptz not null,
      ends_at         timestamptz not null,
      ended_at        timestamptz,
      end_reason      text check (end_reason in ('expired', 'released', 'revoked')),
      attempts        int not null default 0,
      next_attempt_at timestamptz,
      last_error      text,
      warned_at       timestamptz
    )
  `.execute(db);
  await sql`create index grants_due on grants (ends_at) where status = 'active'`.execute(db);
  await sql`create index grants_retry on grants (next_attempt_at) where status in ('provisioning', 'provision_failed', 'revoking', 'revoke_failed')`.execute(
    db,
  );
  await sql`create index grants_open_by_user on grants (user_id, resource_id) where status <> 'ended'`.execute(db);

  // Approval cards posted, so every owner's card can be updated with the outcome.
  await sql`
    create table approval_cards (
      request_id text not null references access_requests (id),
      channel    text not null,
      ts         text not null,
      owner      text,
      primary key (request_id, channel, ts)
    )
  `.execute(db);

  await sql`
    create table outbox (
      id              bigint generated always as identity primary key,
      kind            text not null,
      payload         jsonb not null,
      created_at      timestamptz not null default now(),
      attempts        int not null default 0,
      next_attempt_at timestamptz not null default now(),
      last_error      text,
      done_at         timestamptz
    )
  `.execute(db);
  await sql`create index outbox_due on outbox (next_attempt_at, id) where done_at is null`.execute(db);

  // How far the audit channel has been posted: one row, claimed by one replica at a time.
  await sql`
    create table audit_channel_state (
      id         boolean primary key default true check (id),
      posted_seq bigint not null default 0,
      updated_at timestamptz not null default now()
    )
  `.execute(db);
  await sql`insert into audit_channel_state (posted_seq) values (0)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['audit_channel_state', 'outbox', 'approval_cards', 'grants', 'approvals', 'access_requests']) {
    await sql`drop table if exists ${sql.table(table)}`.execute(db);
  }
}
