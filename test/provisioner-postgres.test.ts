import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessService } from '../src/access/service.ts';
import { silentLogger } from '../src/log.ts';
import { checkProvisioners, provisionerFor, ProvisionerSetupError } from '../src/provisioners/index.ts';
import { closePostgresTargets, roleNameFor } from '../src/provisioners/postgres.ts';
import { SecretBox } from '../src/secrets/sealed.ts';
import { PEOPLE, billingDbPolicy, loadedPolicy } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { approveFromCard, dmTo, fileRequest } from './support/slack-stories.ts';
import { connectAs } from './support/postgres-target.ts';

const { ana, dana } = PEOPLE;
const SECRETS_KEY = randomBytes(32).toString('hex');
/** Roles are cluster-wide: one of this run's own. */
const READONLY = `readonly_${randomBytes(4).toString('hex')}`;

const POLICY = billingDbPolicy(READONLY);

describe('the postgres provisioner', () => {
  let t: TestDatabase;
  let target: TestDatabase;
  let service: AccessService;
  const box = SecretBox.fromEnv(SECRETS_KEY)!;

  beforeAll(async () => {
    t = await createTestDatabase();
    target = await createTestDatabase({ migrate: false });
    await target.query('create table invoices (id int primary key, total numeric)');
    await target.query('insert into invoices values (1, 9.99), (2, 120)');
    await target.query(`create role ${READONLY} nologin`);
    await target.query(`grant select on invoices to ${READONLY}`);
    const policy = loadedPolicy(POLICY);
    const env = { BILLING_DB_ADMIN_URL: target.url, GATEHOUSE_SECRETS_KEY: SECRETS_KEY };
    checkProvisioners(policy, env);
    service = new AccessService({
      db: t.db,
      audit: t.audit,
      policy: () => policy,
      provisionerFor: (c) => provisionerFor(c, env),
      log: silentLogger(),
      now: () => new Date(),
      secrets: box,
    });
  });
  afterAll(async () => {
    await closePostgresTargets();
    // The role holds privileges in the target database: drop that first, then the role.
    await target.destroy();
    await t.query(`drop role if exists ${READONLY}`);
    await t.destroy();
  });

  it('refuses to start without the connection variable or the secrets key, naming what to set', () => {
    const policy = loadedPolicy(POLICY);
    expect(() => checkProvisioners(policy, { GATEHOUSE_SECRETS_KEY: SECRETS_KEY })).toThrow(
      'test-policy.yml resources[0].provisioner.connection_env (resource billing-db): BILLING_DB_ADMIN_URL is not set: set it to a connection string for the target database',
    );
    expect(() => checkProvisioners(policy, { BILLING_DB_ADMIN_URL: 'postgres://x' })).toThrow(ProvisionerSetupError);
    expect(() => checkProvisioners(policy, { BILLING_DB_ADMIN_URL: 'postgres://x' })).toThrow(
      'GATEHOUSE_SECRETS_KEY is not set',
    );
  });

  it('gives a login that can read during the grant, and takes it away for certain at the end', async () => {
    const filed = await service.request({ requester: ana, resourceId: 'billing-db', reason: 'reconcile November' });
    if (!filed.ok) throw new Error(JSON.stringify(filed.refusal));
    expect((await service.approve(filed.request.id, dana)).ok).toBe(true);
    const grant = await t.db
      .selectFrom('grants')
      .selectAll()
      .where('request_id', '=', filed.request.id)
      .executeTakeFirstOrThrow();
    expect(grant.status).toBe('active');

    // The credentials wait sealed, for the holder's direct message only.
    const credentials = JSON.parse(box.open(grant.delivery_secret!, grant.id)) as Record<string, string>;
    expect(credentials.user).toBe(roleNameFor(grant.id));
    expect(grant.delivery_secret!.toString('latin1')).not.toContain(credentials.password);
    const role = await target.query<{ rolvaliduntil: Date; rolcanlogin: boolean }>(
      'select rolvaliduntil, rolcanlogin from pg_roles where rolname = $1',
      [credentials.user],
    );
    expect(role.rows[0]).toEqual({ rolvaliduntil: grant.ends_at, rolcanlogin: true });

    const session = await connectAs(credentials);
    expect((await session.query('select count(*)::int as n from invoices')).rows[0]).toEqual({ n: 2 });
    await expect(session.query('insert into invoices values (3, 1)')).rejects.toThrow(/permission denied/);
    await expect(connectAs({ ...credentials, password: 'not-it' })).rejects.toThrow(/password authentication failed/);

    // The record keeps the role and a fingerprint, never the password.
    await t.audit.flush();
    const active = await t.db
      .selectFrom('audit_log')
      .select('body')
      .where('action', '=', 'grant.active')
      .where('subject', '=', grant.id)
      .executeTakeFirstOrThrow();
    expect(active.body).toMatchObject({
      role: credentials.user,
      roles: [READONLY],
      credential_sha256: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    const everything = JSON.stringify([
      await t.query('select canonical from audit_events'),
      await t.query('select payload, last_error from outbox'),
    ]);
    expect(everything).not.toContain(credentials.password);

    // An extension moves the login's VALID UNTIL and nothing else: the open session goes on, the password still works.
    const asked = await service.extend(grant.id, ana, { reason: 'the reconciliation runs over', duration: '30m' });
    if (!asked.ok) throw new Error(JSON.stringify(asked.refusal));
    const extended = await service.approve(asked.request.id, dana);
    expect(extended).toMatchObject({ ok: true, grant: { id: grant.id, status: 'active' } });
    const newEnd = new Date(grant.ends_at.getTime() + 30 * 60_000);
    const moved = await target.query<{ rolvaliduntil: Date }>('select rolvaliduntil from pg_roles where rolname = $1', [
      credentials.user,
    ]);
    expect(moved.rows[0]?.rolvaliduntil).toEqual(newEnd);
    expect((await session.query('select 1 as still')).rows[0]).toEqual({ still: 1 });
    const again = await connectAs(credentials);
    await again.end();
    expect(await t.db.selectFrom('grants').select('id').where('user_id', '=', ana).execute()).toHaveLength(1);
    await t.audit.flush();
    const applied = await t.db
      .selectFrom('audit_log')
      .select('body')
      .where('action', '=', 'grant.extended')
      .where('subject', '=', grant.id)
      .executeTakeFirstOrThrow();
    expect(applied.body).toMatchObject({
      role: credentials.user,
      valid_until: newEnd.toISOString(),
      ends_at: newEnd.toISOString(),
    });

    // The end: the open session is cut, a new login is refused, the role is gone.
    expect((await service.release(grant.id, ana)).ok).toBe(true);
    await expect(session.query('select 1')).rejects.toThrow();
    await expect(connectAs(credentials)).rejects.toThrow(/password authentication failed|does not exist/);
    expect((await target.query('select 1 from pg_roles where rolname = $1', [credentials.user])).rowCount).toBe(0);
    const ended = await t.db
      .selectFrom('grants')
      .select(['status', 'delivery_secret'])
      .where('id', '=', grant.id)
      .executeTakeFirstOrThrow();
    expect(ended).toEqual({ status: 'ended', delivery_secret: null });
    await session.end().catch(() => undefined);
  });

  it('is idempotent: a grant retried after its role was made gets a fresh password that works, and revoking twice is fine', async () => {
    const provisioner = provisionerFor(loadedPolicy(POLICY).policy.resources[0]!.provisioner, {
      BILLING_DB_ADMIN_URL: target.url,
    });
    const grant = {
      id: 'grt_retry_me',
      requestId: 'req_x',
      userId: ana,
      resourceId: 'billing-db',
      resourceName: 'Billing',
      status: 'provisioning' as const,
      startsAt: new Date(),
      endsAt: new Date(Date.now() + 3_600_000),
      endedAt: null,
      endReason: null,
      lastError: null,
    };
    const first = await provisioner.grant(grant);
    const second = await provisioner.grant(grant);
    expect(second?.secret?.password).not.toBe(first?.secret?.password);
    const session = await connectAs(second!.secret!);
    await session.end();
    await expect(connectAs(first!.secret!)).rejects.toThrow(/password authentication failed/);
    await provisioner.revoke(grant);
    await provisioner.revoke(grant);
    expect((await target.query('select 1 from pg_roles where rolname = $1', [roleNameFor(grant.id)])).rowCount).toBe(0);
  });
});

describe('a postgres grant in Slack', () => {
  let target: TestDatabase;
  let bot: RunningBot;
  let loginRole: string | null = null;

  beforeAll(async () => {
    target = await createTestDatabase({ migrate: false });
    await target.query(`create role ${READONLY}_slack nologin`);
    // The connection string is the environment's, as in production; the policy names the variable.
    process.env.BILLING_DB_ADMIN_URL = target.url;
    bot = await startBot({
      policy: POLICY.replace(`roles: [${READONLY}]`, `roles: [${READONLY}_slack]`),
      env: { GATEHOUSE_SECRETS_KEY: SECRETS_KEY },
    });
  });
  afterAll(async () => {
    await bot.stop();
    delete process.env.BILLING_DB_ADMIN_URL;
    await closePostgresTargets();
    // The grant is still live at the end of the test: its login role goes with the rest.
    if (loginRole) await target.query(`drop role if exists ${loginRole}`);
    await target.query(`drop role if exists ${READONLY}_slack`);
    await target.destroy();
  });

  it('sends the login by direct message only, then forgets it', async () => {
    const requestId = await fileRequest(bot, ana, 'billing-db 1h check the ledger');
    await approveFromCard(bot, dana, requestId);
    const dm = await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /Your login for/), { timeoutMs: 15_000 });
    expect(String(dm.args.text)).not.toMatch(/password/);
    const grant = await bot.t.db
      .selectFrom('grants')
      .select(['id'])
      .where('request_id', '=', requestId)
      .executeTakeFirstOrThrow();
    const shown = JSON.stringify(dm.args.blocks);
    loginRole = roleNameFor(grant.id);
    expect(shown).toContain(`user: ${loginRole}`);
    const password = /password: ([A-Za-z0-9_-]+)/.exec(shown)?.[1];
    expect(password).toBeDefined();

    // Only the holder's DM has it: not the channel, not the cards, not the record.
    await bot.settle();
    const elsewhere = JSON.stringify(bot.fake.calls.filter((call) => call !== dm).map((call) => call.args));
    expect(elsewhere).not.toContain(password);
    expect(JSON.stringify((await bot.t.query('select canonical from audit_events')).rows)).not.toContain(password);
    // Sent once, then forgotten.
    const sealed = async () =>
      (
        await bot.t.db
          .selectFrom('grants')
          .select('delivery_secret')
          .where('id', '=', grant.id)
          .executeTakeFirstOrThrow()
      ).delivery_secret;
    while ((await sealed()) !== null) await new Promise((resolve) => setImmediate(resolve));
  });
});

