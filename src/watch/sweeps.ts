import { sql } from 'kysely';
import { raiseAlert } from '../access/alerts.ts';
import { LIVE_GRANT_STATUSES } from '../access/types.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { formatDuration } from '../config/duration.ts';
import type { Policy } from '../config/policy.ts';
import type { Db } from '../db/database.ts';
import { resourceNameOf } from './detector.ts';

const DAY = 86_400_000;
const WEEK = 7 * DAY;

/**
 * Access that will not go away, found by time rather than by an event: a grant still live
 * (not ended) longer than `overdueAfter` past its end. The expiry timer and sweep end
 * grants on time, so one here means they are stuck. Once per grant, on any replica.
 */
export async function alertOverdueGrants(db: Db, audit: AuditLog, policy: Policy, now: Date): Promise<number> {
  const settings = policy.alerts.stuckAccess;
  if (!settings) return 0;
  const overdue = await db
    .selectFrom('grants')
    .selectAll()
    .where('status', '!=', 'ended')
    .where('ends_at', '<', new Date(now.getTime() - settings.overdueAfterMs))
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('alerts')
            .select('id')
            .where('incident_key', '=', sql<string>`'grant_overdue:' || grants.id`),
        ),
      ),
    )
    .limit(100)
    .execute();
  let raised = 0;
  for (const grant of overdue) {
    const name = resourceNameOf(policy, grant.resource_id);
    const late = formatDuration(Math.floor((now.getTime() - grant.ends_at.getTime()) / 60_000) * 60_000 || 60_000);
    // Still giving access and not yet being ended: End access now can end it. Being revoked
    // (and failing): the retries go on, and the target needs a look by hand.
    const live = LIVE_GRANT_STATUSES.includes(grant.status);
    const id = await audit.transact((trx) =>
      raiseAlert(trx, {
        detector: 'grant_overdue',
        severity: 'high',
        incidentKey: `grant_overdue:${grant.id}`,
        subject: grant.id,
        userId: grant.user_id,
        resourceId: grant.resource_id,
        grantId: grant.id,
        title: `Access to ${name} is still live past its end`,
        detail: `${grant.id} should have ended at ${grant.ends_at.toISOString()} and is still ${grant.status} ${late} later${grant.last_error ? ` (last error: ${grant.last_error})` : ''}. ${live ? 'End access now, and check the expiry sweep.' : `Gatehouse keeps retrying the revoke: check ${name} by hand.`}`,
        evidence: [],
        ends: live ? 'grant' : 'none',
        facts: { status: grant.status, ends_at: grant.ends_at.toISOString() },
      }),
    );
    if (id) raised += 1;
  }
  return raised;
}

/** The most recent weekly moment (weekday, hour UTC) at or before `now`. */
export function lastWeeklyMoment(weekday: number, hourUtc: number, now: Date): Date {
  const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), hourUtc));
  const back = (day.getUTCDay() - weekday + 7) % 7;
  let moment = new Date(day.getTime() - back * DAY);
  if (moment > now) moment = new Date(moment.getTime() - WEEK);
  return moment;
}

/**
 * Unused access: grants through the gateway (they had a gateway login) that ended in the
 * week before the weekly moment with no session at all. One note per resource and week,
 * to its owners, suggesting shorter grants: access asked for and never used is access that
 * did not need to exist.
 */
export async function noteUnusedAccess(db: Db, audit: AuditLog, policy: Policy, now: Date): Promise<number> {
  const settings = policy.alerts.unusedAccess;
  if (!settings) return 0;
  const until = lastWeeklyMoment(settings.weekday, settings.hourUtc, now);
  const since = new Date(until.getTime() - WEEK);
  const week = until.toISOString().slice(0, 10);
  const unused = await db
    .selectFrom('grants')
    .innerJoin('gateway_logins', 'gateway_logins.grant_id', 'grants.id')
    .select(['grants.id', 'grants.resource_id', 'grants.user_id', 'grants.starts_at', 'grants.ends_at'])
    .where('grants.status', '=', 'ended')
    .where('grants.ended_at', '>=', since)
    .where('grants.ended_at', '<', until)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('gateway_sessions').select('id').whereRef('gateway_sessions.grant_id', '=', 'grants.id'))),
    )
    .orderBy('grants.ended_at')
    .execute();
  const byResource = new Map<string, typeof unused>();
  for (const grant of unused) byResource.set(grant.resource_id, [...(byResource.get(grant.resource_id) ?? []), grant]);
  let raised = 0;
  for (const [resource, grants] of byResource) {
    const name = resourceNameOf(policy, resource);
    const people = [...new Set(grants.map((g) => g.user_id))];
    const hours = grants.reduce((sum, g) => sum + (g.ends_at.getTime() - g.starts_at.getTime()), 0);
    const id = await audit.transact((trx) =>
      raiseAlert(trx, {
        detector: 'unused_access',
        severity: 'info',
        incidentKey: `unused_access:${resource}:${week}`,
        subject: resource,
        resourceId: resource,
        title: `${grants.length} grant${grants.length === 1 ? '' : 's'} of ${name} never used`,
        detail: `In the week to ${week}, ${people.length} ${people.length === 1 ? 'person' : 'people'} held ${formatDuration(Math.max(60_000, Math.round(hours / 60_000) * 60_000))} of access to ${name} without opening a session (${grants.map((g) => g.id).join(', ')}). Consider a shorter default_duration, or asking for access when it is needed.`,
        evidence: [],
        ends: 'none',
        facts: { grants: grants.slice(0, 50).map((g) => g.id), count: grants.length },
      }),
    );
    if (id) raised += 1;
  }
  return raised;
}
