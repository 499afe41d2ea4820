import { sql, type Kysely } from 'kysely';

/**
 * The outbox's notification kinds were dotted like audit actions (`request.reminder` beside
 * the action `request.reminded`, `grant.active` as both); they are now snake_case and start
 * with what delivering does (src/access/notifications.ts). Rows already in the outbox,
 * queued or delivered, are renamed with them, so nothing waiting is lost, and the partial
 * index of queued Home refreshes (0004) follows its kind.
 */
export const RENAMED_KINDS: readonly (readonly [before: string, after: string])[] = [
  ['request.submitted', 'notify_request_submitted'],
  ['request.progress', 'notify_request_progress'],
  ['request.decided', 'notify_request_decided'],
  ['request.reminder', 'notify_request_reminder'],
  ['grant.active', 'notify_grant_active'],
  ['grant.expiring', 'notify_grant_expiring'],
  ['grant.ended', 'notify_grant_ended'],
  ['grant.failing', 'notify_grant_failing'],
  ['grant.revoke_alert', 'notify_grant_revoke_alert'],
  ['home.refresh', 'refresh_home'],
  ['checkpoint.publish', 'publish_checkpoint'],
  ['mfa.enrolment', 'notify_mfa_enrolment'],
  ['mfa.enrolled', 'notify_mfa_enrolled'],
  ['mfa.changed', 'notify_mfa_changed'],
  ['mfa.locked', 'notify_mfa_locked'],
];

async function rename(db: Kysely<unknown>, pairs: readonly (readonly [string, string])[]): Promise<void> {
  const values = sql.join(pairs.map(([from, to]) => sql`(${from}, ${to})`));
  await sql`update outbox set kind = renamed.to_kind from (values ${values}) as renamed (from_kind, to_kind) where outbox.kind = renamed.from_kind`.execute(
    db,
  );
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await rename(db, RENAMED_KINDS);
  await sql`drop index outbox_home_refresh`.execute(db);
  await sql`create index outbox_home_refresh on outbox ((payload ->> 'userId'), id) where kind = 'refresh_home' and done_at is null`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await rename(
    db,
    RENAMED_KINDS.map(([before, after]) => [after, before] as const),
  );
  await sql`drop index outbox_home_refresh`.execute(db);
  await sql`create index outbox_home_refresh on outbox ((payload ->> 'userId'), id) where kind = 'home.refresh' and done_at is null`.execute(
    db,
  );
}
