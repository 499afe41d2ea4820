import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessService } from '../src/access/service.ts';
import { EmbeddedCluster } from '../src/db/embedded.ts';
import { FakeSlack } from '../src/sandbox/fake-slack/fake-slack.ts';
import { silentLogger } from '../src/log.ts';
import { provisionerFor } from '../src/provisioners/index.ts';
import { checkPostgresTarget, ownDatabaseOf } from '../src/provisioners/postgres-checks.ts';
import { closePostgresTargets, roleNameFor } from '../src/provisioners/postgres.ts';
import { SecretBox } from '../src/secrets/sealed.ts';
import { PEOPLE, billingDbPolicy, loadedPolicy } from './support/access.ts';
import { adminUrl, createTestDatabase, type TestDatabase } from './support/db.ts';
import { startBot } from './support/gatehouse.ts';
import { connectAs } from './support/postgres-target.ts';

const { ana, dana } = PEOPLE;
const SECRETS_KEY = randomBytes(32).toString('hex');
/** Debian's PostgreSQL 15, on every machine this project runs on (CI's included). */
const PG15_BIN = '/usr/lib/postgresql/15/bin';

/** A server to provision on: its superuser's URL for `database`, and how to stop it. */
interface Server {
  url(database: string): string;
  stop(): Promise<void>;
}

/** The embedded PostgreSQL 18 the whole run shares. */
async function embedded18(): Promise<Server> {
  return {
    url(database) {
      const url = new URL(adminUrl());
      url.pathname = `/${database}`;
      return url.toString();
    },
    async stop() {},
  };
}

