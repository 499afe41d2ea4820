import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AccessService } from '../src/access/service.ts';
import { PolicyError } from '../src/config/policy.ts';
import { silentLogger } from '../src/log.ts';
import { checkProvisioners, parsePolicy, provisionerFor, ProvisionerSetupError } from '../src/provisioners/index.ts';
import { PEOPLE, loadedPolicy } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const { ana, bram, dana } = PEOPLE;
const SECRET = 'whsec-test-0123456789';
const ENV = { GATEHOUSE_WEBHOOK_SECRET: SECRET };

const policyFor = (url: string, extra = '') => `
audit_channel: C0AUDIT01
groups:
  contractors: [${ana}, ${bram}]
  owners: [${dana}]
resources:
  - id: billing
    name: Billing admin
    owners: [owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner:
      kind: webhook
      url: ${url}
      secret_env: GATEHOUSE_WEBHOOK_SECRET${extra}
`;

interface Received {
  event: Record<string, unknown>;
  verified: boolean;
}

/**
 * A receiver that checks signatures the way docs/provisioners.md tells receivers to: the
 * HMAC of `<timestamp>.<raw body>`, compared in constant time, and a timestamp no older
 * than five minutes. It answers with the statuses a test queues, then 200.
 */
class Receiver {
  readonly received: Received[] = [];
  readonly statuses: (number | 'hang')[] = [];
  private readonly server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const timestamp = String(req.headers['x-gatehouse-timestamp'] ?? '');
      const given = Buffer.from(String(req.headers['x-gatehouse-signature'] ?? ''));
      const expected = Buffer.from(`v1=${createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex')}`);
      const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
      const verified = fresh && given.length === expected.length && timingSafeEqual(given, expected);
      this.received.push({ event: JSON.parse(body) as Record<string, unknown>, verified });
      const status = this.statuses.shift() ?? (verified ? 200 : 401);
      if (status === 'hang') return;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'receiver is down');
    });
  });

  async start(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/gatehouse`;
  }

  stop(): void {
    this.server.closeAllConnections();
    this.server.close();
  }
}

describe('the webhook provisioner in the policy', () => {
  it('takes a URL and the name of the secret variable, and refuses the secret itself', () => {
    const policy = parsePolicy(policyFor('https://hooks.example.com/g'), 'p.yml');
    expect(policy.resources[0]?.provisioner).toEqual({
      kind: 'webhook',
      url: 'https://hooks.example.com/g',
      secretEnv: 'GATEHOUSE_WEBHOOK_SECRET',
      timeoutMs: 10_000,
    });
    const bad = (text: string) => {
      try {
        parsePolicy(text, 'p.yml');
      } catch (err) {
        if (err instanceof PolicyError) return err.message;
        throw err;
      }
      return 'accepted';
    };
    expect(bad(policyFor('ftp://x'))).toContain('resources[0].provisioner.url: is not an http(s) URL');
    expect(bad(policyFor('https://x', '\n      secret: hunter2'))).toContain('unknown key "secret"');
    expect(bad(policyFor('https://x').replace('GATEHOUSE_WEBHOOK_SECRET', 'hunter2'))).toContain(
      'never put the secret itself in the policy',
    );
  });

  it('stops start-up when the secret variable is not set, naming the resource and the field', () => {
    const policy = loadedPolicy(policyFor('https://hooks.example.com/g'));
    expect(() => checkProvisioners(policy, {})).toThrow(ProvisionerSetupError);
    expect(() => checkProvisioners(policy, {})).toThrow(
      'test-policy.yml resources[0].provisioner.secret_env (resource billing): GATEHOUSE_WEBHOOK_SECRET is not set',
    );
    expect(() => checkProvisioners(policy, ENV)).not.toThrow();
  });
});

describe('grants through a webhook receiver', () => {
  let t: TestDatabase;
  let receiver: Receiver;
  let service: AccessService;
  const clock = { now: new Date() };

  beforeAll(async () => {
    t = await createTestDatabase();
    receiver = new Receiver();
    // A short timeout, set the way an operator would.
    const policy = loadedPolicy(policyFor(await receiver.start(), '\n      timeout_seconds: 1'));
    service = new AccessService({
      db: t.db,
      audit: t.audit,
      policy: () => policy,
      provisionerFor: (config) => provisionerFor(config, ENV),
      log: silentLogger(),
      now: () => clock.now,
    });
  });
  afterAll(async () => {
    receiver.stop();
    await t.destroy();
  });
  beforeEach(() => {
    receiver.received.length = 0;
    receiver.statuses.length = 0;
  });

  async function approvedGrant(reason: string, requester: string = ana) {
    const filed = await service.request({ requester, resourceId: 'billing', reason });
    if (!filed.ok) throw new Error(JSON.stringify(filed.refusal));
    const decided = await service.approve(filed.request.id, dana);
    if (!decided.ok) throw new Error(JSON.stringify(decided.refusal));
    return t.db.selectFrom('grants').selectAll().where('request_id', '=', filed.request.id).executeTakeFirstOrThrow();
  }

  it('sends a signed grant on approval and a signed revoke at the end, each verified by the receiver', async () => {
    const grant = await approvedGrant('monthly close');
    expect(grant.status).toBe('active');
    const released = await service.release(grant.id, ana);
    expect(released.ok).toBe(true);
    expect(receiver.received.map((r) => [r.event.type, r.verified])).toEqual([
      ['grant', true],
      ['revoke', true],
    ]);
    expect(receiver.received[0]!.event).toEqual({
      id: `${grant.id}:grant`,
      type: 'grant',
      grant_id: grant.id,
      user: ana,
      resource: 'billing',
      starts_at: grant.starts_at.toISOString(),
      ends_at: grant.ends_at.toISOString(),
    });
  });

  it('sends a signed extend when an extension moves the end, one event id per extension', async () => {
    const grant = await approvedGrant('quarter close');
    const newEnds: string[] = [];
    for (const reason of ['the close runs over', 'and over']) {
      const asked = await service.extend(grant.id, ana, { reason, duration: '30m' });
      if (!asked.ok) throw new Error(JSON.stringify(asked.refusal));
      const approved = await service.approve(asked.request.id, dana);
      if (!approved.ok || !approved.grant) throw new Error(JSON.stringify(approved));
      newEnds.push(approved.grant.endsAt.toISOString());
    }
    expect(receiver.received.map((r) => [r.event.type, r.event.id, r.event.ends_at, r.verified])).toEqual([
      ['grant', `${grant.id}:grant`, grant.ends_at.toISOString(), true],
      ['extend', `${grant.id}:extend:${newEnds[0]}`, newEnds[0], true],
      ['extend', `${grant.id}:extend:${newEnds[1]}`, newEnds[1], true],
    ]);
    await service.release(grant.id, ana);
  });

  it('retries a grant the receiver failed, with the same event id, until it answers 2xx', async () => {
    receiver.statuses.push(503);
    const grant = await approvedGrant('first try fails');
    expect(grant).toMatchObject({
      status: 'provision_failed',
      last_error: expect.stringContaining('answered 503 to grant: receiver is down'),
    });
    clock.now = new Date(grant.next_attempt_at!.getTime() + 1);
    expect(await service.retryGrants()).toBe(1);
    const after = await t.db.selectFrom('grants').select('status').where('id', '=', grant.id).executeTakeFirstOrThrow();
    expect(after.status).toBe('active');
    expect(receiver.received.map((r) => r.event.id)).toEqual([`${grant.id}:grant`, `${grant.id}:grant`]);
    await service.release(grant.id, ana);
  });

  it('counts a receiver that does not answer in time as a failure, and the holder hears of it', async () => {
    receiver.statuses.push('hang');
    const grant = await approvedGrant('receiver hangs');
    expect(grant).toMatchObject({
      status: 'provision_failed',
      last_error: expect.stringContaining('grant: no answer within 1000 ms'),
    });
    const told = await t.query<{ n: string }>(
      `select count(*) as n from outbox where kind = 'notify_grant_failing' and payload ->> 'grantId' = $1`,
      [grant.id],
    );
    expect(Number(told.rows[0]?.n)).toBe(1);
    await t.audit.flush();
    const logged = await t.db
      .selectFrom('audit_log')
      .select(['action', 'body'])
      .where('subject', '=', grant.id)
      .orderBy('seq')
      .execute();
    expect(logged.map((e) => e.action)).toContain('grant.provision_failed');
    // The secret never reaches the record.
    expect(JSON.stringify(logged)).not.toContain(SECRET);
  });

  it('retries a revoke the receiver refuses, recording each failed attempt for the watcher, and ends the grant when it answers', async () => {
    const grant = await approvedGrant('revoke keeps failing', bram);
    // Grants the earlier tests left failing would take their turn in the retries: settle them.
    await t.query(`update grants set status = 'ended', ended_at = now() where id <> $1`, [grant.id]);
    receiver.statuses.push(500, 500, 500, 500);
    await service.release(grant.id, bram);
    for (let attempt = 1; attempt <= 4; attempt++) {
      const row = await t.db.selectFrom('grants').selectAll().where('id', '=', grant.id).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'revoke_failed', attempts: attempt });
      clock.now = new Date(row.next_attempt_at!.getTime() + 1);
      await service.retryGrants();
    }
    const ended = await t.db.selectFrom('grants').select('status').where('id', '=', grant.id).executeTakeFirstOrThrow();
    expect(ended.status).toBe('ended');
    expect(receiver.received.filter((r) => r.event.type === 'revoke')).toHaveLength(5);
    // The watcher alerts on a revocation that keeps failing (stuck access), from these events;
    // the revocation itself queues no alert of its own any more.
    await t.audit.flush();
    const failures = await t.db
      .selectFrom('audit_log')
      .select('body')
      .where('action', '=', 'grant.revoke_failed')
      .where('subject', '=', grant.id)
      .orderBy('seq')
      .execute();
    expect(failures.map((e) => e.body.attempt)).toEqual([1, 2, 3, 4]);
    const queued = await t.query<{ kind: string }>(`select kind from outbox where payload ->> 'grantId' = $1`, [
      grant.id,
    ]);
    expect(queued.rows.map((r) => r.kind)).not.toContain('notify_grant_revoke_alert');
    expect(queued.rows.filter((r) => r.kind === 'notify_grant_failing')).toHaveLength(1);
  });
});
