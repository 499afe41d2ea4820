import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endLostSessions, SESSION_LOST_AFTER_MS } from '../src/access/gateway-reaper.ts';
import type { AuditEvent } from '../src/audit/event.ts';
import { eventsAbout, idsOf } from '../src/audit/receipts/links.ts';
import { checkStory } from '../src/audit/receipts/story.ts';
import { createDb, createPool } from '../src/db/database.ts';
import { SESSION_FENCE_MS, type Gateway, type GatewayOptions } from '../src/gateway/server.ts';
import { LOST_TEXT } from '../src/gateway/session.ts';
import { formatSessionReport } from '../src/cli/session-report.ts';
import { eventSentence } from '../src/slack/blocks/event-sentences.ts';
import { startGatewayWorld, type GatewayWorld } from './support/gateway.ts';
import { TcpProxy } from './support/tcp-proxy.ts';

/**
 * A replica holding gateway sessions is lost: killed, or cut off from Gatehouse's database
 * while its clients and the target database still reach it. Here a replica reaches
 * Gatehouse's database through a relay the test cuts (its clients and the target do not),
 * which is what its death looks like from the record: its rows stop being refreshed. The
 * time the reaper waits is not waited out: the row's `seen_at` is moved back by that much.
 */

async function pgClient(credentials: Record<string, string>, port: number): Promise<pg.Client> {
  const client = new pg.Client({
    host: credentials.host,
    port,
    database: credentials.database,
    user: credentials.user,
    password: credentials.password,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Polls what another connection's work changes (a replica's refresh every 5 s), at most 20 s. */
async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('condition not met within 20 s');
}

describe('gateway sessions of a lost replica', () => {
  let world: GatewayWorld;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    world = await startGatewayWorld();
  });
  afterAll(async () => {
    await world.destroy();
    for (const step of cleanups.reverse()) await step();
  });

  /** Another replica, whose connections to Gatehouse's database go through a relay the test can cut. */
  async function replicaBehindRelay(
    overrides: Partial<GatewayOptions> = {},
  ): Promise<{ gateway: Gateway; relay: TcpProxy }> {
    const direct = new URL(world.t.url);
    const relay = await TcpProxy.start({ host: direct.hostname, port: Number(direct.port) });
    const pool = createPool(relay.urlFor(world.t.url), 4);
    pool.on('error', () => undefined);
    const db = createDb(pool);
    const gateway = await world.replica({ db, databaseUrl: relay.urlFor(world.t.url), ...overrides });
    cleanups.push(async () => {
      await relay.stop();
      await db.destroy();
    });
    return { gateway, relay };
  }

  const row = async (id: string) =>
    world.t.db.selectFrom('gateway_sessions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  /** The row was last refreshed longer ago than the reaper waits: its times move back by that much (not waited out). */
  const unseenForTooLong = (id: string) =>
    world.t.query(
      `update gateway_sessions
          set seen_at = seen_at - make_interval(secs => $2), started_at = started_at - make_interval(secs => $2)
        where id = $1`,
      [id, SESSION_LOST_AFTER_MS / 1000 + 1],
    );

  /** Every event on the chain, as a receipt holds them. */
  async function chain(): Promise<AuditEvent[]> {
    await world.t.audit.flush();
    const { rows } = await world.t.query<{
      seq: string;
      occurred_at: Date;
      actor: string;
      action: string;
      subject: string | null;
      body: Record<string, unknown>;
    }>('select seq, occurred_at, actor, action, subject, body from audit_log order by seq');
    return rows.map((r) => ({
      v: 1,
      seq: Number(r.seq),
      time: r.occurred_at.toISOString(),
      actor: r.actor,
      action: r.action,
      subject: r.subject,
      body: r.body,
    }));
  }

  const endsOf = async (sessionId: string) =>
    (await chain()).filter((e) => e.subject === sessionId && e.action === 'gateway.session_ended');

  it("ends a cut-off replica's session on the record once, and the replica coming back ends it there without a second record", async () => {
    const { gateway: cutOff, relay } = await replicaBehindRelay();
    const { grantId, credentials } = await world.grant('billing-db');
    const client = await pgClient(credentials, cutOff.address().port);
    const told = new Promise<Error>((resolve) => client.on('error', resolve));
    await client.query('select 1');
    await client.query('select id from invoices order by id');
    const [held] = cutOff.liveSessions();
    const id = held!.id;
    // A session on a replica that is fine, on another grant: the reaper leaves it alone.
    const fresh = await world.grant('reports-db');
    const freshClient = await pgClient(fresh.credentials, world.gateway.address().port);
    await freshClient.query('select 1');
    const [freshSession] = world.gateway.liveSessions();

    // The holder refreshes its row with what is on the record so far.
    await waitFor(async () => (await row(id)).statements === 2);
    relay.cut();
    await unseenForTooLong(id);
    const seen = (await row(id)).seen_at;

    // Two replicas sweep at once: one ends it.
    const swept = await Promise.all([endLostSessions(world.service.ctx), endLostSessions(world.service.ctx)]);
    expect(swept[0] + swept[1]).toBe(1);
    expect(await endLostSessions(world.service.ctx)).toBe(0);

    const ended = await endsOf(id);
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({
      actor: 'system',
      body: {
        grant: grantId,
        resource: 'billing-db',
        reason: 'replica_lost',
        statements: 2,
        refused: 0,
        rows: 3,
        in_transaction: null,
        replica: cutOff.replica,
        last_seen_at: seen.toISOString(),
        counts_as_of: seen.toISOString(),
      },
    });
    expect(ended[0]!.body.duration_ms).toBe(seen.getTime() - (await row(id)).started_at.getTime());
    expect(await row(id)).toMatchObject({ end_reason: 'replica_lost' });
    const endedAt = (await row(id)).ended_at;
    expect(endedAt).not.toBeNull();
    // The session on the replica that kept refreshing is open, on the record and in fact.
    expect(await row(freshSession!.id)).toMatchObject({ ended_at: null, end_reason: null });
    expect((await freshClient.query('select 2 as still')).rows).toEqual([{ still: 2 }]);

    // The replica reaches the database again: it finds the session ended and cuts it, recording nothing more.
    relay.restore();
    expect(await cutOff.sessionEnded(id)).toMatchObject({ reason: 'replica_lost', statements: 2 });
    expect((await told).message).toBe(LOST_TEXT);
    expect(await endsOf(id)).toHaveLength(1);
    expect(await row(id)).toMatchObject({ end_reason: 'replica_lost', ended_at: endedAt });

    // The grant's receipt checks pass with this end.
    const events = await chain();
    const about = eventsAbout(grantId, events).map((linked) => linked.event);
    expect(checkStory(idsOf(grantId, about), about)).toEqual([]);
    await freshClient.end();
  });

  it('ends on the record, once, the session of a replica that went away without recording its end', async () => {
    const { gateway: gone, relay } = await replicaBehindRelay();
    const { grantId, credentials } = await world.grant('billing-db');
    const client = await pgClient(credentials, gone.address().port);
    await client.query('select 1');
    const [held] = gone.liveSessions();
    const id = held!.id;
    await waitFor(async () => (await row(id)).statements === 1);
    // Cut off, then stopped: the client is let go, but the end cannot reach the record.
    relay.cut();
    await gone.stop();
    expect(await gone.sessionEnded(id)).toMatchObject({ reason: 'gateway_stopped' });
    expect(await row(id)).toMatchObject({ ended_at: null });
    expect(await endsOf(id)).toEqual([]);
    // Not yet long enough: nothing happens.
    expect(await endLostSessions(world.service.ctx)).toBe(0);

    await unseenForTooLong(id);
    expect(await endLostSessions(world.service.ctx)).toBe(1);
    const ended = await endsOf(id);
    expect(ended.map((e) => [e.body.reason, e.body.statements, e.body.replica])).toEqual([
      ['replica_lost', 1, gone.replica],
    ]);
    const about = eventsAbout(grantId, await chain()).map((linked) => linked.event);
    expect(checkStory(idsOf(grantId, about), about)).toEqual([]);
    // The audit channel's summary of it is queued with its end.
    const { rows } = await world.t.query<{ n: string }>(
      `select count(*) as n from outbox where kind = 'notify_gateway_session_ended' and payload ->> 'sessionId' = $1`,
      [id],
    );
    expect(Number(rows[0]!.n)).toBe(1);
  });

  it('stops recording for a replica cut off too long: it ends its sessions, and each end is recorded once, by it or the sweep', async () => {
    let ahead = 0;
    const { gateway: cutOff, relay } = await replicaBehindRelay({ now: () => Date.now() + ahead });
    const billing = await world.grant('billing-db');
    const reports = await world.grant('reports-db');
    const first = await pgClient(billing.credentials, cutOff.address().port);
    const second = await pgClient(reports.credentials, cutOff.address().port);
    const toldSecond = new Promise<Error>((resolve) => second.on('error', resolve));
    await first.query('select 1');
    await second.query('select 1');
    const idOf = (grantId: string) => cutOff.liveSessions().find((session) => session.grant.id === grantId)!.id;
    const [byHolder, bySweep] = [idOf(billing.grantId), idOf(reports.grantId)];

    relay.cut();
    ahead = SESSION_FENCE_MS + 1;
    // A statement now is not recorded, nor run: the session ends instead.
    await expect(first.query('select 2')).rejects.toThrow(LOST_TEXT);
    // The other ends at the replica's next re-check, idle as it is.
    expect((await toldSecond).message).toBe(LOST_TEXT);
    expect(await endsOf(byHolder)).toEqual([]);
    // The sweep gets to one of them while the replica is still cut off.
    await unseenForTooLong(bySweep);
    expect(await endLostSessions(world.service.ctx)).toBe(1);

    relay.restore();
    expect(await cutOff.sessionEnded(byHolder)).toMatchObject({ reason: 'replica_lost', statements: 1 });
    expect(await cutOff.sessionEnded(bySweep)).toMatchObject({ reason: 'replica_lost' });
    // Each has one end: the holder's own, counted exactly, and the sweep's, with the replica it lost.
    await waitFor(async () => (await endsOf(byHolder)).length > 0);
    const holders = await endsOf(byHolder);
    expect(holders.map((e) => e.body)).toEqual([
      expect.objectContaining({ reason: 'replica_lost', statements: 1, refused: 0, in_transaction: false }),
    ]);
    expect(holders[0]!.body).not.toHaveProperty('replica');
    expect((await endsOf(bySweep)).map((e) => [e.body.reason, e.body.replica])).toEqual([
      ['replica_lost', cutOff.replica],
    ]);
    const statements = (await chain()).filter((e) => e.subject === byHolder && e.action === 'gateway.statement');
    expect(statements.map((e) => e.body.sql)).toEqual(['select 1']);
    // Nothing is left for the sweep.
    await unseenForTooLong(byHolder);
    expect(await endLostSessions(world.service.ctx)).toBe(0);
    for (const grantId of [billing.grantId, reports.grantId]) {
      const about = eventsAbout(grantId, await chain()).map((linked) => linked.event);
      expect(checkStory(idsOf(grantId, about), about)).toEqual([]);
    }
  });

  it("checks a lost replica's counts on a receipt as at most the chain's, any other end's exactly", () => {
    const event = (seq: number, action: string, body: Record<string, unknown>): AuditEvent => ({
      v: 1,
      seq,
      time: '2026-12-04T10:00:00.000000Z',
      actor: 'system',
      action,
      subject: 'ses_1',
      body: { grant: 'grt_1', ...body },
    });
    const session = [
      event(1, 'gateway.session_started', {}),
      event(2, 'gateway.statement', { n: 1 }),
      event(3, 'gateway.statement_refused', { n: 2 }),
      event(4, 'gateway.statement', { n: 3 }),
    ];
    const problemsWith = (end: Record<string, unknown>) =>
      checkStory({ grant: 'grt_1', request: null, extensions: new Set() }, [
        ...session,
        event(5, 'gateway.session_ended', end),
      ])
        .map((p) => p.message)
        .filter((m) => m.includes('ses_1'));
    expect(problemsWith({ reason: 'replica_lost', statements: 2, refused: 1 })).toEqual([]);
    expect(problemsWith({ reason: 'replica_lost', statements: 0, refused: 0 })).toEqual([]);
    expect(problemsWith({ reason: 'replica_lost', statements: 4, refused: 1 })).toHaveLength(1);
    expect(problemsWith({ reason: 'replica_lost', statements: 'two', refused: 1 })).toHaveLength(1);
    expect(problemsWith({ reason: 'client_closed', statements: 3, refused: 1 })).toEqual([]);
    expect(problemsWith({ reason: 'client_closed', statements: 2, refused: 1 })).toHaveLength(1);
  });

  it('says in the audit channel that the replica was lost, and that the counts are as of when it was last seen', () => {
    const sentence = eventSentence(
      {
        seq: 9,
        occurredAt: new Date('2026-12-04T10:00:00Z'),
        actor: 'system',
        action: 'gateway.session_ended',
        subject: 'ses_1',
        body: { resource: 'billing-db', reason: 'replica_lost', statements: 2, refused: 0, duration_ms: 300_000 },
        hash: 'f'.repeat(64),
      },
      (resourceId) => (resourceId === 'billing-db' ? 'Billing database' : undefined),
    );
    expect(sentence).toBe(
      'A database session on *Billing database* ended: the gateway replica holding it was lost (2 statements, 5 min long, until its replica was last seen).',
    );
  });

  it('says in `gatehouse audit session` which replica was lost, when it was last seen, and that its counts are as of then', () => {
    const ended: AuditEvent = {
      v: 1,
      seq: 12,
      time: '2026-12-04T10:01:30.000000Z',
      actor: 'system',
      action: 'gateway.session_ended',
      subject: 'ses_1',
      body: {
        grant: 'grt_1',
        resource: 'billing-db',
        reason: 'replica_lost',
        statements: 0,
        refused: 0,
        rows: 0,
        duration_ms: 1000,
        in_transaction: null,
        replica: 'gw-2:4711:ab12cd',
        last_seen_at: '2026-12-04T10:00:00.000Z',
        counts_as_of: '2026-12-04T10:00:00.000Z',
      },
    };
    expect(formatSessionReport('ses_1', [{ canonical: JSON.stringify(ended), event: ended }])).toContain(
      '  ended:     2026-12-04T10:01:30.000000Z (seq 12): the gateway replica holding it was lost (killed, or cut off from Gatehouse); the lost-session sweep ended it (gw-2:4711:ab12cd, last seen 2026-12-04T10:00:00.000Z; its counts are as of then)',
    );
  });
});
