/**
 * The watcher over a real chain in PostgreSQL: events are queued with the times the test
 * sets (the chain's time is the detectors' only clock), chained by the sequencer, and
 * watched. Exactly once across restarts and replicas, windows rebuilt from the chain, the
 * alert on the chain with its evidence, the sweeps that need no event.
 */
import { EventEmitter } from 'node:events';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditLog } from '../src/audit/audit-log.ts';
import { canonicalJson } from '../src/audit/event.ts';
import { silentLogger } from '../src/log.ts';
import { databaseFacts } from '../src/watch/facts.ts';
import { alertOverdueGrants, lastWeeklyMoment, noteUnusedAccess } from '../src/watch/sweeps.ts';
import { Watcher } from '../src/watch/watcher.ts';
import { loadedPolicy, PEOPLE, testAccess } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const { ana, bram, dana, emil } = PEOPLE;
const MIN = 60_000;

const POLICY = `
audit_channel: C0AUDIT01
groups:
  contractors: [${ana}, ${bram}]
  db-owners: [${dana}, ${emil}]
alerts:
  security: [${PEOPLE.fatima}]
  refusals: { count: 3, within: 10m }
resources:
  - id: prod-db
    name: Production database
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    provisioner: { kind: none }
`;

describe('the watcher', () => {
  let t: TestDatabase;
  const policy = loadedPolicy(POLICY).policy;
  const watchers: Watcher[] = [];
  /** Event times start here and move forward: the test's clock. */
  let clock = Date.parse('2026-12-01T10:00:00Z');

  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.destroy());
  beforeEach(async () => {
    // Each test starts from the head, with no alerts, and a day later than the last.
    clock += 24 * 60 * MIN;
    await t.audit.flush();
    await t.query(`update watch_state set cursor_seq = (select coalesce(max(seq), 0) from audit_events)`);
  });
  afterEach(async () => {
    await Promise.all(watchers.splice(0).map((w) => w.stop()));
  });

  function watcher(options: { batch?: number; leadership?: boolean; leaderRetryMs?: number } = {}): Watcher {
    const w = new Watcher({
      db: t.db,
      audit: t.audit as unknown as AuditLog,
      policy: () => policy,
      cue: new EventEmitter(),
      log: silentLogger(),
      now: () => new Date(clock),
      ...options,
    });
    watchers.push(w);
    return w;
  }

  /** Queues an event at `clock + atMs` and chains it; returns its seq. */
  async function put(atMs: number, action: string, actor: string, body: Record<string, unknown> = {}): Promise<number> {
    await t.query(`insert into audit_queue (occurred_at, actor, action, subject, body) values ($1, $2, $3, null, $4)`, [
      new Date(clock + atMs),
      actor,
      action,
      canonicalJson(body),
    ]);
    await t.audit.flush();
    const { rows } = await t.query<{ seq: string }>('select max(seq) as seq from audit_events');
    return Number(rows[0]!.seq);
  }

  /** `count` events of one kind, `stepMs` apart from `clock + atMs`, queued in bulk and chained. */
  async function many(
    count: number,
    atMs: number,
    stepMs: number,
    action: string,
    actor: string,
    body: (i: number) => Record<string, unknown>,
    subject: string | null = null,
  ): Promise<void> {
    for (let from = 0; from < count; from += 1000) {
      const part = Array.from({ length: Math.min(1000, count - from) }, (_, k) => from + k);
      const values = part.map((_, k) => `($${k * 5 + 1}, $${k * 5 + 2}, $${k * 5 + 3}, $${k * 5 + 4}, $${k * 5 + 5})`);
      await t.query(
        `insert into audit_queue (occurred_at, actor, action, subject, body) values ${values.join(', ')}`,
        part.flatMap((i) => [new Date(clock + atMs + i * stepMs), actor, action, subject, canonicalJson(body(i))]),
      );
    }
    await t.audit.flush();
  }

  const head = async () => Number((await t.query<{ h: string }>('select max(seq) as h from audit_events')).rows[0]!.h);
  const cursor = async () =>
    Number((await t.query<{ c: string }>('select cursor_seq as c from watch_state')).rows[0]!.c);

  const refused = (atMs: number, who: string = ana) =>
    put(atMs, 'approval.refused', who, { resource: 'prod-db', decision: 'approve', reason: 'not-approver' });

  /** Rounds until the watcher has read everything chained. */
  async function drain(...ws: Watcher[]): Promise<void> {
    for (;;) {
      const counts = await Promise.all(ws.map((w) => w.round()));
      if (counts.every((n) => n === 0)) return;
    }
  }

  /** Each test's refusals are by people of its own, so their alerts are its own. */
  async function alertsOf(who: string) {
    const { rows } = await t.query<{ id: string; detector: string; evidence: number[]; incident_key: string }>(
      `select id, detector, evidence, incident_key from alerts where user_id = $1 order by raised_at`,
      [who],
    );
    return rows;
  }

  it('raises a burst at the threshold, once, with alert.raised on the chain and its delivery queued', async () => {
    const w = watcher();
    const first = await refused(0);
    await refused(MIN);
    await drain(w);
    expect(await alertsOf(ana)).toEqual([]);
    const third = await refused(2 * MIN);
    await refused(3 * MIN);
    await drain(w);
    const alerts = await alertsOf(ana);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      detector: 'refusal_burst',
      evidence: [first, first + 1, third],
    });
    await t.audit.flush();
    const { rows } = await t.query<{ body: { detector: string; evidence: number[]; severity: string } }>(
      `select body from audit_log where action = 'alert.raised' and subject = $1`,
      [alerts[0]!.id],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.body).toMatchObject({
      detector: 'refusal_burst',
      severity: 'warning',
      evidence: [first, first + 1, third],
    });
    const outbox = await t.query(`select 1 from outbox where kind = 'notify_alert' and payload ->> 'alertId' = $1`, [
      alerts[0]!.id,
    ]);
    expect(outbox.rowCount).toBe(1);
  });

  it('survives a restart in the middle of a window: the windows come back from the chain', async () => {
    const before = watcher();
    await refused(0, bram);
    await refused(MIN, bram);
    await drain(before);
    await before.stop();
    // A new process: nothing in memory, the cursor past the first two.
    const after = watcher();
    await refused(2 * MIN, bram);
    await drain(after);
    expect(after.rebuilds).toBe(1);
    const alerts = await alertsOf(bram);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.evidence).toHaveLength(3);
  });

  it('does not count refusals that fell out of the window before the restart', async () => {
    const before = watcher();
    await refused(0, emil);
    await refused(MIN, emil);
    await drain(before);
    const after = watcher();
    await refused(11 * MIN, emil);
    await drain(after);
    expect(await alertsOf(emil)).toEqual([]);
  });

  it('raises once with two replicas watching at the same time, and when they take turns', async () => {
    const [a, b] = [watcher(), watcher()];
    for (let i = 0; i < 5; i++) await refused(i * 1000, dana);
    await drain(a, b);
    expect(await alertsOf(dana)).toHaveLength(1);

    // Taking turns, two events a round each: each replica finds the cursor moved by the
    // other, rebuilds its windows from the chain, and the third refusal fires once.
    const [c, d] = [watcher({ batch: 1 }), watcher({ batch: 1 })];
    for (let i = 0; i < 3; i++) await refused(20 * MIN + i * 1000, dana);
    for (let turn = 0; turn < 6; turn++) await (turn % 2 === 0 ? c : d).round();
    await drain(c, d);
    const alerts = await alertsOf(dana);
    expect(alerts).toHaveLength(2);
    expect(c.rebuilds + d.rebuilds).toBeGreaterThanOrEqual(3);
  });

  it('keeps watching after an alert with thousands of events as evidence: the record keeps the first and the last', async () => {
    const [yuri, zoe] = ['U0YURI001', 'U0ZOE0001'];
    // Yuri asks for prod-db again and again (cancelling in between), then for three other
    // resources: a spree whose evidence is every request of the hour.
    await many(4000, 0, 500, 'request.created', yuri, () => ({ resource: 'prod-db', duration_ms: 3_600_000 }));
    for (const [i, resource] of ['staging-db', 'logs', 'metrics'].entries())
      await many(1, 40 * MIN + i * 1000, 0, 'request.created', yuri, () => ({ resource, duration_ms: 3_600_000 }));
    // Then someone else's ordinary burst.
    await many(3, 45 * MIN, 1000, 'approval.refused', zoe, () => ({ resource: 'prod-db', reason: 'not-approver' }));
    await drain(watcher());
    expect(await cursor()).toBe(await head());
    const { rows } = await t.query<{ detector: string; user_id: string; evidence: number[] }>(
      `select detector, user_id, evidence from alerts where user_id = any($1) order by detector`,
      [[yuri, zoe]],
    );
    expect(rows.map((r) => [r.detector, r.user_id])).toEqual([
      ['refusal_burst', zoe],
      ['spree', yuri],
    ]);
    expect(rows[1]!.evidence).toHaveLength(100);
    await t.audit.flush();
    const event = await t.query<{ body: { evidence: number[]; evidence_count: number } }>(
      `select body from audit_log where action = 'alert.raised' and body ->> 'user' = $1`,
      [yuri],
    );
    expect(event.rows[0]!.body.evidence_count).toBe(4003);
    expect(event.rows[0]!.body.evidence.at(-1)).toBe(rows[1]!.evidence.at(-1));
  });

  it("replays each detector's own window when rebuilding: a minute of statements, not the spree's hour", async () => {
    await many(1, 0, 0, 'gateway.session_started', ana, () => ({ grant: 'grt_busy', resource: 'prod-db' }), 'ses_busy');
    await many(
      3000,
      1000,
      1000,
      'gateway.statement',
      ana,
      (i) => ({ grant: 'grt_busy', n: i + 1, sql: 'select 1' }),
      'ses_busy',
    );
    const [a, b] = [watcher(), watcher()];
    await drain(a);
    // Replicas taking turns, one new event a round: each turn rebuilds.
    for (let i = 0; i < 4; i++) {
      await many(1, 51 * MIN + i * 1000, 0, 'approval.refused', emil, () => ({ resource: 'prod-db' }));
      const w = i % 2 === 0 ? b : a;
      await w.round();
      // The statements of the last minute or so (and the margin), of 3,000 over 50 minutes.
      expect(w.replayed).toBeLessThan(200);
    }
    expect(a.rebuilds + b.rebuilds).toBeGreaterThanOrEqual(5);
  });

  it('with leadership, one replica watches while it holds the lock, and another takes over when it stops', async () => {
    const a = watcher({ leadership: true, leaderRetryMs: 0 });
    const b = watcher({ leadership: true, leaderRetryMs: 0 });
    await refused(0, PEOPLE.fatima);
    expect(await a.round()).toBeGreaterThan(0);
    await refused(1000, PEOPLE.fatima);
    // A holds the lock: B does not watch, however many events wait.
    expect(await b.round()).toBe(0);
    expect(await a.round()).toBe(1);
    await a.stop();
    await refused(2000, PEOPLE.fatima);
    await drain(b);
    expect(await cursor()).toBe(await head());
    expect((await alertsOf(PEOPLE.fatima)).map((r) => r.detector)).toEqual(['refusal_burst']);
  });

  it("reads a session's first minute from the chain when it started before the watcher's memory", async () => {
    const a = testAccess(t, POLICY);
    const asked = await a.service.request({ requester: bram, resourceId: 'prod-db', duration: '1h', reason: 'pace' });
    if (!asked.ok) throw new Error('request refused');
    await a.service.approve(asked.request.id, dana);
    const grant = (await t.query<{ id: string }>(`select id from grants where request_id = $1`, [asked.request.id]))
      .rows[0]!.id;
    await t.query(
      `insert into gateway_sessions (id, grant_id, user_id, resource_id, replica, started_at, cancel_pid, cancel_secret)
       values ('ses_pace', $1, $2, 'prod-db', 'r1', $3, 1, 1)`,
      [grant, bram, new Date(clock)],
    );
    const statement = (i: number) => ({ grant, n: i + 1, sql: 'select 1' });
    // 30 in its first minute, another session's between them, then 10 more later.
    await many(30, 0, 1900, 'gateway.statement', bram, statement, 'ses_pace');
    await many(20, 500, 2000, 'gateway.statement', bram, statement, 'ses_other');
    await many(10, 61_000, 1000, 'gateway.statement', bram, statement, 'ses_pace');
    expect(await databaseFacts(t.db).sessionStart('ses_pace')).toEqual({ startedAt: new Date(clock), firstMinute: 30 });
    expect(await databaseFacts(t.db).sessionStart('ses_unknown')).toBeNull();
  });

  it('reads only what is after its cursor: events before an upgrade are not alerted on', async () => {
    for (let i = 0; i < 3; i++) await refused(i * 1000, PEOPLE.mallory);
    await t.query(`update watch_state set cursor_seq = (select max(seq) from audit_events)`);
    await drain(watcher());
    expect(await alertsOf(PEOPLE.mallory)).toEqual([]);
  });
});

