/**
 * Each detector on its own, fed events whose times the test sets (the chain's time is the
 * only clock a detector reads): it fires at its threshold and not below, once per
 * incident, and again only for a new one. The facts it looks up (tables, in production)
 * are given here. The watcher over a real chain, restarts and replicas are in
 * test/watcher.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { AlertInput } from '../src/access/alerts.ts';
import { judge, loadStatementParser } from '../src/gateway/classify.ts';
import { parsePolicy } from '../src/provisioners/index.ts';
import type { GatewayLimits } from '../src/provisioners/postgres-gateway.ts';
import type { Facts, GrantFacts, WatchedEvent } from '../src/watch/detector.ts';
import { WatchEngine } from '../src/watch/engine.ts';

const ANA = 'U0ANA0001';
const DANA = 'U0DANA001';
const EMIL = 'U0EMIL001';
const T0 = Date.parse('2026-12-01T10:00:00Z'); // a Tuesday, 11:00 in Berlin
const MIN = 60_000;

function policyWith(alerts: string, resourceExtra = ''): ReturnType<typeof parsePolicy> {
  return parsePolicy(
    `
audit_channel: C0AUDIT01
groups:
  contractors: [${ANA}]
  db-owners: [${DANA}, ${EMIL}]
${alerts}
resources:
  - id: prod-db
    name: Production database
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    provisioner: { kind: none }${resourceExtra}
  - id: staging-db
    name: Staging database
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner: { kind: none }
  - id: logs
    name: Logs
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner: { kind: none }
  - id: metrics
    name: Metrics
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner: { kind: none }
`,
    'test.yml',
  );
}

class StubFacts implements Facts {
  grants = new Map<string, GrantFacts>();
  requests = new Map<string, { createdAt: Date; userId: string; resourceId: string; durationMs: number }>();
  approvals: { resourceId: string; approver: string; at: Date }[] = [];
  sessions = new Map<string, { startedAt: Date; firstMinute: number }>();
  async grant(id: string) {
    return this.grants.get(id) ?? null;
  }
  requestGrants = new Map<string, string>();
  async grantOfRequest(id: string) {
    return this.requestGrants.get(id) ?? null;
  }
  async approvalsBy(resourceId: string, since: Date, until: Date) {
    const counts = new Map<string, number>();
    for (const a of this.approvals)
      if (a.resourceId === resourceId && a.at > since && a.at <= until)
        counts.set(a.approver, (counts.get(a.approver) ?? 0) + 1);
    return counts;
  }
  async requestsOf(userId: string, since: Date, until: Date) {
    return [...this.requests.values()].filter(
      (r) => r.userId === userId && r.createdAt > since && r.createdAt <= until,
    );
  }
  async sessionStart(id: string) {
    return this.sessions.get(id) ?? null;
  }
}

/** Feeds events in seq order, the times given in ms after T0; returns what each found. */
function feeder(engine: WatchEngine) {
  let seq = 0;
  return async (
    atMs: number,
    action: string,
    actor: string,
    body: Record<string, unknown> = {},
    subject: string | null = null,
  ): Promise<AlertInput[]> => {
    const event: WatchedEvent = { seq: ++seq, time: new Date(T0 + atMs), actor, action, subject, body };
    return engine.observe(event);
  };
}

