import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Config } from '../src/config/env.ts';
import { createLogger, silentLogger } from '../src/log.ts';
import { closePostgresTargets, roleNameFor } from '../src/provisioners/postgres.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { ACTION } from '../src/slack/blocks/ids.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { childEnv, logLines, runNode } from './support/process.ts';
import { buttonsIn } from './support/slack-stories.ts';

const ANA = 'U0SBPANA1';
const DANA = 'U0SBPDANA';
/** The variable the policy names for the target's admin connection: set, and reachable, in every test here. */
const TARGET_ENV = `SANDBOX_TEST_TARGET_${randomBytes(3).toString('hex').toUpperCase()}`;
/** Names a server nothing listens on: whatever tried to reach it would fail the start or the grant. */
const DOWN_ENV = `${TARGET_ENV}_DOWN`;
/** Roles are cluster-wide: one of this run's own. */
const READONLY = `readonly_${randomBytes(4).toString('hex')}`;

function policy(webhookUrl: string, options: { down?: boolean } = {}): string {
  const down = `
  - id: ledger-db
    name: Ledger database (its server is down)
    owners: [owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner: { kind: postgres, connection_env: ${DOWN_ENV}, roles: [${READONLY}] }
`;
  return `
audit_channel: C0SBPAUDIT
groups:
  contractors:
    - ${ANA} # Ana
  owners:
    - ${DANA} # Dana
resources:
  - id: billing-db
    name: Billing database
    owners: [owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner: { kind: postgres, connection_env: ${TARGET_ENV}, roles: [${READONLY}] }
  - id: hooks
    name: Hooked system
    owners: [owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner: { kind: webhook, url: "${webhookUrl}", secret_env: SANDBOX_TEST_WEBHOOK_SECRET_UNSET }
${options.down ? down : ''}`;
}

/** A config as `npm run sandbox` reads it, on `settings`. */
function sandboxConfig(settings: Record<string, string>): Config {
  return loadConfig({
    NODE_ENV: 'development',
    PORT: '0',
    GATEHOUSE_SANDBOX_PORT: '0',
    AUDIT_SEQUENCER_INTERVAL_MS: '20',
    ...settings,
  });
}

/** What the page does: POST /sandbox/do/<action>. */
async function act(sandbox: Sandbox, action: string, body: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${sandbox.url}sandbox/do/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status, await response.clone().text()).toBe(200);
}

/** A message in `userId`'s DMs with a button `actionId`, once the bot has posted it; with that button's value. */
async function buttonInDMs(
  sandbox: Sandbox,
  userId: string,
  actionId: string,
  mentioning: string,
): Promise<{ channel: string; ts: string; value: string }> {
  const has = (blocks: unknown) =>
    JSON.stringify(blocks ?? []).includes(mentioning) && buttonsIn(blocks).some((b) => b.actionId === actionId);
  await sandbox.fake.waitForCall(
    'chat.postMessage',
    (call) => call.args.channel === `D${userId}` && has(call.args.blocks),
    { timeoutMs: 20_000 },
  );
  const message = sandbox.fake.dmsTo(userId).find((m) => has(m.blocks))!;
  return {
    channel: message.channel,
    ts: message.ts,
    value: buttonsIn(message.blocks).find((b) => b.actionId === actionId)!.value!,
  };
}

/** Ana asks for `resource`, Dana approves it on her card; resolves with the grant once it is active. */
async function approvedGrant(sandbox: Sandbox, t: TestDatabase, resource: string): Promise<string> {
  await act(sandbox, 'command', {
    user: ANA,
    channel: `D${ANA}`,
    text: `/request-access ${resource} 1h sandbox provisioning test`,
  });
  const card = await buttonInDMs(sandbox, DANA, ACTION.approve, resource);
  await act(sandbox, 'click', {
    user: DANA,
    actionId: ACTION.approve,
    value: card.value,
    surface: { message: { channel: card.channel, ts: card.ts } },
  });
  return waitForGrant(t, card.value, 'active');
}