describe('the sweeps', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.destroy());

  it('alert once about a grant still live two minutes past its end, on any number of replicas', async () => {
    const a = testAccess(t, POLICY);
    const asked = await a.service.request({ requester: ana, resourceId: 'prod-db', duration: '1h', reason: 'debug' });
    if (!asked.ok) throw new Error('request refused');
    await a.service.approve(asked.request.id, dana);
    const { policy } = loadedPolicy(POLICY);
    const audit = t.audit as unknown as AuditLog;
    const { rows } = await t.query<{ ends_at: Date }>(`select ends_at from grants where request_id = $1`, [
      asked.request.id,
    ]);
    const end = rows[0]!.ends_at.getTime();
    // Two minutes late is not yet overdue; a moment more is.
    expect(await alertOverdueGrants(t.db, audit, policy, new Date(end + 2 * MIN))).toBe(0);
    const raised = await Promise.all([
      alertOverdueGrants(t.db, audit, policy, new Date(end + 2 * MIN + 1000)),
      alertOverdueGrants(t.db, audit, policy, new Date(end + 2 * MIN + 1000)),
    ]);
    expect(raised.reduce((x, y) => x + y)).toBe(1);
    const alert = await t.query(`select detector, severity, grant_id from alerts where detector = 'grant_overdue'`);
    expect(alert.rows).toMatchObject([{ detector: 'grant_overdue', severity: 'high' }]);
    expect(await alertOverdueGrants(t.db, audit, policy, new Date(end + 10 * MIN))).toBe(0);
  });

  it('note, weekly, gateway grants that ended without a session, once per resource and week', async () => {
    const a = testAccess(t, POLICY);
    const asked = await a.service.request({ requester: bram, resourceId: 'prod-db', duration: '1h', reason: 'report' });
    if (!asked.ok) throw new Error('request refused');
    await a.service.approve(asked.request.id, dana);
    const { rows } = await t.query<{ id: string }>(`select id from grants where request_id = $1`, [asked.request.id]);
    const grant = rows[0]!.id;
    await t.query(
      `insert into gateway_logins (grant_id, username, salt, iterations, stored_key, server_key) values ($1, $1, 's', 4096, 'k', 'k')`,
      [grant],
    );
    await a.service.release(grant as never, bram);
    const { policy } = loadedPolicy(POLICY);
    const audit = t.audit as unknown as AuditLog;
    // The Monday 09:00 UTC after it ended.
    const moment = lastWeeklyMoment(1, 9, new Date(Date.now() + 7 * 24 * 60 * MIN));
    expect(await noteUnusedAccess(t.db, audit, policy, new Date(moment.getTime() + 1000))).toBe(1);
    expect(await noteUnusedAccess(t.db, audit, policy, new Date(moment.getTime() + 60 * MIN))).toBe(0);
    const note = await t.query<{ title: string; severity: string; detail: string }>(
      `select title, severity, detail from alerts where detector = 'unused_access'`,
    );
    expect(note.rows).toMatchObject([{ title: '1 grant of Production database never used', severity: 'info' }]);
    expect(note.rows[0]!.detail).toContain(grant);
  });

  it('find the last weekly moment', () => {
    // Thursday 2026-12-03 19:00 UTC: the Monday before, 09:00.
    expect(lastWeeklyMoment(1, 9, new Date('2026-12-03T19:00:00Z')).toISOString()).toBe('2026-11-30T09:00:00.000Z');
    // Monday 08:59: the Monday a week before.
    expect(lastWeeklyMoment(1, 9, new Date('2026-11-30T08:59:00Z')).toISOString()).toBe('2026-11-23T09:00:00.000Z');
    expect(lastWeeklyMoment(1, 9, new Date('2026-11-30T09:00:00Z')).toISOString()).toBe('2026-11-30T09:00:00.000Z');
  });
});