describe('refusal bursts', () => {
  it('fire at the fifth refusal within ten minutes, not at the fourth, once per burst', async () => {
    const feed = feeder(new WatchEngine(policyWith(''), new StubFacts()));
    for (let i = 0; i < 4; i++)
      expect(await feed(i * MIN, 'approval.refused', ANA, { resource: 'prod-db', reason: 'not-approver' })).toEqual([]);
    const fired = await feed(4 * MIN, 'mfa.failed', ANA, { purpose: 'approve', reason: 'wrong' });
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatchObject({
      detector: 'refusal_burst',
      severity: 'warning',
      userId: ANA,
      evidence: [1, 2, 3, 4, 5],
      title: 'Refused 5 times in 10 minutes',
    });
    // The same burst going on is the same incident.
    expect(await feed(5 * MIN, 'request.refused', ANA, { resource: 'nope', reason: 'unknown-resource' })).toEqual([]);
    // Quiet long enough to fall below, then a new burst: a new incident.
    for (let i = 0; i < 4; i++) expect(await feed(30 * MIN + i * MIN, 'audit.verify_refused', ANA)).toEqual([]);
    const again = await feed(34 * MIN, 'audit.verify_refused', ANA);
    expect(again).toHaveLength(1);
    expect(again[0]!.incidentKey).not.toBe(fired[0]!.incidentKey);
  });

  it('count one person at a time, take the person of a refused login from its body, and follow the policy', async () => {
    const feed = feeder(new WatchEngine(policyWith('alerts: { refusals: { count: 3, within: 1m } }'), new StubFacts()));
    expect(await feed(0, 'gateway.login_refused', 'system', { user: ANA })).toEqual([]);
    expect(await feed(1000, 'approval.refused', DANA)).toEqual([]);
    expect(await feed(2000, 'gateway.login_refused', 'system', { user: ANA })).toEqual([]);
    // Three of Ana's, but the first is over a minute old by the third: two in the window.
    expect(await feed(61_000, 'gateway.login_refused', 'system', { user: ANA })).toEqual([]);
    expect(await feed(62_000, 'gateway.login_refused', 'system', { user: ANA })).toEqual([]);
    expect(await feed(63_000, 'gateway.login_refused', 'system', { user: ANA })).toMatchObject([
      { detector: 'refusal_burst', userId: ANA, evidence: [4, 5, 6] },
    ]);
  });

  it('are off when the policy says false; an MFA lockout is an alert of its own', async () => {
    const feed = feeder(new WatchEngine(policyWith('alerts: { refusals: false }'), new StubFacts()));
    for (let i = 0; i < 10; i++) expect(await feed(i * 1000, 'mfa.failed', ANA)).toEqual([]);
    const feedOn = feeder(new WatchEngine(policyWith(''), new StubFacts()));
    expect(
      await feedOn(0, 'mfa.locked', ANA, { failures: 5, window_minutes: 10, locked_until: '2026-12-01T10:15:00Z' }),
    ).toMatchObject([{ detector: 'mfa_lockout', severity: 'high', userId: ANA }]);
  });
});

describe('off hours', () => {
  const hours = `alerts:
  working_hours: { days: mon-fri, hours: 08:00-18:00, time_zone: Europe/Berlin }`;

  it('note a request outside the working hours in their time zone, once per person, resource and local day', async () => {
    const feed = feeder(new WatchEngine(policyWith(hours), new StubFacts()));
    // Tuesday 11:00 Berlin: inside.
    expect(await feed(0, 'request.created', ANA, { resource: 'prod-db' })).toEqual([]);
    // Tuesday 17:59 Berlin (16:59 UTC): inside; 18:00 Berlin: outside.
    expect(await feed(6 * 60 * MIN - MIN, 'request.created', ANA, { resource: 'prod-db' })).toEqual([]);
    const night = await feed(7 * 60 * MIN, 'request.created', ANA, { resource: 'prod-db' });
    expect(night).toMatchObject([{ detector: 'off_hours', userId: ANA, resourceId: 'prod-db' }]);
    expect(night[0]!.detail).toContain('At 18:00 on 2026-12-01 (Europe/Berlin)');
    // The same night, the same resource: the same incident, not found again. Another resource: another.
    expect(await feed(8 * 60 * MIN, 'gateway.session_started', ANA, { resource: 'prod-db' }, 'ses_1')).toEqual([]);
    expect(await feed(8 * 60 * MIN, 'request.created', ANA, { resource: 'logs' })).toHaveLength(1);
    // An owner approving on Saturday morning.
    expect(await feed(4 * 24 * 60 * MIN, 'approval.recorded', DANA, { resource: 'prod-db' }, 'req_1')).toMatchObject([
      { detector: 'off_hours', userId: DANA, title: 'Approved a request outside working hours' },
    ]);
  });

  it("take a resource's own hours over the policy's, and the person's group's over the policy's", async () => {
    const policy = policyWith(
      `${hours}
  group_working_hours:
    contractors: { days: mon-sun, hours: 00:00-24:00, time_zone: Asia/Tokyo }`,
      `
    alerts: { working_hours: { days: mon-fri, hours: 09:00-10:00, time_zone: UTC } }`,
    );
    const feed = feeder(new WatchEngine(policy, new StubFacts()));
    // 10:00 UTC: past prod-db's own hours, whoever asks.
    expect(await feed(0, 'request.created', ANA, { resource: 'prod-db' })).toHaveLength(1);
    // Saturday night in Berlin, but Ana's group works around the clock.
    expect(await feed(4 * 24 * 60 * MIN + 20 * 60 * MIN, 'request.created', ANA, { resource: 'logs' })).toEqual([]);
    // Dana (not a contractor) at the same moment: the policy's hours.
    expect(await feed(4 * 24 * 60 * MIN + 20 * 60 * MIN, 'approval.recorded', DANA, { resource: 'logs' })).toHaveLength(
      1,
    );
  });

  it('say nothing when no working hours are set', async () => {
    const feed = feeder(new WatchEngine(policyWith(''), new StubFacts()));
    expect(await feed(4 * 24 * 60 * MIN, 'request.created', ANA, { resource: 'prod-db' })).toEqual([]);
  });
});

