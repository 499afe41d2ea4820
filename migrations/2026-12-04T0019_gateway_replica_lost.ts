import { sql, type Kysely } from 'kysely';

const BEFORE = [
  'client_closed',
  'grant_ended',
  'ended_by_owner',
  'upstream_closed',
  'setting_changed',
  'gateway_stopped',
];

/**
 * A gateway session may end `replica_lost`: the replica holding it stopped refreshing its
 * row (killed, or cut off from this database) and the reaper (src/access/gateway-reaper.ts)
 * ended it on the record. The check is 0009's, unnamed there, so PostgreSQL named it
 * `gateway_sessions_end_reason_check`.
 *
 * Going back: rows that ended `replica_lost` cannot stay under the old check. They are
 * marked `gateway_stopped` (the nearest older reason: the gateway that held them is gone);
 * the chain keeps the true reason in their `gateway.session_ended`.
 */
function check(reasons: readonly string[]) {
  return sql`alter table gateway_sessions add constraint gateway_sessions_end_reason_check check (end_reason in (${sql.join(
    reasons.map((reason) => sql.lit(reason)),
  )}))`;
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table gateway_sessions drop constraint gateway_sessions_end_reason_check`.execute(db);
  await check([...BEFORE, 'replica_lost']).execute(db);
  // The reaper looks for open sessions not seen for a while.
  await sql`create index gateway_sessions_open_seen on gateway_sessions (seen_at) where ended_at is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index gateway_sessions_open_seen`.execute(db);
  await sql`alter table gateway_sessions drop constraint gateway_sessions_end_reason_check`.execute(db);
  await sql`update gateway_sessions set end_reason = 'gateway_stopped' where end_reason = 'replica_lost'`.execute(db);
  await check(BEFORE).execute(db);
}