/** Debian's PostgreSQL 15, started for this file in a directory of its own. */
async function debian15(): Promise<Server> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-pg15-'));
  // As root the cluster runs as `postgres`, which must be able to reach its directory.
  await chmod(dataDir, 0o755);
  const cluster = await EmbeddedCluster.open({ dataDir, log: silentLogger(), binDir: PG15_BIN, database: 'postgres' });
  return {
    url: (database) => cluster.url(database),
    async stop() {
      await cluster.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function run(url: string, ...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

function as(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = password;
  return parsed.toString();
}

describe.each([
  ['the embedded PostgreSQL 18', embedded18],
  ["Debian's PostgreSQL 15", debian15],
])('revoking a postgres grant on %s, with the least-privilege admin the docs ask for', (_name, start) => {
  const suffix = randomBytes(4).toString('hex');
  const targetDb = `billing_${suffix}`;
  const otherDb = `other_${suffix}`;
  const readonly = `readonly_${suffix}`;
  const admin = `gh_admin_${suffix}`;
  const password = randomBytes(12).toString('hex');
  let server: Server;
  let version: number;
  let adminTargetUrl: string;
  let t: TestDatabase;
  let now: Date;
  let service: AccessService;

  const policyText = billingDbPolicy(readonly);

  beforeAll(async () => {
    server = await start();
    const superuser = server.url('postgres');
    await run(superuser, `create database ${targetDb}`, `create database ${otherDb}`);
    // docs/provisioners.md, "Set up once", as written.
    await run(
      server.url(targetDb),
      `create role ${readonly} nologin`,
      'create table invoices (id int primary key, total numeric)',
      'insert into invoices values (1, 9.99), (2, 120)',
      `grant select on invoices to ${readonly}`,
      `create role ${admin} login createrole password '${password}'`,
      `grant ${readonly} to ${admin} with admin option`,
    );
    const probe = new pg.Client({ connectionString: superuser });
    await probe.connect();
    version = Number(
      (await probe.query<{ v: string }>(`select current_setting('server_version_num') as v`)).rows[0]!.v,
    );
    await probe.end();
    adminTargetUrl = as(server.url(targetDb), admin, password);

    t = await createTestDatabase();
    now = new Date();
    const policy = loadedPolicy(policyText);
    const env = { BILLING_DB_ADMIN_URL: adminTargetUrl };
    service = new AccessService({
      db: t.db,
      audit: t.audit,
      policy: () => policy,
      provisionerFor: (c) => provisionerFor(c, env),
      log: silentLogger(),
      now: () => now,
      secrets: SecretBox.fromEnv(SECRETS_KEY),
    });
  });

  afterAll(async () => {
    await closePostgresTargets();
    await t?.destroy();
    const superuser = server.url('postgres');
    await run(
      superuser,
      `drop database if exists ${targetDb} with (force)`,
      `drop database if exists ${otherDb} with (force)`,
    );
    await run(superuser, `drop role if exists ${readonly}`, `drop role if exists ${admin}`).catch(() => undefined);
    await server.stop();
  });

  /** A grant approved now, for an hour, with the credentials its holder was sent. */
  async function activeGrant(reason: string): Promise<{ grantId: string; credentials: Record<string, string> }> {
    const filed = await service.request({ requester: ana, resourceId: 'billing-db', reason });
    if (!filed.ok) throw new Error(JSON.stringify(filed.refusal));
    expect((await service.approve(filed.request.id, dana)).ok).toBe(true);
    const grant = await t.db
      .selectFrom('grants')
      .selectAll()
      .where('request_id', '=', filed.request.id)
      .executeTakeFirstOrThrow();
    expect(grant.status).toBe('active');
    return {
      grantId: grant.id,
      credentials: JSON.parse(SecretBox.fromEnv(SECRETS_KEY)!.open(grant.delivery_secret!, grant.id)) as Record<
        string,
        string
      >,
    };
  }

  async function revokedEvent(grantId: string): Promise<Record<string, unknown>> {
    await t.audit.flush();
    const row = await t.db
      .selectFrom('audit_log')
      .select('body')
      .where('action', '=', 'grant.revoked')
      .where('subject', '=', grantId)
      .executeTakeFirstOrThrow();
    return row.body as Record<string, unknown>;
  }

  it('finds at start-up that the admin can do every step, and warns where a granted login could reach another database', async () => {
    // As if Gatehouse kept its own records in the other database of this server.
    const own = new pg.Client({ connectionString: server.url(otherDb) });
    await own.connect();
    const ownDatabase = await ownDatabaseOf(own);
    await own.end();
    expect(ownDatabase).toMatchObject({ name: otherDb, systemIdentifier: expect.stringMatching(/^\d+$/) });
    const check = await checkPostgresTarget(adminTargetUrl, [readonly], ownDatabase);
    expect(check.problems).toEqual([]);
    expect(check.warnings).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `a granted login can connect to other databases of this cluster: .*${otherDb}.* \\(${otherDb} is Gatehouse's own database\\)`,
        ),
      ),
    );
    expect(check.warnings).toContainEqual(expect.stringContaining(`REVOKE CONNECT ON DATABASE <name> FROM PUBLIC`));
    // A database of the same name on another server is not Gatehouse's.
    const elsewhere = await checkPostgresTarget(adminTargetUrl, [readonly], { systemIdentifier: '1', name: otherDb });
    expect(elsewhere.warnings.join('\n')).not.toContain("Gatehouse's own");

    // Once the operator follows the advice, the warning about that database goes.
    await run(server.url(otherDb), `revoke connect on database ${otherDb} from public`);
    const after = await checkPostgresTarget(adminTargetUrl, [readonly]);
    expect(after.warnings.join('\n')).not.toContain(otherDb);
    await run(server.url(otherDb), `grant connect on database ${otherDb} to public`);
  });

  it('stops the start with what the admin lacks and the exact statement that fixes it', async () => {
    const weak = `gh_weak_${suffix}`;
    const plain = `gh_plain_${suffix}`;
    await run(
      server.url(targetDb),
      `create role ${weak} login createrole password '${password}'`,
      `create role ${plain} login password '${password}'`,
    );
    try {
      const weakCheck = await checkPostgresTarget(as(server.url(targetDb), weak, password), [readonly]);
      if (version >= 160000) {
        expect(weakCheck.problems).toEqual([
          `${weak} cannot give or take ${readonly} (PostgreSQL 16 and newer need ADMIN OPTION): run GRANT "${readonly}" TO "${weak}" WITH ADMIN OPTION;`,
        ]);
      } else {
        // Up to 15, CREATEROLE alone may give and take any role that is not a superuser.
        expect(weakCheck.problems).toEqual([]);
      }
      const plainCheck = await checkPostgresTarget(as(server.url(targetDb), plain, password), [
        readonly,
        'no_such_role',
      ]);
      expect(plainCheck.problems).toContain(`${plain} may not create roles: run ALTER ROLE "${plain}" CREATEROLE;`);
      expect(plainCheck.problems).toContainEqual(expect.stringContaining('role no_such_role does not exist'));
      const unreachable = await checkPostgresTarget(as(server.url(targetDb), admin, 'not-the-password'), [readonly]);
      expect(unreachable.problems).toEqual([
        expect.stringMatching(
          new RegExp(`^cannot connect to 127\\.0\\.0\\.1:\\d+/${targetDb} as ${admin}: password authentication failed`),
        ),
      ]);
    } finally {
      await run(server.url(targetDb), `drop role ${weak}`, `drop role ${plain}`);
    }
    // The rehearsal rolled back: no throwaway role is left.
    const client = new pg.Client({ connectionString: server.url('postgres') });
    await client.connect();
    expect(
      (await client.query(`select rolname from pg_roles where rolname like 'gatehouse\\_check\\_%'`)).rows,
    ).toEqual([]);
    await client.end();
  });

  it('cuts a session held open across the end of the grant, refuses the next login, and records what it found', async () => {
    const { grantId, credentials } = await activeGrant('reconcile November');
    const session = await connectAs(credentials);
    expect((await session.query('select count(*)::int as n from invoices')).rows[0]).toEqual({ n: 2 });

    // The grant's time is up: the sweep ends it.
    now = new Date(now.getTime() + 2 * 3_600_000);
    expect(await service.endDueGrants()).toBe(1);
    await expect(session.query('select count(*) from invoices')).rejects.toThrow();
    await session.end().catch(() => undefined);
    await expect(connectAs(credentials)).rejects.toThrow(/password authentication failed|does not exist/);

    const body = await revokedEvent(grantId);
    expect(body).toMatchObject({
      reason: 'expired',
      role: roleNameFor(grantId),
      memberships_removed: [readonly],
      sessions_ended: 1,
      access_left: { role_exists: false, can_login: false, memberships: [], sessions: 0 },
    });
    expect(body).not.toHaveProperty('role_left_behind');
  });

  it('ends the access even when the role cannot be dropped, and says what was left behind', async () => {
    const { grantId, credentials } = await activeGrant('export for the auditors');
    // Someone made the login own a table in another database, where the revoke cannot reach.
    await run(
      server.url(otherDb),
      'create table exported (id int)',
      `alter table exported owner to ${credentials.user}`,
    );
    const session = await connectAs(credentials);
    expect((await service.release(grantId, ana)).ok).toBe(true);
    await expect(session.query('select 1')).rejects.toThrow();
    await session.end().catch(() => undefined);

    const body = await revokedEvent(grantId);
    expect(body).toMatchObject({
      reason: 'released',
      sessions_ended: 1,
      access_left: { role_exists: true, can_login: false, memberships: [], sessions: 0 },
      role_left_behind: expect.stringContaining('cannot be dropped'),
    });
    await run(server.url(otherDb), 'drop table exported');
    await run(server.url(targetDb), `drop role ${credentials.user}`);
  });

  it('fails a revoke that leaves access in place, naming it, runs every other step, and finishes on the retry', async () => {
    const { grantId, credentials } = await activeGrant('month end');
    // Someone with more rights than Gatehouse's admin adds the login to a role it cannot
    // take back (a superuser's), and makes it own a table elsewhere, so it cannot be dropped.
    const powerful = `powerful_${suffix}`;
    await run(
      server.url('postgres'),
      `create role ${powerful} superuser nologin`,
      `grant ${powerful} to ${credentials.user}`,
    );
    await run(server.url(otherDb), 'create table kept (id int)', `alter table kept owner to ${credentials.user}`);
    const session = await connectAs(credentials);

    const released = await service.release(grantId, ana);
    expect(released.ok && released.grant.status).toBe('revoke_failed');
    const grant = await t.db
      .selectFrom('grants')
      .select(['status', 'last_error'])
      .where('id', '=', grantId)
      .executeTakeFirstOrThrow();
    expect(grant.last_error).toContain(`access still in place: ${credentials.user} is still a member of ${powerful}`);
    // The steps after the one that failed still ran: no login, no session, no other membership.
    await expect(session.query('select 1')).rejects.toThrow();
    await session.end().catch(() => undefined);
    await expect(connectAs(credentials)).rejects.toThrow(/password authentication failed|not permitted to log in/);
    const left = await new pg.Client({ connectionString: server.url(targetDb) });
    await left.connect();
    const memberships = await left.query<{ rolname: string }>(
      'select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles r on r.oid = m.member where r.rolname = $1',
      [credentials.user],
    );
    expect(memberships.rows.map((row) => row.rolname)).toEqual([powerful]);
    await left.end();

    // An operator takes back what Gatehouse could not; the retry finishes and records it.
    await run(server.url('postgres'), `revoke ${powerful} from ${credentials.user}`);
    now = new Date(now.getTime() + 3_600_000);
    expect(await service.retryGrants()).toBe(1);
    expect(await revokedEvent(grantId)).toMatchObject({
      access_left: { can_login: false, memberships: [], sessions: 0 },
    });
    await run(server.url(otherDb), 'drop table kept');
    await run(server.url('postgres'), `drop role if exists ${credentials.user}`, `drop role ${powerful}`);
  });

  it('never takes its own admin for a grant, even one named like the logins it makes', async () => {
    // The docs once named the admin gatehouse_admin: it is a member of the roles a grant
    // joins (ADMIN OPTION), and its name starts like a grant's login.
    const lookalike = `gatehouse_admin_${suffix}`;
    await run(
      server.url(targetDb),
      `create role ${lookalike} login createrole password '${password}'`,
      `grant ${readonly} to ${lookalike} with admin option`,
    );
    try {
      const settings = loadedPolicy(policyText).policy.resources[0]!.provisioner;
      const provisioner = provisionerFor(settings, {
        BILLING_DB_ADMIN_URL: as(server.url(targetDb), lookalike, password),
      });
      expect(await provisioner.inPlace!()).toEqual([]);
      // Asked to revoke the grant its name would belong to, it refuses, and can still log in.
      const grant = { id: `admin_${suffix}` } as Parameters<typeof provisioner.revoke>[0];
      await expect(provisioner.revoke(grant)).rejects.toThrow(`${lookalike} is the admin Gatehouse connects as`);
      const still = new pg.Client({ connectionString: as(server.url(targetDb), lookalike, password) });
      await still.connect();
      await still.end();
    } finally {
      await closePostgresTargets();
      await run(server.url(targetDb), `drop role ${lookalike}`);
    }
  });
});