describe('rubber stamps', () => {
  it("flag an approval within 10 seconds of the request (the chain's times), not one after; End access ends the grant it gave", async () => {
    const facts = new StubFacts();
    facts.requestGrants.set('req_fast', 'grt_fast');
    const feed = feeder(new WatchEngine(policyWith(''), facts));
    expect(await feed(0, 'request.created', ANA, { resource: 'prod-db', duration_ms: MIN }, 'req_fast')).toEqual([]);
    expect(await feed(0, 'request.created', ANA, { resource: 'staging-db', duration_ms: MIN }, 'req_slow')).toEqual([]);
    expect(await feed(9_999, 'approval.recorded', DANA, { resource: 'prod-db' }, 'req_fast')).toMatchObject([
      {
        detector: 'rubber_stamp',
        userId: DANA,
        grantId: 'grt_fast',
        ends: 'grant',
        evidence: [1, 3],
        title: 'Approved 10 s after the request',
      },
    ]);
    expect(await feed(10_000, 'approval.recorded', EMIL, { resource: 'staging-db' }, 'req_slow')).toEqual([]);
    // A first approval of two: no grant yet, nothing for End access now to end (never the approver's own).
    expect(await feed(20_000, 'request.created', ANA, { resource: 'logs', duration_ms: MIN }, 'req_two')).toEqual([]);
    expect(await feed(21_000, 'approval.recorded', DANA, { resource: 'logs' }, 'req_two')).toMatchObject([
      { detector: 'rubber_stamp', grantId: null, ends: 'none' },
    ]);
  });

  it("flag one owner giving more than 80 % of a resource's approvals once there are ten, once per window", async () => {
    const facts = new StubFacts();
    const feed = feeder(new WatchEngine(policyWith('alerts: { rubber_stamps: { within: 1s } }'), facts));
    const approve = async (who: string, at: number) => {
      facts.approvals.push({ resourceId: 'prod-db', approver: who, at: new Date(T0 + at) });
      return feed(at, 'approval.recorded', who, { resource: 'prod-db' }, `req_${at}`);
    };
    // Nine of Dana's: not yet ten approvals.
    for (let i = 0; i < 9; i++) expect(await approve(DANA, i * MIN)).toEqual([]);
    // Emil's makes ten; Dana has 90 %, but this approval is Emil's (10 %).
    expect(await approve(EMIL, 9 * MIN)).toEqual([]);
    const share = await approve(DANA, 10 * MIN);
    expect(share).toMatchObject([
      { detector: 'approval_share', userId: DANA, title: 'Gave 91 % of the approvals of Production database' },
    ]);
    expect(share[0]!.ends).toBe('none');
    // Still above the share later in the same window: the same incident, not found again.
    expect(await approve(DANA, 11 * MIN)).toEqual([]);
  });
});

