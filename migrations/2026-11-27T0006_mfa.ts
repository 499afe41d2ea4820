import { sql, type Kysely } from 'kysely';

/**
 * Step-up MFA (TOTP). `mfa_enrolments` holds each person's secrets, sealed with
 * GATEHOUSE_SECRETS_KEY and bound to their user id: the one in force (`secret`) and one
 * being enrolled (`pending_secret`), so a re-enrolment leaves the old one working until the
 * new one is confirmed. `last_step` is the last time step a code was accepted for: no code
 * is accepted twice. `mfa_guards` counts wrong codes and holds lockouts; it is separate so
 * that removing MFA does not clear a lockout. A request records whether its requester gave
 * a right code.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table mfa_enrolments (
      user_id text primary key,
      secret bytea,
      pending_secret bytea,
      enrolled_at timestamptz,
      pending_since timestamptz,
      last_step bigint,
      -- The direct message that carried the QR code, deleted once the enrolment is confirmed.
      enrolment_channel text,
      enrolment_ts text,
      enrolment_file text,
      check (secret is not null or pending_secret is not null)
    )`.execute(db);
  await sql`
    create table mfa_guards (
      user_id text primary key,
      failures timestamptz[] not null default '{}',
      locked_until timestamptz
    )`.execute(db);
  // Whether the requester gave a right code with the request (require_mfa), for the owners' cards.
  await sql`alter table access_requests add column mfa_checked boolean not null default false`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table access_requests drop column mfa_checked`.execute(db);
  await sql`drop table mfa_guards`.execute(db);
  await sql`drop table mfa_enrolments`.execute(db);
}
