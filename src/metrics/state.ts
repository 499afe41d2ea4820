/**
 * What the whole deployment is doing, read from the database at each scrape: the same on
 * every replica (so a dashboard may take any one's, or `max` across them), and true even
 * when the work is done by another replica. One query, on indexed columns.
 */
import client from 'prom-client';
import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import type { Database } from '../db/schema.ts';

export const stateRegistry = new client.Registry();

const gauge = (name: string, help: string, labelNames: string[] = []) =>
  new client.Gauge({ name: `gatehouse_${name}`, help, labelNames, registers: [stateRegistry] });

const outboxDepth = gauge('outbox_depth', 'Notifications not yet delivered (Slack messages, card updates, posts)');
const outboxOldest = gauge(
  'outbox_oldest_age_seconds',
  'Age of the oldest notification not yet delivered; 0 when none',
);
const chainHead = gauge('audit_chain_head_seq', 'Seq of the newest chained audit event');
const auditQueue = gauge('audit_queue_depth', 'Audit events committed and waiting to be chained');
const feedLag = gauge(
  'audit_feed_lag_events',
  'Chained events not yet posted to the audit channel (head seq - posted seq)',
);
const watcherLag = gauge('watcher_lag_events', 'Chained events the alert detectors have not looked at yet');
const expiryLag = gauge(
  'expiry_lag_seconds',
  'How long past its end the most overdue live grant is; 0 when every grant that came due has been revoked',
);
const checkpointAge = gauge('checkpoint_age_seconds', 'Age of the newest signed checkpoint; absent when there is none');
const grants = gauge('grants', 'Grants that are not over, by status', ['status']);
const pending = gauge('requests_pending', 'Requests waiting for a decision');
const sessions = gauge('gateway_sessions_live', 'Database sessions open through the gateway, on every replica');
const alertsOpen = gauge('alerts_unacknowledged', 'Alerts raised and not acknowledged yet');
const siemLag = gauge(
  'siem_lag_events',
  'Chained events a SIEM destination has not accepted yet (head seq - delivered seq), by destination',
  ['destination'],
);

interface StateRow {
  outbox_depth: string;
  outbox_oldest: Date | null;
  head: string | null;
  queue: string;
  posted: string | null;
  watched: string | null;
  overdue_since: Date | null;
  checkpoint_at: Date | null;
  pending: string;
  sessions: string;
  alerts: string;
  now: Date;
}

const LIVE = ['provisioning', 'active', 'provision_failed', 'revoking', 'revoke_failed'] as const;

/** How long a scrape may keep the database busy before it gives up (the gauges are then left out). */
const STATE_TIMEOUT_MS = 2000;

/** Reads the state and sets the gauges; call before gathering stateRegistry. */
export async function readState(db: Db): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`set local statement_timeout = ${sql.lit(STATE_TIMEOUT_MS)}`.execute(trx);
    await readStateIn(trx);
  });
}

async function readStateIn(db: Db | Transaction<Database>): Promise<void> {
  const { rows } = await sql<StateRow>`
    select
      (select count(*) from outbox where done_at is null) as outbox_depth,
      (select min(created_at) from outbox where done_at is null) as outbox_oldest,
      (select max(seq) from audit_events) as head,
      (select count(*) from audit_queue) as queue,
      (select posted_seq from audit_channel_state limit 1) as posted,
      (select cursor_seq from watch_state limit 1) as watched,
      (select min(ends_at) from grants where status <> 'ended' and ends_at <= now()) as overdue_since,
      (select max(time) from audit_checkpoints) as checkpoint_at,
      (select count(*) from access_requests where status = 'pending') as pending,
      (select count(*) from gateway_sessions where ended_at is null) as sessions,
      (select count(*) from alerts where acknowledged_at is null) as alerts,
      now() as now`.execute(db);
  const row = rows[0]!;
  const now = row.now.getTime();
  const head = Number(row.head ?? 0);
  outboxDepth.set(Number(row.outbox_depth));
  outboxOldest.set(row.outbox_oldest ? Math.max(0, (now - row.outbox_oldest.getTime()) / 1000) : 0);
  chainHead.set(head);
  auditQueue.set(Number(row.queue));
  feedLag.set(row.posted === null ? 0 : Math.max(0, head - Number(row.posted)));
  watcherLag.set(row.watched === null ? 0 : Math.max(0, head - Number(row.watched)));
  expiryLag.set(row.overdue_since ? Math.max(0, (now - row.overdue_since.getTime()) / 1000) : 0);
  if (row.checkpoint_at) checkpointAge.set(Math.max(0, (now - row.checkpoint_at.getTime()) / 1000));
  else checkpointAge.reset();
  pending.set(Number(row.pending));
  sessions.set(Number(row.sessions));
  alertsOpen.set(Number(row.alerts));
  const counts = await db
    .selectFrom('grants')
    .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
    .where('status', 'in', LIVE)
    .groupBy('status')
    .execute();
  grants.reset();
  for (const status of LIVE) grants.set({ status }, Number(counts.find((c) => c.status === status)?.n ?? 0));
  const { rows: cursors } = await sql<{ destination: string; delivered_seq: string }>`
    select destination, delivered_seq from siem_cursor`.execute(db);
  siemLag.reset();
  for (const c of cursors) siemLag.set({ destination: c.destination }, Math.max(0, head - Number(c.delivered_seq)));
}