async function waitForGrant(t: TestDatabase, requestId: string, status: string): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const row = await t.db
      .selectFrom('grants')
      .select(['id', 'status'])
      .where('request_id', '=', requestId)
      .executeTakeFirst();
    if (row?.status === status) return row.id;
    if (Date.now() > deadline) throw new Error(`grant of ${requestId} is ${row?.status ?? 'missing'}, not ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Ana presses I'm done on the message saying her grant is active; resolves once it has ended. */
async function release(sandbox: Sandbox, t: TestDatabase, grantId: string): Promise<void> {
  const active = await buttonInDMs(sandbox, ANA, ACTION.endGrant, grantId);
  await act(sandbox, 'click', {
    user: ANA,
    actionId: ACTION.endGrant,
    value: active.value,
    surface: { message: { channel: active.channel, ts: active.ts } },
  });
  const deadline = Date.now() + 20_000;
  while (
    (await t.db.selectFrom('grants').select('status').where('id', '=', grantId).executeTakeFirstOrThrow()).status !==
    'ended'
  ) {
    if (Date.now() > deadline) {
      const row = await t.db
        .selectFrom('grants')
        .select(['status', 'last_error'])
        .where('id', '=', grantId)
        .executeTakeFirstOrThrow();
      throw new Error(`grant ${grantId} did not end: ${row.status} ${row.last_error ?? ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The body of the grant's `action` event, once chained. */
async function eventBody(
  sandbox: Sandbox,
  t: TestDatabase,
  action: string,
  grantId: string,
): Promise<Record<string, unknown>> {
  await sandbox.gatehouse.audit.flush();
  const { rows } = await t.query<{ body: Record<string, unknown> }>(
    'select body from audit_log where action = $1 and subject = $2',
    [action, grantId],
  );
  expect(rows).toHaveLength(1);
  return rows[0]!.body;
}

/**
 * The logins in the target that joined this run's role. Roles are cluster-wide, and other
 * test files make `gatehouse_…` roles of their own at the same time.
 */
async function grantedLogins(target: TestDatabase): Promise<{ rolname: string; rolcanlogin: boolean }[]> {
  const { rows } = await target.query<{ rolname: string; rolcanlogin: boolean }>(
    `select r.rolname, r.rolcanlogin from pg_roles r
     join pg_auth_members m on m.member = r.oid join pg_roles g on g.oid = m.roleid
     where g.rolname = $1`,
    [READONLY],
  );
  return rows;
}

async function roleExists(target: TestDatabase, name: string): Promise<boolean> {
  return (await target.query('select 1 from pg_roles where rolname = $1', [name])).rowCount === 1;
}

let target: TestDatabase;
let workDir: string;
let policyFile: string;
/** The same, with a postgres resource whose server is down, for the dry run. */
let policyWithDownTarget: string;
/** A webhook receiver that counts what it is sent: a dry run must send nothing. */
let receiver: http.Server;
let received = 0;
const databases: TestDatabase[] = [];

async function database(): Promise<TestDatabase> {
  const t = await createTestDatabase({ migrate: false });
  databases.push(t);
  return t;
}

beforeAll(async () => {
  target = await createTestDatabase({ migrate: false });
  await target.query(`create role ${READONLY} nologin`);
  process.env[TARGET_ENV] = target.url;
  receiver = http.createServer((request, response) => {
    received += 1;
    request.resume();
    response.end('ok');
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const { port } = receiver.address() as { port: number };
  workDir = await mkdtemp(join(tmpdir(), 'gatehouse-sandbox-provisioning-'));
  policyFile = join(workDir, 'gatehouse.yml');
  // Credentials and a token in the URL: the record may name the receiver, never those.
  const webhookUrl = `http://hook-user:hook-pass@127.0.0.1:${port}/grant?token=hook-token`;
  await writeFile(policyFile, policy(webhookUrl));
  policyWithDownTarget = join(workDir, 'gatehouse-down.yml');
  await writeFile(policyWithDownTarget, policy(webhookUrl, { down: true }));
});

afterAll(async () => {
  delete process.env[TARGET_ENV];
  delete process.env[DOWN_ENV];
  await closePostgresTargets();
  await new Promise((resolve) => receiver?.close(resolve));
  await target?.destroy();
  // The role is the cluster's: dropped through another database once the target is gone.
  await databases[0]?.query(`drop role if exists ${READONLY}`);
  for (const t of databases) await t.destroy();
  await rm(workDir, { recursive: true, force: true });
});

describe('the sandbox in production', () => {
  it('is refused at start-up with NODE_ENV=production, naming the setting and what to do instead, before anything is touched', async () => {
    const t = await database();
    const settings = {
      NODE_ENV: 'production',
      DATABASE_URL: t.url,
      GATEHOUSE_POLICY: policyFile,
      PORT: '0',
      GATEHOUSE_SANDBOX_PORT: '0',
      LOG_LEVEL: 'info',
    };
    // `npm run sandbox`, even with every Slack setting a production start has.
    const exit = await runNode(
      ['--import', 'tsx', 'src/main.ts', '--sandbox'],
      childEnv({
        ...settings,
        SLACK_BOT_TOKEN: 'xoxb-production-token',
        SLACK_SIGNING_SECRET: 'production-secret',
        [TARGET_ENV]: target.url,
        GATEHOUSE_SECRETS_KEY: randomBytes(32).toString('hex'),
      }),
    );
    expect(exit.code, exit.output).toBe(1);
    expect(exit.stderr).toContain('The local Slack sandbox does not run with NODE_ENV=production');
    expect(exit.stderr).toContain('run `npm start` without --sandbox');
    // Refused before the database was opened: nothing migrated, nothing recorded.
    expect((await t.query(`select 1 from pg_tables where schemaname = 'public'`)).rowCount).toBe(0);
    expect(await grantedLogins(target)).toEqual([]);

    // And whoever calls it in code.
    await expect(startSandbox(loadConfig(settings), silentLogger())).rejects.toThrow(ConfigError);
  }, 60_000);
});

describe('the sandbox by default: provisioning is a dry run', () => {
  let t: TestDatabase;
  let sandbox: Sandbox;
  let logged = '';

  beforeAll(async () => {
    t = await database();
    const output = new PassThrough();
    output.on('data', (chunk: Buffer) => (logged += chunk.toString()));
    // No GATEHOUSE_SECRETS_KEY and no webhook secret: a dry run needs neither. And no
    // start-up check of a target runs: one of them is down.
    process.env[DOWN_ENV] = 'postgres://gatehouse:never-used@127.0.0.1:1/nowhere';
    sandbox = await startSandbox(
      sandboxConfig({ DATABASE_URL: t.url, GATEHOUSE_POLICY: policyWithDownTarget }),
      createLogger({ level: 'info', destination: output, pretty: false }),
    );
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  it('says so in its start-up log and in a banner on the page', async () => {
    const line = logLines(logged).find((l) => l.provisioning !== undefined);
    expect(line).toMatchObject({ provisioning: 'dry_run' });
    expect(line?.msg).toContain('Provisioning is a dry run');
    expect(line?.msg).toContain('billing-db (postgres), hooks (webhook), ledger-db (postgres)');
    expect(line?.msg).toContain('GATEHOUSE_SANDBOX_PROVISION=real');

    const page = await (await fetch(sandbox.url)).text();
    expect(page).toContain('id="provisioning"');
    const workspace = (await (await fetch(`${sandbox.url}sandbox/workspace`)).json()) as {
      provisioning: { mode: string; text: string };
    };
    expect(workspace.provisioning).toEqual({ mode: 'dry_run', text: line?.msg });
  });

  it('grants and revokes a postgres resource without touching its database, and the record says what would have been done', async () => {
    const grantId = await approvedGrant(sandbox, t, 'billing-db');
    expect(await eventBody(sandbox, t, 'grant.active', grantId)).toMatchObject({
      resource: 'billing-db',
      dry_run: true,
      would: { kind: 'postgres', connection_env: TARGET_ENV, role: roleNameFor(grantId), roles: [READONLY] },
    });
    expect(await grantedLogins(target)).toEqual([]);
    expect(await roleExists(target, roleNameFor(grantId))).toBe(false);
    // No login was made, so the message has none, and nothing waits sealed to be sent.
    const active = await buttonInDMs(sandbox, ANA, ACTION.endGrant, grantId);
    const shown = JSON.stringify(sandbox.fake.dmsTo(ANA).find((m) => m.ts === active.ts));
    expect(shown).toContain('is active until');
    expect(shown).not.toContain('Your login');
    expect(
      (await t.db.selectFrom('grants').select('delivery_secret').where('id', '=', grantId).executeTakeFirstOrThrow())
        .delivery_secret,
    ).toBeNull();

    await release(sandbox, t, grantId);
    expect(await grantedLogins(target)).toEqual([]);
    expect(await roleExists(target, roleNameFor(grantId))).toBe(false);
    expect(await eventBody(sandbox, t, 'grant.revoked', grantId)).toMatchObject({
      resource: 'billing-db',
      reason: 'released',
      dry_run: true,
      would: { kind: 'postgres', connection_env: TARGET_ENV, role: roleNameFor(grantId), roles: [READONLY] },
    });
  });

  it('sends a webhook nothing, and records its receiver without credentials or query', async () => {
    const grantId = await approvedGrant(sandbox, t, 'hooks');
    const body = await eventBody(sandbox, t, 'grant.active', grantId);
    expect(body).toMatchObject({
      dry_run: true,
      would: { kind: 'webhook', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/grant$/) },
    });
    expect(JSON.stringify(body)).not.toMatch(/hook-(user|pass|token)/);
    expect(received).toBe(0);
  });

  it('grants a postgres resource whose server is down: nothing tries to reach it', async () => {
    const grantId = await approvedGrant(sandbox, t, 'ledger-db');
    expect(await eventBody(sandbox, t, 'grant.active', grantId)).toMatchObject({
      dry_run: true,
      would: { kind: 'postgres', connection_env: DOWN_ENV },
    });
  });
});

describe('the sandbox with GATEHOUSE_SANDBOX_PROVISION=real', () => {
  let t: TestDatabase;
  let sandbox: Sandbox;

  beforeAll(async () => {
    t = await database();
    const settings = {
      DATABASE_URL: t.url,
      GATEHOUSE_POLICY: policyFile,
      GATEHOUSE_SANDBOX_PROVISION: 'real',
      GATEHOUSE_SECRETS_KEY: randomBytes(32).toString('hex'),
    };
    // The real provisioners check their settings at start-up, the webhook's secret included.
    await expect(startSandbox(sandboxConfig(settings), silentLogger())).rejects.toThrow(
      'SANDBOX_TEST_WEBHOOK_SECRET_UNSET is not set',
    );
    process.env.SANDBOX_TEST_WEBHOOK_SECRET_UNSET = 'whsec-sandbox-test';
    sandbox = await startSandbox(sandboxConfig(settings), silentLogger());
  });

  afterAll(async () => {
    delete process.env.SANDBOX_TEST_WEBHOOK_SECRET_UNSET;
    await sandbox?.stop();
  });

  it('says provisioning is real on the page, and a grant makes a real login in the target', async () => {
    const workspace = (await (await fetch(`${sandbox.url}sandbox/workspace`)).json()) as {
      provisioning: { mode: string; text: string };
    };
    expect(workspace.provisioning.mode).toBe('real');
    expect(workspace.provisioning.text).toContain('Provisioning is REAL');

    const grantId = await approvedGrant(sandbox, t, 'billing-db');
    expect(await grantedLogins(target)).toEqual([{ rolname: roleNameFor(grantId), rolcanlogin: true }]);
    const body = await eventBody(sandbox, t, 'grant.active', grantId);
    expect(body).toMatchObject({ role: roleNameFor(grantId), roles: [READONLY] });
    expect(body).not.toHaveProperty('dry_run');
    await buttonInDMs(sandbox, ANA, ACTION.endGrant, grantId);
    // The login comes in a message of its own, beside the one with the buttons.
    await sandbox.fake.waitForCall(
      'chat.postMessage',
      (c) => !c.failed && String(c.args.text).startsWith('🔑 Your login for *Billing database*'),
    );
    // How a real revoke takes it away is the postgres provisioner's own test's story.
    await target.query(`drop role ${roleNameFor(grantId)}`);
  });
});
