/**
 * The world the alerts benchmark watches: a policy with every detector on, working hours
 * (one group's set so that the run is always outside them), sensitive tables on two
 * resources, one owner who gives all of a resource's approvals; and the rows the detectors'
 * facts are read from (past requests and approvals, live grants, long-running gateway
 * sessions), written straight into a migrated database.
 */
import { createHash } from 'node:crypto';
import { sql, type Insertable } from 'kysely';
import type { LoadedPolicy } from '../src/config/policy.ts';
import type { Db } from '../src/db/database.ts';
import type { GrantTable } from '../src/db/schema.ts';
import { parsePolicy } from '../src/provisioners/index.ts';
import { contractorId } from './bench-gatehouse.ts';

export const AUDIT_CHANNEL = 'C0AUDIT01';
export const ALERT_CHANNEL = 'C0ALERTS1';
export const OWNER_A = 'U0OWNER01';
export const OWNER_B = 'U0OWNER02';
export const SECURITY = 'U0SECUR01';
export const CONTRACTORS = 200;
/** The first contractors work nights: the run is always outside their hours (off_hours alerts). */
export const NIGHT_SHIFT = 10;
const HOUR = 3_600_000;
const MINUTE = 60_000;

export interface BenchResource {
  id: string;
  /** Reached through the gateway: its grants hold the sessions of the stream. */
  database: boolean;
  /** Tables whose every statement is an alert, and the one the stream's support sessions read. */
  sensitive: string | null;
  owners: readonly string[];
}

export const RESOURCES: readonly BenchResource[] = [
  { id: 'orders-db', database: true, sensitive: 'public.customers', owners: [OWNER_A, OWNER_B] },
  { id: 'billing-db', database: true, sensitive: 'public.invoices', owners: [OWNER_A] },
  { id: 'analytics-db', database: true, sensitive: null, owners: [OWNER_A, OWNER_B] },
  { id: 'support-tools', database: false, sensitive: null, owners: [OWNER_B] },
  { id: 'ci-admin', database: false, sensitive: null, owners: [OWNER_A, OWNER_B] },
  { id: 'feature-flags', database: false, sensitive: null, owners: [OWNER_B] },
];
export const MAX_DURATION_MS = 4 * HOUR;

/** Whole hours, UTC, 12 hours away from `now`: the night shift's working hour. */
function farHour(now: Date): string {
  const from = (now.getUTCHours() + 12) % 24;
  return `${String(from).padStart(2, '0')}:00-${from === 23 ? '24:00' : `${String(from + 1).padStart(2, '0')}:00`}`;
}

/** The policy at `now`: every detector on, with the defaults of src/config/alerts-policy.ts. */
export function alertsPolicyText(now: Date): string {
  const list = (ids: readonly string[]) => `[${ids.join(', ')}]`;
  const contractors = Array.from({ length: CONTRACTORS }, (_, i) => contractorId(i));
  const resource = (r: BenchResource, i: number) => {
    const lines = [
      `  - id: ${r.id}`,
      `    name: Bench resource ${i + 1} (${r.id})`,
      `    owners: ${list(r.owners)}`,
      `    requesters: [contractors]`,
      `    default_duration: 1h`,
      `    max_duration: 4h`,
      `    provisioner: { kind: none }`,
    ];
    const alerts: string[] = [];
    if (r.sensitive) alerts.push(`sensitive_tables: [${r.sensitive}, payments]`, 'rows_over: 10000');
    // A resource's own hours, always within them: the detector reads them on every event of it.
    if (r.id === 'analytics-db')
      alerts.push('working_hours: { days: mon-sun, hours: 00:00-24:00, time_zone: America/New_York }');
    if (alerts.length > 0) lines.push(`    alerts: { ${alerts.join(', ')} }`);
    return lines.join('\n');
  };
  return `
audit_channel: ${AUDIT_CHANNEL}
groups:
  contractors: ${list(contractors)}
  night-shift: ${list(contractors.slice(0, NIGHT_SHIFT))}
  security: [${SECURITY}]
alerts:
  channel: ${ALERT_CHANNEL}
  security: [security]
  working_hours: { days: mon-sun, hours: 00:00-24:00, time_zone: Europe/Berlin }
  group_working_hours:
    night-shift: { days: mon-sun, hours: ${farHour(now)}, time_zone: UTC }
  off_hours: true
  refusals: true
  rubber_stamps: true
  sprees: true
  stuck_access: true
  database: true
  unused_access: true
resources:
${RESOURCES.map(resource).join('\n')}
`;
}

export function alertsPolicy(now: Date): LoadedPolicy {
  const text = alertsPolicyText(now);
  return {
    policy: parsePolicy(text, 'bench-alerts.yml'),
    path: 'bench-alerts.yml',
    sha256: createHash('sha256').update(text).digest('hex'),
  };
}

/** A live grant the stream's sessions run on. */
export interface LiveGrant {
  id: string;
  user: string;
  resource: BenchResource;
}

/** A gateway session open since before the run, not on the chain: the watcher reads its start from the tables. */
export interface OpenSession {
  id: string;
  grant: LiveGrant;
}