describe('sprees', () => {
  it('flag four different resources within an hour, not three, nor one asked four times', async () => {
    const feed = feeder(new WatchEngine(policyWith(''), new StubFacts()));
    expect(await feed(0, 'request.created', ANA, { resource: 'prod-db', duration_ms: MIN })).toEqual([]);
    expect(await feed(MIN, 'request.created', ANA, { resource: 'prod-db', duration_ms: MIN })).toEqual([]);
    expect(await feed(2 * MIN, 'request.created', ANA, { resource: 'staging-db', duration_ms: MIN })).toEqual([]);
    expect(await feed(3 * MIN, 'request.created', ANA, { resource: 'logs', duration_ms: MIN })).toEqual([]);
    const spree = await feed(59 * MIN, 'request.created', ANA, { resource: 'metrics', duration_ms: MIN });
    expect(spree).toMatchObject([{ detector: 'spree', userId: ANA, evidence: [1, 2, 3, 4, 5] }]);
    expect(spree[0]!.detail).toContain('Production database, Staging database, Logs, Metrics');
  });

  it('flag the maximum duration asked for the third time in a week, once', async () => {
    const facts = new StubFacts();
    const feed = feeder(new WatchEngine(policyWith('alerts: { sprees: { resources: 10 } }'), facts));
    const ask = (n: number, at: number, resource: string, durationMs: number) => {
      facts.requests.set(`req_${n}`, { createdAt: new Date(T0 + at), userId: ANA, resourceId: resource, durationMs });
      return feed(at, 'request.created', ANA, { resource, duration_ms: durationMs });
    };
    const DAY = 24 * 60 * MIN;
    expect(await ask(1, 0, 'prod-db', 4 * 60 * MIN)).toEqual([]);
    expect(await ask(2, DAY, 'prod-db', 60 * MIN)).toEqual([]); // not the maximum
    expect(await ask(3, 2 * DAY, 'logs', 2 * 60 * MIN)).toEqual([]);
    expect(await ask(4, 3 * DAY, 'prod-db', 4 * 60 * MIN)).toMatchObject([{ detector: 'max_duration_repeats' }]);
    expect(await ask(5, 4 * DAY, 'prod-db', 4 * 60 * MIN)).toEqual([]);
  });
});

describe('stuck access', () => {
  it('flags the third failed revocation in a row, not the second, and any drift', async () => {
    const feed = feeder(new WatchEngine(policyWith(''), new StubFacts()));
    const failed = (attempt: number) =>
      feed(
        attempt * MIN,
        'grant.revoke_failed',
        'system',
        { user: ANA, resource: 'prod-db', attempt, error: 'boom' },
        'grt_1',
      );
    expect(await failed(1)).toEqual([]);
    expect(await failed(2)).toEqual([]);
    expect(await failed(3)).toMatchObject([
      { detector: 'revoke_failing', severity: 'high', grantId: 'grt_1', incidentKey: 'revoke_failing:grt_1' },
    ]);
    expect(await failed(4)).toEqual([]);
    expect(
      await feed(
        5 * MIN,
        'grant.drift_revoked',
        'system',
        { user: ANA, resource: 'prod-db', grant_status: 'ended' },
        'grt_0',
      ),
    ).toMatchObject([{ detector: 'drift', severity: 'high', grantId: 'grt_0' }]);
  });
});

