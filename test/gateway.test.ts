import { connect } from 'node:net';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PEOPLE } from './support/access.ts';
import { psql, startGatewayWorld, type GatewayWorld } from './support/gateway.ts';

const { ana } = PEOPLE;

/** A node pg client through the gateway, as a contractor's program would connect. */
async function pgClient(credentials: Record<string, string>, password = credentials.password): Promise<pg.Client> {
  const client = new pg.Client({
    host: credentials.host,
    port: Number(credentials.port),
    database: credentials.database,
    user: credentials.user,
    password,
  });
  await client.connect();
  return client;
}

/** The gateway events of one session, from the chain, in order. */
async function sessionEvents(world: GatewayWorld, sessionId: string) {
  await world.t.audit.flush();
  const { rows } = await world.t.query<{ seq: string; action: string; actor: string; body: Record<string, unknown> }>(
    `select seq, action, actor, body from audit_log where subject = $1 order by seq`,
    [sessionId],
  );
  return rows;
}

/** The grant's latest session, once it has ended on the gateway that held it. */
async function endedSessionOf(world: GatewayWorld, grantId: string): Promise<string> {
  const { rows } = await world.t.query<{ id: string }>(
    'select id from gateway_sessions where grant_id = $1 order by started_at desc limit 1',
    [grantId],
  );
  await world.gateway.sessionEnded(rows[0]!.id);
  return rows[0]!.id;
}

describe('the database gateway', () => {
  let world: GatewayWorld;

  beforeAll(async () => {
    world = await startGatewayWorld();
  });
  afterAll(async () => {
    await world.destroy();
  });

  it('gives the holder a gateway login, not the database role, and records every psql statement before it runs', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    expect(credentials).toMatchObject({
      host: '127.0.0.1',
      port: String(world.gateway.address().port),
      database: world.target.name,
      user: grantId.toLowerCase(),
      sslmode: 'disable',
    });
    const { stdout } = await psql(credentials, [
      '-c',
      'select id, total from invoices order by id',
      '-c',
      'select 41 + 1',
    ]);
    expect(stdout.trim().split('\n')).toEqual(['1|9.99', '2|120', '42']);

    const events = await sessionEvents(world, await endedSessionOf(world, grantId));
    expect(events.map((e) => [e.action, e.body.n ?? null])).toEqual([
      ['gateway.session_started', null],
      ['gateway.statement', 1],
      ['gateway.statement_done', 1],
      ['gateway.statement', 2],
      ['gateway.statement_done', 2],
      ['gateway.session_ended', null],
    ]);
    expect(events[1]).toMatchObject({
      actor: ana,
      body: { grant: grantId, via: 'simple', sql: 'select id, total from invoices order by id' },
    });
    expect(events[2]!.body).toMatchObject({ ok: true, tag: 'SELECT 2', rows: 2 });
    expect(events[5]!.body).toMatchObject({ reason: 'client_closed', statements: 2, rows: 3, refused: 0 });
    // Results are never recorded.
    expect(JSON.stringify(events)).not.toContain('9.99');
  });
});
