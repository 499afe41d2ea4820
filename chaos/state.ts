/** What the chaos run reads from Gatehouse's database: whether it has settled, and the facts the invariants need. */
import pg from 'pg';
import type { CommandFacts, GrantFacts } from './checks.ts';

export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface Backlog {
  /** Grants not ended yet. */
  liveGrants: number;
  /** Of those, whose end is more than 2 s past. */
  overdueGrants: number;
  /** Events waiting for the sequencer. */
  queued: number;
  /** Outbox rows not done (Slack messages, checkpoint posts …). */
  outbox: number;
  headSeq: number;
  postedSeq: number;
  /** Gateway sessions open in their rows: a killed replica's are ended by the lost-session sweep 90 s after it was last seen. */
  openSessions: number;
}

export async function backlog(client: pg.Client): Promise<Backlog> {
  const { rows } = await client.query<Record<keyof Backlog, string>>(`
    select (select count(*) from grants where status <> 'ended') as "liveGrants",
           (select count(*) from grants where status <> 'ended' and ends_at < now() - interval '2 seconds') as "overdueGrants",
           (select count(*) from audit_queue) as queued,
           (select count(*) from outbox where done_at is null) as outbox,
           (select coalesce(max(seq), 0) from audit_events) as "headSeq",
           (select coalesce(max(posted_seq), 0) from audit_channel_state) as "postedSeq",
           (select count(*) from gateway_sessions where ended_at is null) as "openSessions"`);
  const row = rows[0]!;
  return {
    liveGrants: Number(row.liveGrants),
    overdueGrants: Number(row.overdueGrants),
    queued: Number(row.queued),
    outbox: Number(row.outbox),
    headSeq: Number(row.headSeq),
    postedSeq: Number(row.postedSeq),
    openSessions: Number(row.openSessions),
  };
}

export function settled(b: Backlog): boolean {
  return b.liveGrants === 0 && b.queued === 0 && b.outbox === 0 && b.postedSeq >= b.headSeq && b.openSessions === 0;
}

export async function chainCount(client: pg.Client): Promise<{ head: number; count: number }> {
  const { rows } = await client.query<{ head: string; count: string }>(
    'select coalesce(max(seq), 0) as head, count(*) as count from audit_events',
  );
  return { head: Number(rows[0]!.head), count: Number(rows[0]!.count) };
}

export async function grantFacts(client: pg.Client): Promise<GrantFacts> {
  const { rows: due } = await client.query<{ id: string; status: string }>(
    'select id, status from grants where ends_at <= now()',
  );
  const { rows: revoked } = await client.query<{ id: string; count: string }>(`
    select g.id, count(e.seq) as count
      from grants g
      left join audit_log e on e.action = 'grant.revoked' and e.subject = g.id
     where g.status = 'ended'
     group by g.id`);
  const { rows: lateness } = await client.query<{ ms: string }>(`
    select extract(epoch from (ended_at - ends_at)) * 1000 as ms
      from grants where status = 'ended' and end_reason = 'expired'`);
  return {
    due: due.length,
    dueNotEnded: due.filter((g) => g.status !== 'ended').map((g) => g.id),
    revokedNotOnce: revoked.filter((g) => Number(g.count) !== 1).map((g) => ({ id: g.id, count: Number(g.count) })),
    ended: revoked.length,
    lateness: lateness.map((r) => Number(r.ms)),
  };
}

/** The commands' tokens found on the record: in a request's reason (`chaos <token> …`) or a refusal's resource. */
export async function commandFacts(client: pg.Client): Promise<CommandFacts> {
  const recorded = new Set<string>();
  const { rows: requests } = await client.query<{ reason: string; created: boolean }>(`
    select r.reason, exists (select 1 from audit_log e where e.action = 'request.created' and e.subject = r.id) as created
      from access_requests r`);
  for (const r of requests) {
    const token = /^chaos (t\d+)\b/.exec(r.reason)?.[1];
    if (token && r.created) recorded.add(token);
  }
  const { rows: refused } = await client.query<{ resource: string }>(
    `select body->>'resource' as resource from audit_log where action = 'request.refused'`,
  );
  for (const r of refused) {
    const token = /^zz-nosuch-(t\d+)$/.exec(r.resource ?? '')?.[1];
    if (token) recorded.add(token);
  }
  return { recorded };
}

/** Grant and request counts by status, for the report. */
export async function tallies(client: pg.Client): Promise<Record<string, number>> {
  const { rows } = await client.query<{ what: string; n: string }>(`
    select 'grants ' || coalesce(end_reason, status) as what, count(*) as n from grants group by 1
    union all select 'requests ' || status, count(*) from access_requests group by 1
    union all select 'extensions approved', count(*) from audit_log where action = 'grant.extended'
    union all select 'events', count(*) from audit_events
    order by 1`);
  return Object.fromEntries(rows.map((r) => [r.what, Number(r.n)]));
}

export interface GatewayFacts {
  statements: number;
  sessionsStarted: number;
  /** Sessions started on the record with no gateway.session_ended. */
  sessionsNotEnded: string[];
  /** Sessions with more than one gateway.session_ended (their holder and the lost-session sweep both recorded one). */
  sessionsEndedTwice: string[];
}

export async function gatewayFacts(client: pg.Client): Promise<GatewayFacts> {
  const { rows } = await client.query<{ action: string; subject: string | null }>(
    `select action, subject from audit_log where action in ('gateway.statement', 'gateway.session_started', 'gateway.session_ended')`,
  );
  const started = new Set(rows.filter((r) => r.action === 'gateway.session_started').map((r) => r.subject ?? ''));
  const endings = rows.filter((r) => r.action === 'gateway.session_ended').map((r) => r.subject ?? '');
  const ended = new Set(endings);
  const twice = [...ended].filter((id) => endings.indexOf(id) !== endings.lastIndexOf(id));
  const open = [...started].filter((id) => !ended.has(id));
  // Where each session left open was held, and whether that replica process still runs (its last sight of it).
  const { rows: where } = await client.query<{ id: string; replica: string; seen_at: Date; ended_at: Date | null }>(
    'select id, replica, seen_at, ended_at from gateway_sessions where id = any($1)',
    [open],
  );
  return {
    statements: rows.filter((r) => r.action === 'gateway.statement').length,
    sessionsStarted: started.size,
    sessionsEndedTwice: twice,
    sessionsNotEnded: open.map((id) => {
      const row = where.find((w) => w.id === id);
      return row
        ? `${id} on ${row.replica}, last seen ${row.seen_at.toISOString().slice(11, 19)}, ${row.ended_at ? 'ended in its row' : 'open in its row'}`
        : id;
    }),
  };
}