describe('starting with a postgres target whose admin cannot do every step', () => {
  const suffix = randomBytes(4).toString('hex');
  const readonly = `readonly_${suffix}`;
  const weak = `gh_nocreaterole_${suffix}`;
  let target: TestDatabase;
  let t: TestDatabase;
  let fake: FakeSlack;

  beforeAll(async () => {
    target = await createTestDatabase({ migrate: false });
    await target.query(`create role ${readonly} nologin`);
    await target.query(`create role ${weak} login password 'weak-pw'`);
    t = await createTestDatabase({ migrate: false });
    fake = await FakeSlack.start();
  });
  afterAll(async () => {
    delete process.env.BILLING_DB_ADMIN_URL;
    await closePostgresTargets();
    await fake.stop();
    await t.destroy();
    await target.query(`drop role ${weak}`);
    await target.query(`drop role ${readonly}`);
    await target.destroy();
  });

  it('stops, naming the resource, the variable, what is missing and the statement to run', async () => {
    process.env.BILLING_DB_ADMIN_URL = as(target.url, weak, 'weak-pw');
    const policy = `
audit_channel: C0AUDIT01
groups:
  contractors: [${ana}]
resources:
  - id: billing-db
    name: Billing database
    owners: [${dana}]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner: { kind: postgres, connection_env: BILLING_DB_ADMIN_URL, roles: [${readonly}] }
`;
    await expect(startBot({ policy, fake, t, env: { GATEHOUSE_SECRETS_KEY: SECRETS_KEY } })).rejects.toThrow(
      `gatehouse.yml resources[0] (resource billing-db, BILLING_DB_ADMIN_URL): ${weak} may not create roles: run ALTER ROLE "${weak}" CREATEROLE;`,
    );
  });
});
