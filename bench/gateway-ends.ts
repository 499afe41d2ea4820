/**
 * Grant end → session closed, through the gateway: many sessions on several grants, some
 * inside an open transaction; one UPDATE moves every grant's end to a moment just ahead
 * (the trigger notifies the gateway, which re-arms its timers); each client's clock
 * stops when it hears its connection end.
 */
import pg from 'pg';
import { counts } from './format.ts';
import type { GatewayWorld } from './gateway-world.ts';
import { summarize, type Summary } from './percentiles.ts';

/** How far ahead the grants' new end is set: room for the notifications to re-arm the timers. */
const LEAD_MS = 2_000;
/** After the end, how long the bench waits for every client to hear it. */
const WAIT_MS = 10_000;
const OPEN_AT_ONCE = 10;

export interface EndsResults {
  sessions: number;
  grants: number;
  /** Sessions left inside a transaction (BEGIN; SELECT) when the end came. */
  inTransaction: number;
  /** From the new ends_at to the client's 'error' or 'end' event, ms. */
  lag: Summary;
  /** Clients that heard nothing within WAIT_MS. */
  notHeard: number;
  /** What the clients heard first (the FATAL's text, or `end`), counted. */
  heard: Record<string, number>;
  /** The gateway's summaries: end reasons, and how many it saw inside a transaction. */
  reasons: Record<string, number>;
  endedInTransaction: number;
  /** Sessions of the grants' login roles still open on the target afterwards. */
  upstreamLeft: number;
}

const now = () => performance.timeOrigin + performance.now();

export async function benchEnds(world: GatewayWorld, sessions: number, grants: number): Promise<EndsResults> {
  const logins = await Promise.all(Array.from({ length: grants }, (_, g) => world.grant(1 + g)));
  const clients: { client: pg.Client; heardAt: number | null; heard: string | null }[] = [];
  let inTransaction = 0;
  for (let first = 0; first < sessions; first += OPEN_AT_ONCE) {
    await Promise.all(
      Array.from({ length: Math.min(OPEN_AT_ONCE, sessions - first) }, async (_, k) => {
        const i = first + k;
        const { login } = logins[i % grants]!;
        const client = new pg.Client({ ...login, application_name: `bench-ends-${i}` });
        const entry = { client, heardAt: null as number | null, heard: null as string | null };
        const hear = (what: string) => {
          if (entry.heardAt !== null) return;
          entry.heardAt = now();
          entry.heard = what;
        };
        client.on('error', (err) => hear(err.message));
        client.on('end', () => hear('end'));
        await client.connect();
        await client.query('select 1');
        if (i % 3 === 0) {
          await client.query('begin');
          await client.query('select abalance from pgbench_accounts where aid = 1');
          inTransaction += 1;
        }
        clients.push(entry);
      }),
    );
  }
  const live = world.gateway.liveSessions().map((session) => session.id);
  if (live.length !== sessions) throw new Error(`expected ${sessions} live gateway sessions, found ${live.length}`);

  const endsAt = new Date(Math.ceil(Date.now() + LEAD_MS));
  const grantIds = logins.map((l) => l.grantId);
  await world.db.updateTable('grants').set({ ends_at: endsAt }).where('id', 'in', grantIds).execute();
  const deadline = endsAt.getTime() + WAIT_MS;
  while (clients.some((c) => c.heardAt === null) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));

  const summaries = await Promise.all(live.map((id) => world.gateway.sessionEnded(id)));
  const reasons: Record<string, number> = {};
  for (const summary of summaries) reasons[summary.reason] = (reasons[summary.reason] ?? 0) + 1;
  const heard: Record<string, number> = {};
  for (const c of clients) if (c.heard) heard[c.heard] = (heard[c.heard] ?? 0) + 1;
  for (const c of clients) await c.client.end().catch(() => undefined);
  const left = new pg.Client({ connectionString: world.directUrl });
  await left.connect();
  const { rows } = await left.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity where usename like 'gatehouse\\_grt\\_%'`,
  );
  await left.end();
  return {
    sessions,
    grants,
    inTransaction,
    lag: summarize(clients.filter((c) => c.heardAt !== null).map((c) => c.heardAt! - endsAt.getTime())),
    notHeard: clients.filter((c) => c.heardAt === null).length,
    heard,
    reasons,
    endedInTransaction: summaries.filter((s) => s.inTransaction).length,
    upstreamLeft: rows[0]!.n,
  };
}

export function printEnds(r: EndsResults): void {
  console.log(
    `${r.sessions} sessions through the gateway on ${r.grants} grants, ${r.inTransaction} inside an open transaction; one UPDATE set every grant's ends_at ${LEAD_MS / 1000} s ahead. ms from ends_at to the client's 'error' or 'end':\n`,
  );
  console.log('| sessions | p50 ms | p95 ms | **p99 ms** | max ms | not heard within 10 s |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
  const f = (n: number) => n.toFixed(1);
  console.log(
    `| ${r.lag.count} | ${f(r.lag.p50)} | ${f(r.lag.p95)} | **${f(r.lag.p99)}** | ${f(r.lag.max)} | ${r.notHeard} |`,
  );
  console.log(
    `\nTarget p99 ≤ 1,000 ms: ${r.notHeard === 0 && r.lag.p99 <= 1000 ? 'met' : 'NOT met'} (${f(r.lag.p99)} ms).`,
  );
  console.log(
    `Clients heard: ${counts(r.heard)}. The gateway's end reasons: ${counts(r.reasons)}; ${r.endedInTransaction} ended inside a transaction. Grant sessions left on the target: ${r.upstreamLeft}.\n`,
  );
}
