import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePostgresTargets, roleNameFor } from '../src/provisioners/postgres.ts';
import { PEOPLE } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { psql, gatewayPolicy } from './support/gateway.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { approveFromCard, AUDIT_CHANNEL, dmTo, fileRequest } from './support/slack-stories.ts';

const { ana, dana } = PEOPLE;
const ROLE = `readers_${randomBytes(4).toString('hex')}`;

/** A port free now, for the gateway to listen on (its address goes into the holder's message). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('a gateway grant in Slack, as Gatehouse runs it', () => {
  let target: TestDatabase;
  let t: TestDatabase;
  let bot: RunningBot;
  const saved = { ...process.env };

  beforeAll(async () => {
    target = await createTestDatabase({ migrate: false });
    await target.query('create table invoices (id int primary key, total numeric)');
    await target.query('insert into invoices values (1, 9.99)');
    await target.query(`create role ${ROLE} nologin`);
    await target.query(`grant select on invoices to ${ROLE}`);
    const listen = `127.0.0.1:${await freePort()}`;
    // The provisioners read the environment, as in production.
    process.env.BILLING_DB_ADMIN_URL = target.url;
    process.env.GATEHOUSE_GATEWAY_LISTEN = listen;
    const secretsKey = randomBytes(32).toString('hex');
    process.env.GATEHOUSE_SECRETS_KEY = secretsKey;
    t = await createTestDatabase({ migrate: false });
    bot = await startBot({
      t,
      policy: gatewayPolicy(ROLE),
      env: { GATEHOUSE_SECRETS_KEY: secretsKey, GATEHOUSE_GATEWAY_LISTEN: listen },
    });
  });
  afterAll(async () => {
    await bot.stop();
    process.env = saved;
    await closePostgresTargets();
    // Roles are cluster-wide: the grant's login (still live) and the readers role go with the rest.
    const logins = await t.query<{ id: string }>('select id from grants');
    await target.destroy();
    for (const { id } of logins.rows) await t.query(`drop role if exists ${roleNameFor(id)}`);
    await t.query(`drop role if exists ${ROLE}`);
    await t.destroy();
  });

  it('sends a ready psql command; the session runs through the gateway and its summary reaches the audit channel', async () => {
    expect(bot.gatehouse.gateway).not.toBeNull();
    const requestId = await fileRequest(bot, ana, 'billing-db 1h check the ledger');
    await approveFromCard(bot, dana, requestId);
    const dm = await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /Your login for/), { timeoutMs: 15_000 });
    const shown = JSON.stringify(dm.args.blocks);
    const command = /psql \\"host=([^ ]+) port=(\d+) dbname=([^ ]+) user=([^ ]+) sslmode=([a-z]+)\\"/.exec(shown);
    expect(command, shown).not.toBeNull();
    const [, host, port, database, user, sslmode] = command!;
    const password = /password: ([A-Za-z0-9_-]+)/.exec(shown)![1]!;
    const { stdout } = await psql(
      { host: host!, port: port!, database: database!, user: user!, password, sslmode: sslmode! },
      ['-c', 'select total from invoices'],
    );
    expect(stdout.trim()).toBe('9.99');

    const { rows } = await bot.t.query<{ id: string }>('select id from gateway_sessions');
    await bot.gatehouse.gateway!.sessionEnded(rows[0]!.id);
    const summary = await bot.fake.waitForCall(
      'chat.postMessage',
      (call) => call.args.channel === AUDIT_CHANNEL && JSON.stringify(call.args).includes(rows[0]!.id),
      { timeoutMs: 15_000 },
    );
    expect(JSON.stringify(summary.args)).not.toContain(password);
    // The statement is on the chain, with who ran it.
    await bot.gatehouse.audit.flush();
    const recorded = await bot.t.query<{ actor: string; body: { sql: string } }>(
      `select actor, body from audit_log where action = 'gateway.statement' and subject = $1`,
      [rows[0]!.id],
    );
    expect(recorded.rows).toEqual([
      { actor: ana, body: expect.objectContaining({ sql: 'select total from invoices' }) },
    ]);
  });
});
