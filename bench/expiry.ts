import { sql } from 'kysely';
import { contractorId, contractorsGroup, OWNERS, startBenchGatehouse } from './bench-gatehouse.ts';
import type { BenchServer } from './cluster.ts';
import { FakeSlackProcess, type SlackCounts } from './fake-slack-process.ts';
import { waitForQuiet } from './machine-cpu.ts';
import { summarize, type Summary } from './percentiles.ts';

/** Added to the spread to make each grant's duration: room for creation to finish before the first is due. */
const LEAD_SECONDS = 30;
/** Requests and approvals in flight at once, at most (only reached when the spread is short). */
const CREATE_CONCURRENCY = 16;

export interface ExpiryResults {
  grants: number;
  /** Every grant lasts this long; they are created over `spreadSeconds`. */
  durationSeconds: number;
  spreadSeconds: number;
  /** Seconds the requests and approvals took in all. */
  createSeconds: number;
  /** Seconds from the last grant created to the first grant due (negative: they overlapped). */
  headroomSeconds: number;
  /** Seconds from the first grant due to the last one due. */
  endsSpanSeconds: number;
  /** `ended_at - ends_at`, ms. */
  lag: Summary;
  /** From `ends_at` to the sweep's `grant.ending` event (its claim), ms. */
  claimLag: Summary;
  /** From the `grant.ending` event to `ended_at` (revoke and commit), ms. */
  revokeTime: Summary;
  statuses: Record<string, number>;
  endReasons: Record<string, number>;
  outbox: { total: number; done: number };
  audit: { head: number; posted: number };
  slack: SlackCounts;
  problems: Record<string, number>;
}

const POLICY = (contractors: number) => `
audit_channel: C0AUDIT01
groups:
  ${contractorsGroup(contractors)}
resources:
  - id: bench-expiry
    name: Expiry benchmark
    owners: [${OWNERS[0]}]
    requesters: [contractors]
    default_duration: 1m
    max_duration: 1h
    approvals_required: 1
    provisioner: { kind: none }
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Expiry lag: `grants` grants, each filed and approved through the running app's own
 * AccessService (so each is provisioned and active, with its audit events and
 * notifications), created at an even pace over `spreadSeconds` (0: as fast as they can
 * be). All last the same time, so they fall due over the span they were created in. The
 * app's own sweeps (default settings: every second) end them; nothing else touches them.
 */
export async function benchExpiry(server: BenchServer, grants: number, spreadSeconds: number): Promise<ExpiryResults> {
  const durationSeconds = spreadSeconds + LEAD_SECONDS;
  const slack = await FakeSlackProcess.start();
  const name = 'gatehouse_bench_expiry';
  try {
    const databaseUrl = await server.freshDatabase(name);
    const app = await startBenchGatehouse({ databaseUrl, policy: POLICY(grants), slack });
    const { access, database, audit } = app.gatehouse;
    const db = database.db;
    let problems: Record<string, number> = {};
    let measured: Omit<ExpiryResults, 'slack' | 'problems'>;
    try {
      await waitForQuiet();
      const started = performance.now();
      let inFlight = 0;
      await Promise.all(
        Array.from({ length: grants }, async (_, i) => {
          await sleep((i * spreadSeconds * 1000) / grants);
          while (inFlight >= CREATE_CONCURRENCY) await sleep(1);
          inFlight += 1;
          const requested = await access.request({ requester: contractorId(i), resourceId: 'bench-expiry', duration: `${durationSeconds}s`, reason: `expiry benchmark ${i}` });
          if (!requested.ok) throw new Error(`request ${i} refused: ${requested.refusal.kind}`);
          const approved = await access.approve(requested.request.id, OWNERS[0]);
          if (!approved.ok || approved.grant?.status !== 'active') throw new Error(`grant ${i} not active after approval: ${JSON.stringify(approved)}`);
          inFlight -= 1;
        }),
      );
      const createSeconds = (performance.now() - started) / 1000;
      const createdAt = Date.now();
      const bounds = await sql<{ first: Date; last: Date }>`select min(ends_at) as first, max(ends_at) as last from grants`.execute(db);
      const first = bounds.rows[0]!.first;
      const last = bounds.rows[0]!.last;
      console.error(`  ${grants} grants active after ${createSeconds.toFixed(1)} s; due from ${first.toISOString()} to ${last.toISOString()}`);

      // Wait for every grant to end, or until a minute after the last was due.
      const deadline = last.getTime() + 60_000;
      const ended = async () => Number((await sql<{ n: string }>`select count(*) as n from grants where status = 'ended'`.execute(db)).rows[0]?.n);
      while ((await ended()) < grants && Date.now() < deadline) await sleep(250);
      await audit.flush();

      const lags = await sql<{ lag: number; claim: number | null; revoke: number | null }>`
        select extract(epoch from g.ended_at - g.ends_at) * 1000 as lag,
               extract(epoch from e.occurred_at - g.ends_at) * 1000 as claim,
               extract(epoch from g.ended_at - e.occurred_at) * 1000 as revoke
        from grants g
        left join audit_log e on e.subject = g.id and e.action = 'grant.ending'
        where g.status = 'ended'`.execute(db);
      const counts = async (column: 'status' | 'end_reason') =>
        Object.fromEntries(
          (await sql<{ key: string | null; n: string }>`select ${sql.ref(column)} as key, count(*) as n from grants group by 1`.execute(db)).rows.map((r) => [r.key ?? 'none', Number(r.n)]),
        );
      const outbox = await sql<{ total: string; done: string }>`select count(*) as total, count(done_at) as done from outbox`.execute(db);
      const head = await sql<{ head: string | null; posted: string }>`select (select max(seq) from audit_events) as head, (select posted_seq from audit_channel_state) as posted`.execute(db);
      const numbers = (pick: (row: { lag: number; claim: number | null; revoke: number | null }) => number | null) =>
        lags.rows.map(pick).filter((v): v is number => v !== null).map(Number);
      measured = {
        grants,
        durationSeconds,
        spreadSeconds,
        createSeconds,
        headroomSeconds: (first.getTime() - createdAt) / 1000,
        endsSpanSeconds: (last.getTime() - first.getTime()) / 1000,
        lag: summarize(numbers((r) => r.lag)),
        claimLag: summarize(numbers((r) => r.claim)),
        revokeTime: summarize(numbers((r) => r.revoke)),
        statuses: await counts('status'),
        endReasons: await counts('end_reason'),
        outbox: { total: Number(outbox.rows[0]?.total), done: Number(outbox.rows[0]?.done) },
        audit: { head: Number(head.rows[0]?.head ?? 0), posted: Number(head.rows[0]?.posted) },
      };
    } finally {
      problems = await app.stop();
    }
    await server.dropDatabase(name);
    return { ...measured, slack: await slack.counts(), problems };
  } finally {
    await slack.stop();
  }
}