describe('database activity', () => {
  const sensitive = `
    alerts: { sensitive_tables: [public.customers, cards], rows_over: 100 }`;

  function world(alerts = '') {
    const facts = new StubFacts();
    facts.grants.set('grt_1', {
      userId: ANA,
      resourceId: 'prod-db',
      status: 'active',
      endsAt: new Date(T0 + 60 * MIN),
      endedAt: null,
    });
    const engine = new WatchEngine(policyWith(alerts, sensitive), facts);
    const feed = feeder(engine);
    const statement = (at: number, body: Record<string, unknown>, action = 'gateway.statement') =>
      feed(at, action, ANA, { grant: 'grt_1', ...body }, 'ses_1');
    return { facts, feed, statement };
  }

  it('flags DDL, role changes and sensitive tables, each change once; plain reads say nothing', async () => {
    const { feed, statement } = world();
    await feed(0, 'gateway.session_started', ANA, { grant: 'grt_1', resource: 'prod-db' }, 'ses_1');
    expect(await statement(1000, { sql: 'select 1' })).toEqual([]);
    expect(await statement(2000, { sql: 'select * from orders', tables: ['orders'] })).toEqual([]);
    expect(await statement(3000, { sql: 'create table x()', classes: ['ddl'], tables: ['x'] })).toMatchObject([
      { detector: 'db_ddl', sessionId: 'ses_1', grantId: 'grt_1', userId: ANA },
    ]);
    expect(await statement(4000, { sql: 'set role admin', classes: ['set_role'] })).toMatchObject([
      { detector: 'db_role_change', severity: 'high' },
    ]);
    const found = await statement(5000, {
      sql: 'select * from customers join billing.cards using (id)',
      tables: ['billing.cards', 'customers'],
    });
    expect(found.map((f) => f.detector)).toEqual(['db_sensitive_table', 'db_sensitive_table']);
    expect(found.map((f) => f.title)).toEqual([
      'Read or changed cards on Production database',
      'Read or changed public.customers on Production database',
    ]);
    // A harmless CREATE does not hide the DROP after it; the same DROP again is the same incident.
    const drop = await statement(6000, { sql: 'drop table x cascade', classes: ['ddl'], tables: ['x'] });
    expect(drop).toMatchObject([{ detector: 'db_ddl' }]);
    expect(await statement(7000, { sql: 'drop table x cascade', classes: ['ddl'], tables: ['x'] })).toEqual([]);
    // The sensitive tables again: the same incidents.
    expect(await statement(8000, { sql: 'select 1 from customers', tables: ['customers'] })).toEqual([]);
  });

  it('flags a refused statement, and a read over the resource’s row threshold (101, not 100)', async () => {
    const { statement } = world();
    expect(
      await statement(1000, { rule: 'ddl', reason: 'no DDL here', sql: 'drop table t' }, 'gateway.statement_refused'),
    ).toMatchObject([{ detector: 'db_refused' }]);
    expect(await statement(2000, { n: 2, rows: 100 }, 'gateway.statement_done')).toEqual([]);
    expect(await statement(3000, { n: 3, rows: 101 }, 'gateway.statement_done')).toMatchObject([
      { detector: 'db_rows', title: 'A statement returned 101 rows' },
    ]);
  });

  it('raises the highest severity for a statement recorded after its grant ended, not within the grace', async () => {
    const { feed, statement } = world();
    expect(await statement(60 * MIN + 2000, { sql: 'select 1' })).toEqual([]);
    expect(await statement(60 * MIN + 2001, { sql: 'select 2' })).toMatchObject([
      { detector: 'db_after_end', severity: 'critical' },
    ]);
    // An early end (the grant.ending event) counts from its own time.
    const early = world();
    await early.feed(10 * MIN, 'grant.ending', DANA, { reason: 'revoked' }, 'grt_1');
    expect(await early.statement(10 * MIN + 1000, { sql: 'select 1' })).toEqual([]);
    expect(await early.statement(10 * MIN + 3000, { sql: 'select 1' })).toMatchObject([{ detector: 'db_after_end' }]);
    void feed;
  });

  it("flags a pace ten times the session's first minute, at least 120 a minute, once per burst", async () => {
    const { feed, statement } = world();
    await feed(0, 'gateway.session_started', ANA, { grant: 'grt_1', resource: 'prod-db' }, 'ses_1');
    // 20 statements in the first minute: the alarm is at 200 in a minute.
    for (let i = 0; i < 20; i++) await statement(i * 1000, { sql: 'select 1' });
    const found: AlertInput[] = [];
    for (let i = 0; i < 199; i++) found.push(...(await statement(2 * MIN + i * 100, { sql: 'select 1' })));
    expect(found).toEqual([]);
    expect(await statement(2 * MIN + 199 * 100, { sql: 'select 1' })).toMatchObject([
      { detector: 'db_rate', title: '200 statements in a minute on Production database' },
    ]);
    expect(await statement(2 * MIN + 200 * 100, { sql: 'select 1' })).toEqual([]);
  });

  it("reads the first minute of a session that started before the watcher's memory", async () => {
    const { facts, statement } = world();
    facts.sessions.set('ses_1', { startedAt: new Date(T0 - 60 * MIN), firstMinute: 0 });
    // A quiet start: the floor (120 a minute) is the alarm.
    const found: AlertInput[] = [];
    for (let i = 0; i < 120; i++) found.push(...(await statement(i * 100, { sql: 'select 1' })));
    expect(found.map((f) => f.detector)).toEqual(['db_rate']);
  });
});