/** What the stream refers to: ids that exist in the tables. */
export interface World {
  liveGrants: LiveGrant[];
  openSessions: OpenSession[];
  /** Live grants of resources outside the gateway, each ended once by the stream (grant.ending). */
  endingGrants: LiveGrant[];
  /** Requests made 5-60 minutes before the run, each approved once by the stream. */
  approvable: { id: string; user: string; resource: BenchResource }[];
  policySha256: string;
}

const SEED = {
  pastRequests: 3000,
  liveGrants: 60,
  openSessions: 4,
  endingGrants: 3000,
  approvable: 5000,
};

const pick = <T>(list: readonly T[], i: number): T => list[i % list.length]!;

/**
 * Writes the world into a migrated database and moves the watcher's cursor to the head, as
 * a deployment that upgrades starts: past requests and their approvals over 30 days (the
 * rubber-stamp share and the max-duration sprees count them), live grants, sessions that
 * began minutes ago, and requests waiting for the stream's approvals.
 */
export async function seedWorld(db: Db, loaded: LoadedPolicy, now: Date): Promise<World> {
  const at = (msAgo: number) => new Date(now.getTime() - msAgo);
  const requests: {
    id: string;
    requester: string;
    resource_id: string;
    duration_ms: number;
    reason: string;
    status: 'approved';
    approvals_required: number;
    created_at: Date;
    expires_at: Date;
    decided_at: Date;
    decided_by: string;
    policy_sha256: string;
  }[] = [];
  const approvals: { request_id: string; approver: string; created_at: Date }[] = [];
  const request = (id: string, user: string, resource: BenchResource, createdAt: Date, durationMs: number) => {
    const approver = pick(resource.owners, requests.length);
    requests.push({
      id,
      requester: user,
      resource_id: resource.id,
      duration_ms: durationMs,
      reason: 'seeded for the alerts benchmark',
      status: 'approved',
      approvals_required: 1,
      created_at: createdAt,
      expires_at: new Date(createdAt.getTime() + 24 * HOUR),
      decided_at: new Date(createdAt.getTime() + 10 * MINUTE),
      decided_by: approver,
      policy_sha256: loaded.sha256,
    });
    return approver;
  };
  for (let i = 0; i < SEED.pastRequests; i++) {
    const resource = pick(RESOURCES, i * 7 + (i >> 3));
    const createdAt = at(HOUR + ((i * 8_640_000) % (30 * 24 * HOUR)));
    const id = `req_past_${i}`;
    const approver = request(
      id,
      contractorId(i % CONTRACTORS),
      resource,
      createdAt,
      i % 5 === 0 ? MAX_DURATION_MS : HOUR,
    );
    approvals.push({ request_id: id, approver, created_at: new Date(createdAt.getTime() + 10 * MINUTE) });
  }

  const grantRows: Insertable<GrantTable>[] = [];
  const grant = (id: string, user: string, resource: BenchResource): LiveGrant => {
    const requestId = `req_for_${id}`;
    request(requestId, user, resource, at(40 * MINUTE), HOUR * 4);
    grantRows.push({
      id,
      request_id: requestId,
      user_id: user,
      resource_id: resource.id,
      status: 'active',
      starts_at: at(30 * MINUTE),
      ends_at: new Date(now.getTime() + 3 * HOUR),
    });
    return { id, user, resource };
  };
  const databases = RESOURCES.filter((r) => r.database);
  const others = RESOURCES.filter((r) => !r.database);
  const liveGrants = Array.from({ length: SEED.liveGrants }, (_, i) =>
    grant(`grt_live_${i}`, contractorId(NIGHT_SHIFT + i), pick(databases, i)),
  );
  const endingGrants = Array.from({ length: SEED.endingGrants }, (_, i) =>
    grant(`grt_ending_${i}`, contractorId(i % CONTRACTORS), pick(others, i)),
  );
  const approvable = Array.from({ length: SEED.approvable }, (_, i) => {
    const resource = pick(RESOURCES, i);
    const user = contractorId((i * 13) % CONTRACTORS);
    const id = `req_open_${i}`;
    request(id, user, resource, at(5 * MINUTE + ((i * 7_919) % (55 * MINUTE))), HOUR);
    return { id, user, resource };
  });

  const chunks = <T>(rows: T[], size = 1000): T[][] =>
    Array.from({ length: Math.ceil(rows.length / size) }, (_, i) => rows.slice(i * size, (i + 1) * size));
  for (const rows of chunks(requests)) await db.insertInto('access_requests').values(rows).execute();
  for (const rows of chunks(approvals)) await db.insertInto('approvals').values(rows).execute();
  for (const rows of chunks(grantRows)) await db.insertInto('grants').values(rows).execute();
  const openSessions = liveGrants.slice(0, SEED.openSessions).map((g, i) => ({ id: `ses_open_${i}`, grant: g }));
  await db
    .insertInto('gateway_sessions')
    .values(
      openSessions.map((s, i) => ({
        id: s.id,
        grant_id: s.grant.id,
        user_id: s.grant.user,
        resource_id: s.grant.resource.id,
        replica: 'bench',
        started_at: at(10 * MINUTE),
        cancel_pid: 1_000 + i,
        cancel_secret: 2_000 + i,
      })),
    )
    .execute();
  await sql`update watch_state set cursor_seq = (select coalesce(max(seq), 0) from audit_events)`.execute(db);
  return { liveGrants, openSessions, endingGrants, approvable, policySha256: loaded.sha256 };
}
