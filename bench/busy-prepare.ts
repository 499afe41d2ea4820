/**
 * Each busy phase of bench/busy.ts, prepared through the running app, and its grants' expiry
 * lag read back after it.
 */
import { sql } from 'kysely';
import { contractorId, OWNERS, type BenchGatehouse } from './bench-gatehouse.ts';
import type { BusyClick } from './busy-load-child.ts';
import type { FakeSlackProcess } from './fake-slack-process.ts';
import { summarize, type Summary } from './percentiles.ts';

/** Owner of the expiring grants' resource: not one of the owners who click. */
export const EXPIRY_OWNER = 'U0OWNER03';
/** The first grant falls due this long into the window; the rest over the spread after it. */
export const EXPIRY_OFFSET_SECONDS = 10;
const CREATE_CONCURRENCY = 16;
/** Sent at the same rate before each counted window, not counted. */
export const BUSY_WARMUP_SECONDS = 3;

/** What preparing a phase needs of the settings. */
export interface PrepareSettings {
  grants: number;
  approvals: number;
  /** The grants fall due over this many seconds of the window. */
  expirySpreadSeconds: number;
}

export interface ExpiryFigures {
  lag: Summary;
  /** From `ends_at` to the `grant.ending` event. */
  claimLag: Summary;
  ended: number;
  grants: number;
  /** Grants not ended a minute after the last was due. */
  notEnded: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export interface Prepared {
  grantIds: string[];
  queue: BusyClick[];
  prepareSeconds: number;
  /** Notifications of the preparation not yet delivered when the lead ran out. */
  outboxLeft: number;
}

/**
 * Before a busy phase whose window starts at `windowStart` (Date.now() time): `grants`
 * grants through the app's AccessService, each lasting until its planned end in the
 * window, and `approvals` pending requests whose cards the owners will click. Then the
 * outbox is left to deliver their notifications, and the audit feed is moved past the
 * preparation's events (as if posted long ago), so the phase's feed lag is its own.
 */
export async function prepare(
  app: BenchGatehouse,
  slack: FakeSlackProcess,
  settings: PrepareSettings,
  windowStart: number,
  firstIndex: number,
  phase: string,
): Promise<Prepared> {
  const started = Date.now();
  const { access, database } = app.gatehouse;
  const db = database.db;
  const grantIds: string[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < settings.grants; i = next++) {
      const endsAt =
        windowStart + (EXPIRY_OFFSET_SECONDS + (i * settings.expirySpreadSeconds) / settings.grants) * 1000;
      const requested = await access.request({
        requester: contractorId(firstIndex + i),
        resourceId: 'bench-expiry',
        duration: `${Math.round((endsAt - Date.now()) / 1000)}s`,
        reason: `busy day expiry ${i}`,
      });
      if (!requested.ok) throw new Error(`expiry request ${i} refused: ${requested.refusal.kind}`);
      const approved = await access.approve(requested.request.id, EXPIRY_OWNER);
      if (!approved.ok || approved.grant?.status !== 'active')
        throw new Error(`expiry grant ${i} not active after approval: ${JSON.stringify(approved)}`);
      grantIds.push(approved.grant.id);
    }
  };
  await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, worker));
  const requestIds: string[] = [];
  for (let i = 0; i < settings.approvals; i++) {
    const requested = await access.request({
      requester: contractorId(firstIndex + settings.grants + i),
      resourceId: 'queue-db',
      duration: '1h',
      reason: `busy day queue ${i}`,
    });
    if (!requested.ok) throw new Error(`queue request ${i} refused: ${requested.refusal.kind}`);
    requestIds.push(requested.request.id);
  }
  // The notifications of all that (cards, DMs, homes): delivered before the load, within the lead.
  let outboxLeft = 0;
  for (;;) {
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from outbox where done_at is null and next_attempt_at <= now() + interval '2 seconds'`.execute(
      db,
    );
    outboxLeft = rows[0]?.n ?? 0;
    if (outboxLeft === 0 || Date.now() >= windowStart - 15_000) break;
    await sleep(250);
  }
  const queue: BusyClick[] = [];
  const responseIds: { id: string; userId: string }[] = [];
  for (const [i, requestId] of requestIds.entries()) {
    const owner = OWNERS[i % OWNERS.length]!;
    const card = await db
      .selectFrom('approval_cards')
      .select(['channel', 'ts'])
      .where('request_id', '=', requestId)
      .where('owner', '=', owner)
      .executeTakeFirst();
    const id = `${phase}-approve-${i}`;
    responseIds.push({ id, userId: owner });
    queue.push({
      requestId,
      owner,
      channel: card?.channel ?? `D${owner}`,
      ts: card?.ts ?? `${Math.floor(Date.now() / 1000)}.000100`,
      responseUrl: slack.responseUrl(id),
    });
  }
  await slack.registerResponseUrls(responseIds);
  await sql`update audit_channel_state set posted_seq = greatest(posted_seq, (select max(seq) from audit_events))`.execute(
    db,
  );
  const prepareSeconds = (Date.now() - started) / 1000;
  if (Date.now() > windowStart - BUSY_WARMUP_SECONDS * 1000 - 3000)
    throw new Error(
      `preparing the ${phase} phase took ${prepareSeconds.toFixed(0)} s, past its start: raise BENCH_BUSY_LEAD_SECONDS`,
    );
  return { grantIds, queue, prepareSeconds, outboxLeft };
}

/** Expiry lag of the phase's grants, once each has ended (or a minute after the last was due). */
export async function expiryOf(app: BenchGatehouse, grantIds: string[], filled: number): Promise<ExpiryFigures> {
  const db = app.gatehouse.database.db;
  const deadline = Date.now() + 60_000;
  const read = () =>
    sql<{ status: string; lag: number | null }>`
      select status, extract(epoch from ended_at - ends_at) * 1000 as lag
      from grants where id = any(${grantIds})`.execute(db);
  let rows = (await read()).rows;
  while (rows.some((r) => r.status !== 'ended') && Date.now() < deadline) {
    await sleep(250);
    rows = (await read()).rows;
  }
  const lags = rows.filter((r) => r.status === 'ended' && r.lag !== null).map((r) => Number(r.lag));
  // From the end to the claim (the `grant.ending` event): the timer's part; the rest is the revoke and its commit.
  const claims = await sql<{ claim: number }>`
    select extract(epoch from e.occurred_at - g.ends_at) * 1000 as claim
    from grants g
    join (select subject, occurred_at from audit_log where seq > ${filled} and action = 'grant.ending') e on e.subject = g.id
    where g.id = any(${grantIds})`.execute(db);
  return {
    lag: summarize(lags),
    claimLag: summarize(claims.rows.map((r) => Number(r.claim))),
    ended: lags.length,
    grants: grantIds.length,
    notEnded: grantIds.length - lags.length,
  };
}