describe('the reconcile sweep', () => {
  let t: TestDatabase;
  let target: TestDatabase;
  let service: AccessService;

  beforeAll(async () => {
    t = await createTestDatabase();
    target = await createTestDatabase({ migrate: false });
    await target.query(`create role ${READONLY}_rec nologin`);
    const policy = loadedPolicy(POLICY.replace(`roles: [${READONLY}]`, `roles: [${READONLY}_rec]`));
    const env = { BILLING_DB_ADMIN_URL: target.url };
    service = new AccessService({
      db: t.db,
      audit: t.audit,
      policy: () => policy,
      provisionerFor: (c) => provisionerFor(c, env),
      log: silentLogger(),
      now: () => new Date(),
      secrets: SecretBox.fromEnv(SECRETS_KEY),
    });
  });
  afterAll(async () => {
    await closePostgresTargets();
    await target.query(`drop role if exists ${READONLY}_rec`);
    await target.destroy();
    await t.destroy();
  });

  it('drops a role re-created by hand after its grant ended, and one no grant made, and leaves live ones', async () => {
    const filed = await service.request({ requester: ana, resourceId: 'billing-db', reason: 'quarter close' });
    if (!filed.ok) throw new Error(JSON.stringify(filed.refusal));
    await service.approve(filed.request.id, dana);
    const live = await t.db
      .selectFrom('grants')
      .select('id')
      .where('request_id', '=', filed.request.id)
      .executeTakeFirstOrThrow();
    const ended = { id: 'grt_endedlongago' };
    const readded = roleNameFor(ended.id);
    const stray = roleNameFor('grt_neverexisted');
    // Someone with rights on the target re-adds access by hand.
    await target.query(`create role ${readded} login password 'by-hand' in role ${READONLY}_rec`);
    await target.query(`create role ${stray} login password 'by-hand' in role ${READONLY}_rec`);
    // A role of the same name pattern that is not in this resource's roles is someone else's.
    await target.query(`create role ${roleNameFor('grt_otherdeploy')} login password 'theirs'`);
    const roles = async () =>
      (
        await target.query<{ rolname: string }>(
          `select rolname from pg_roles where rolname like 'gatehouse\\_grt\\_%' order by rolname`,
        )
      ).rows.map((r) => r.rolname);

    expect(await service.reconcileGrants()).toBe(2);
    expect(await roles()).toEqual([roleNameFor(live.id), roleNameFor('grt_otherdeploy')].sort());
    await target.query(`drop role ${roleNameFor('grt_otherdeploy')}`);
    await t.audit.flush();
    const drift = await t.db
      .selectFrom('audit_log')
      .select(['subject', 'body'])
      .where('action', '=', 'grant.drift_revoked')
      .orderBy('subject')
      .execute();
    // Each with what the target showed after the revoke: no login, membership or session left.
    const gone = { role_exists: false, can_login: false, memberships: [], sessions: 0 };
    expect(drift).toEqual([
      {
        subject: ended.id,
        body: {
          resource: 'billing-db',
          user: null,
          grant_status: 'unknown',
          role: readded,
          memberships_removed: [`${READONLY}_rec`],
          sessions_ended: 0,
          access_left: gone,
        },
      },
      {
        subject: 'grt_neverexisted',
        body: {
          resource: 'billing-db',
          user: null,
          grant_status: 'unknown',
          role: stray,
          memberships_removed: [`${READONLY}_rec`],
          sessions_ended: 0,
          access_left: gone,
        },
      },
    ]);
    // Nothing left to do: a second run changes nothing.
    expect(await service.reconcileGrants()).toBe(0);
    await service.release(live.id, ana);
  });
});