describe('the policy', () => {
  it('turns each detector off with false', async () => {
    const engine = new WatchEngine(
      policyWith(
        'alerts: { off_hours: false, refusals: false, rubber_stamps: false, sprees: false, stuck_access: false, database: false, unused_access: false }',
      ),
      new StubFacts(),
    );
    expect(engine.actions).toEqual([]);
  });
});

describe('a detector that fails', () => {
  it('is skipped for that event and said, while the others still see it', async () => {
    const failures: number[] = [];
    const policy = policyWith('alerts: { working_hours: { days: sat, hours: 00:00-01:00, time_zone: UTC } }');
    const engine = new WatchEngine(policy, new StubFacts(), (_err, _detector, event) => failures.push(event.seq));
    const observe = (seq: number, time: Date, resource: string) =>
      engine.observe({ seq, time, actor: ANA, action: 'request.created', subject: `req_${seq}`, body: { resource } });
    // No chain event has a time that is not one, but a detector meeting one throws: the
    // off-hours detector cannot read the clock of it. It is skipped; sprees still count it.
    expect(await observe(1, new Date(Number.NaN), 'prod-db')).toEqual([]);
    expect(failures).toEqual([1]);
    expect(await observe(2, new Date(T0), 'staging-db')).toMatchObject([
      { detector: 'off_hours', resourceId: 'staging-db' },
    ]);
    expect(failures).toEqual([1]);
  });

  it('that could not look something up fails the round instead: nothing is skipped', async () => {
    const facts = new StubFacts();
    facts.approvalsBy = () => Promise.reject(new Error('connection terminated'));
    const engine = new WatchEngine(policyWith(''), facts, () => {
      throw new Error('not a detector failure');
    });
    await expect(feeder(engine)(0, 'approval.recorded', DANA, { resource: 'prod-db' }, 'req_1')).rejects.toThrow(
      'connection terminated',
    );
  });
});

describe('getting past the detectors', () => {
  const sensitive = `
    alerts: { sensitive_tables: [public.customers] }`;
  const noLimits: GatewayLimits = { readOnly: false, refuse: [], parameters: 'hash' };
  /** A statement's record as the gateway makes it: its facts from PostgreSQL's own parse tree. */
  const recorded = (sql: string) => ({ grant: 'grt_1', sql, ...judge(sql, noLimits, 'Production database').facts });

  function world(alerts = '') {
    const facts = new StubFacts();
    facts.grants.set('grt_1', {
      userId: ANA,
      resourceId: 'prod-db',
      status: 'active',
      endsAt: new Date(T0 + 24 * 60 * MIN),
      endedAt: null,
    });
    return feeder(new WatchEngine(policyWith(alerts, sensitive), facts));
  }

  beforeAll(async () => {
    await loadStatementParser();
  });

  it('finds a sensitive table however many names come first, and says so when a statement names more than the record keeps', async () => {
    const feed = world();
    await feed(0, 'gateway.session_started', ANA, { grant: 'grt_1', resource: 'prod-db' }, 'ses_1');
    // WITH names are not tables: twenty of them first do not push customers out of the record.
    const ctes = Array.from({ length: 20 }, (_, i) => `a${i}`);
    const withCtes = `with ${ctes.map((c) => `${c} as (select 1)`).join(', ')} select c.* from ${ctes.join(', ')}, customers c`;
    expect(recorded(withCtes).tables).toEqual(['customers']);
    expect((await feed(1000, 'gateway.statement', ANA, recorded(withCtes), 'ses_1')).map((f) => f.detector)).toEqual([
      'db_sensitive_table',
    ]);
    // 101 real tables: the record keeps 100 and says it cut; with sensitive tables set, that is an alert.
    const many = `select 1 from ${Array.from({ length: 101 }, (_, i) => `t${String(i).padStart(3, '0')}`).join(', ')}`;
    expect(recorded(many)).toMatchObject({ tables_truncated: true });
    expect(recorded(many).tables).toHaveLength(100);
    expect(await feed(2000, 'gateway.statement', ANA, recorded(many), 'ses_1')).toMatchObject([
      { detector: 'db_sensitive_table', title: 'Named more tables than the record keeps on Production database' },
    ]);
  });

  it("tells the owners of the resource probed most, whatever the burst's last refusal names", async () => {
    const feed = world();
    for (let i = 0; i < 4; i++)
      await feed(i * 1000, 'approval.refused', ANA, {
        resource: 'prod-db',
        decision: 'approve',
        reason: 'not-approver',
      });
    const [burst] = await feed(5000, 'request.refused', ANA, { resource: 'no-such-thing', reason: 'unknown-resource' });
    expect(burst).toMatchObject({ detector: 'refusal_burst', userId: ANA, resourceId: 'prod-db' });
  });

  it('does not blame a grant holder for wrong passwords anyone may type: the grant is what is under attack', async () => {
    const feed = world();
    const wrong = (at: number) =>
      feed(
        at,
        'gateway.login_refused',
        'system',
        { user: ANA, resource: 'prod-db', reason: 'wrong_password', client_address: '203.0.113.66' },
        'grt_1',
      );
    for (let i = 0; i < 4; i++) expect(await wrong(i * 1000)).toEqual([]);
    const [guessing] = await wrong(4000);
    expect(guessing).toMatchObject({
      detector: 'login_guessing',
      severity: 'high',
      grantId: 'grt_1',
      ends: 'grant',
    });
    expect(guessing!.userId ?? null).toBeNull();
    expect(guessing!.detail).toContain('203.0.113.66');
    // A right password outside the grant is the holder's own doing: it counts toward theirs.
    for (let i = 0; i < 4; i++)
      await feed(10_000 + i, 'gateway.login_refused', 'system', { user: ANA, reason: 'ended' }, 'grt_1');
    expect(
      await feed(10_005, 'gateway.login_refused', 'system', { user: ANA, reason: 'ended' }, 'grt_1'),
    ).toMatchObject([{ detector: 'refusal_burst', userId: ANA }]);
  });

  it('notes a session used at night, not only one opened at night', async () => {
    const feed = world('alerts: { working_hours: { days: mon-fri, hours: 08:00-19:00, time_zone: Europe/Berlin } }');
    // Opened at 18:50 Berlin on a Tuesday (in hours); statements at 03:00 the next morning.
    const opened = Date.parse('2026-12-01T17:50:00Z') - T0;
    expect(
      await feed(opened, 'gateway.session_started', ANA, { grant: 'grt_1', resource: 'prod-db' }, 'ses_1'),
    ).toEqual([]);
    const night = Date.parse('2026-12-02T02:00:00Z') - T0;
    const found: AlertInput[] = [];
    for (let i = 0; i < 10; i++)
      found.push(
        ...(await feed(night + i * 1000, 'gateway.statement', ANA, recorded('select * from orders'), 'ses_1')),
      );
    expect(found).toMatchObject([
      { detector: 'off_hours', sessionId: 'ses_1', grantId: 'grt_1', title: 'Ran statements outside working hours' },
    ]);
  });
});
