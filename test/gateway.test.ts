import { connect } from 'node:net';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import { openUpstream } from '../src/gateway/upstream.ts';
import { roleNameFor } from '../src/provisioners/postgres.ts';
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
  // A session the gateway ends (the grant given back by a later test) is expected; tests that care listen too.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** A client speaking the protocol message by message (logged in as libpq would), to send what drivers never do. */
async function rawSession(credentials: Record<string, string>) {
  const session = await openUpstream(
    { host: credentials.host!, port: Number(credentials.port), database: credentials.database!, tls: 'none' },
    { user: credentials.user!, password: credentials.password!, applicationName: 'raw' },
    {},
  );
  const parser = new Parser();
  let seen: string[] = [];
  let waiting: { name: string; resolve: (names: string[]) => void } | null = null;
  session.socket.on('data', (chunk: Buffer) =>
    parser.parse(chunk, (message) => {
      seen.push(message.name);
      if (waiting && message.name === waiting.name) {
        const names = seen;
        seen = [];
        const { resolve } = waiting;
        waiting = null;
        resolve(names);
      }
    }),
  );
  session.socket.resume();
  return {
    send: (...messages: Buffer[]) => session.socket.write(Buffer.concat(messages)),
    until: (name: string) => new Promise<string[]>((resolve) => (waiting = { name, resolve })),
    close: () => session.socket.end(serialize.end()),
  };
}

/** Polls a condition the test cannot be told about (another server's state), at most 10 s. */
async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('condition not met within 10 s');
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

  it('takes node pg: the extended protocol with parameters, named statements, transactions and multi-statement strings', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const client = await pgClient(credentials);
    expect((await client.query('select total from invoices where id = $1', [2])).rows).toEqual([{ total: '120' }]);
    await client.query({ name: 'by-id', text: 'select note from invoices where id = $1', values: [1] });
    expect(
      (await client.query({ name: 'by-id', text: 'select note from invoices where id = $1', values: [2] })).rows,
    ).toEqual([{ note: 'second' }]);
    await client.query('begin');
    await client.query('update invoices set note = $1 where id = $2', ['changed in a transaction', 1]);
    await client.query('rollback');
    const multi = await client.query('select 1 as a; select 2 as b');
    expect((multi as unknown as pg.QueryResult[]).map((r) => r.rows[0])).toEqual([{ a: 1 }, { b: 2 }]);
    await expect(client.query('select * from no_such_table')).rejects.toThrow(
      'relation "no_such_table" does not exist',
    );
    expect((await client.query('select 1 as still_open')).rows).toEqual([{ still_open: 1 }]);
    await client.end();
    expect((await world.target.query(`select note from invoices where id = 1`)).rows[0]).toEqual({ note: 'first' });

    const events = await sessionEvents(world, await endedSessionOf(world, grantId));
    const statements = events.filter((e) => e.action === 'gateway.statement').map((e) => e.body);
    expect(statements.map((b) => [b.n, b.via, b.sql, b.params ?? null])).toEqual([
      [1, 'extended', 'select total from invoices where id = $1', ['2']],
      [2, 'extended', 'select note from invoices where id = $1', ['1']],
      [3, 'extended', 'select note from invoices where id = $1', ['2']],
      [4, 'simple', 'begin', null],
      [5, 'extended', 'update invoices set note = $1 where id = $2', ['changed in a transaction', '1']],
      [6, 'simple', 'rollback', null],
      [7, 'simple', 'select 1 as a; select 2 as b', null],
      [8, 'simple', 'select * from no_such_table', null],
      [9, 'simple', 'select 1 as still_open', null],
    ]);
    const done = new Map(events.filter((e) => e.action === 'gateway.statement_done').map((e) => [e.body.n, e.body]));
    expect(done.get(5)).toMatchObject({ ok: true, tag: 'UPDATE 1', rows: 1 });
    expect(done.get(7)).toMatchObject({ ok: true, tag: 'SELECT 1; SELECT 1' });
    expect(done.get(8)).toMatchObject({ ok: false, error: { code: '42P01' } });
    // Every statement before its outcome, in order on the chain.
    const order = events.filter((e) => e.body.n !== undefined).map((e) => `${e.action.slice(8)}:${e.body.n}`);
    for (let n = 1; n <= 9; n++)
      expect(order.indexOf(`statement:${n}`)).toBeLessThan(order.indexOf(`statement_done:${n}`));
  });

  it('relays COPY both ways and records the statement, not the data', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const out = await psql(credentials, ['-c', 'copy (select id, note from invoices order by id) to stdout']);
    expect(out.stdout).toBe('1\tfirst\n2\tsecond\n');
    await psql(credentials, ['-c', '\\copy invoices (id, total, note) from stdin'], {
      input: '3\t7.5\tcopied in\n\\.\n',
    });
    expect((await world.target.query('select note from invoices where id = 3')).rows).toEqual([{ note: 'copied in' }]);
    await world.target.query('delete from invoices where id = 3');
    const { rows } = await world.t.query<{ id: string }>(
      'select id from gateway_sessions where grant_id = $1 order by started_at',
      [grantId],
    );
    await Promise.all(rows.map((row) => world.gateway.sessionEnded(row.id)));
    const events = (await Promise.all(rows.map((row) => sessionEvents(world, row.id)))).flat();
    const copyIn = events.find((e) => e.action === 'gateway.statement' && /from stdin/i.test(String(e.body.sql)));
    expect(String(copyIn?.body.sql)).toMatch(/^copy\s+invoices \( id, total, note \) from stdin/i);
    expect(events.find((e) => e.action === 'gateway.statement_done' && e.body.tag === 'COPY 1')).toBeTruthy();
    expect(JSON.stringify(events)).not.toContain('copied in');
  });

  it('refuses a wrong password, a grant not started and one ended, saying why and when, on the record', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    await expect(psql(credentials, ['-c', 'select 1'], { password: 'not-the-password' })).rejects.toThrow(
      `password authentication failed for user "${credentials.user}"`,
    );
    await expect(psql({ ...credentials, user: 'grt_nobody' }, ['-c', 'select 1'])).rejects.toThrow(
      'password authentication failed for user "grt_nobody"',
    );
    await world.t.query(`update grants set starts_at = '2099-01-01T10:00:00Z' where id = $1`, [grantId]);
    await expect(psql(credentials, ['-c', 'select 1'])).rejects.toThrow(
      'your access to Billing database has not started yet: it starts at 2099-01-01 10:00 UTC',
    );
    await world.t.query("update grants set starts_at = now() - interval '1 minute' where id = $1", [grantId]);
    expect((await world.service.release(grantId, ana)).ok).toBe(true);
    const ended = await world.t.query<{ ended_at: Date }>('select ended_at from grants where id = $1', [grantId]);
    const at = ended.rows[0]!.ended_at.toISOString().slice(0, 16).replace('T', ' ');
    await expect(psql(credentials, ['-c', 'select 1'])).rejects.toThrow(
      `your access to Billing database ended at ${at} UTC`,
    );

    await world.t.audit.flush();
    const { rows } = await world.t.query<{ body: Record<string, unknown> }>(
      `select body from audit_log where action = 'gateway.login_refused' and subject = $1 order by seq`,
      [grantId],
    );
    expect(rows.map((row) => row.body.reason)).toEqual(['wrong_password', 'not_started', 'ended']);
  });

  it('keeps a session running when its grant is extended: the same login, the new end known to the gateway and the target', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const client = await pgClient(credentials);
    await client.query('begin');
    await client.query(`update invoices set note = 'during the extension' where id = 1`);
    const asked = await world.service.extend(grantId, PEOPLE.ana, { reason: 'the close runs over', duration: '30m' });
    if (!asked.ok) throw new Error(JSON.stringify(asked.refusal));
    const before = (await world.service.findGrant(grantId))!;
    const approved = await world.service.approve(asked.request.id, PEOPLE.dana);
    const newEnd = new Date(before.endsAt.getTime() + 30 * 60_000);
    expect(approved).toMatchObject({ ok: true, grant: { id: grantId, endsAt: newEnd } });
    // The gateway hears of the move at commit and arms its timer for the new end.
    const session = world.gateway.liveSessions().find((s) => s.grant.id === grantId)!;
    while (session.grant.endsAt.getTime() !== newEnd.getTime()) await new Promise((resolve) => setImmediate(resolve));
    // The session and its open transaction go on; a new login works; the upstream login's VALID UNTIL moved too.
    await client.query('commit');
    expect((await world.target.query('select note from invoices where id = 1')).rows).toEqual([
      { note: 'during the extension' },
    ]);
    const { stdout } = await psql(credentials, ['-c', 'select 1']);
    expect(stdout.trim()).toBe('1');
    const role = await world.target.query<{ rolvaliduntil: Date }>(
      'select rolvaliduntil from pg_roles where rolname = $1',
      [roleNameFor(grantId)],
    );
    expect(role.rows[0]?.rolvaliduntil).toEqual(newEnd);
    await world.target.query(`update invoices set note = 'first' where id = 1`);
    await client.end();
  });

  it('ends a session at the grant end, with a transaction open: the client is told, nothing half-done stays', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const client = await pgClient(credentials);
    // The first error is the gateway's FATAL; the socket closing after it is the same end.
    const gone = new Promise<Error>((resolve) => client.on('error', resolve));
    await client.query('begin');
    await client.query(`update invoices set note = 'never committed' where id = 2`);
    // The end moves close (as an owner's shorter approval or a test clock would); the gateway is told at commit.
    await world.t.query(`update grants set ends_at = now() + interval '300 milliseconds' where id = $1`, [grantId]);
    const error = await gone;
    expect(error.message).toMatch(/^your access to Billing database ended at \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
    const id = await endedSessionOf(world, grantId);
    const summary = await world.gateway.sessionEnded(id);
    expect(summary).toMatchObject({ reason: 'grant_ended', inTransaction: true, statements: 2 });
    expect((await world.target.query('select note from invoices where id = 2')).rows).toEqual([{ note: 'second' }]);
    const events = await sessionEvents(world, id);
    expect(events.at(-1)).toMatchObject({
      action: 'gateway.session_ended',
      body: { reason: 'grant_ended', in_transaction: true },
    });
  });

  it('forwards a cancel request to the statement it names', async () => {
    const { credentials } = await world.grant('billing-db');
    const client = await pgClient(credentials);
    const slow = client.query('select pg_sleep(30)');
    const key = client as unknown as { processID: number; secretKey: number };
    // Once the sleep is under way upstream, cancel it as libpq does: a CancelRequest on a new connection.
    await waitFor(
      async () =>
        (
          await world.target.query(
            `select 1 from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'`,
          )
        ).rowCount === 1,
    );
    const socket = connect(Number(credentials.port), credentials.host);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.end(serialize.cancel(key.processID, key.secretKey));
    await expect(slow).rejects.toThrow('canceling statement due to user request');
    expect((await client.query('select 1 as after_cancel')).rows).toEqual([{ after_cancel: 1 }]);
    await client.end();
  });

  it("keeps privileges the database's own: SET ROLE and SET SESSION AUTHORIZATION cannot raise them", async () => {
    const { credentials } = await world.grant('reports-db');
    const client = await pgClient(credentials);
    const admin = (await world.target.query<{ me: string }>('select current_user as me')).rows[0]!.me;
    await expect(client.query(`set role ${admin}`)).rejects.toThrow(`permission denied to set role "${admin}"`);
    await expect(client.query(`set session authorization ${admin}`)).rejects.toThrow(
      'permission denied to set session authorization',
    );
    await expect(client.query('reset role')).resolves.toBeTruthy();
    expect((await client.query('select current_user as me')).rows[0].me).toBe(`gatehouse_${credentials.user}`);
    await client.end();
  });

  it("refuses what the resource's limits refuse, records it, and the session goes on", async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const client = await pgClient(credentials);
    await expect(client.query('create table sneaky (id int)')).rejects.toThrow(
      'statements that change the schema (DDL) are not allowed on Billing database: it was not run',
    );
    await expect(client.query(`copy invoices to program 'cat > /tmp/out'`)).rejects.toThrow(
      'COPY to or from a program',
    );
    await expect(client.query('alter system set work_mem = 1')).rejects.toThrow('ALTER SYSTEM are not allowed');
    await expect(client.query(`set role ${world.role}`)).rejects.toThrow('SET ROLE and SET SESSION AUTHORIZATION');
    // Refused in the extended protocol too, with parameters, and inside others (a CTE).
    await expect(client.query('with x as (select $1::int as v) select v from x; ', [1])).resolves.toBeTruthy();
    await expect(client.query('create table sneaky2 as select $1::int as v', [1])).rejects.toThrow('DDL');
    await client.query('begin');
    await expect(client.query('drop table invoices')).rejects.toThrow('DDL');
    // As in PostgreSQL, an error ends the transaction's work: the database itself says so.
    await expect(client.query('select 1')).rejects.toThrow('current transaction is aborted');
    await client.query('rollback');
    expect((await client.query('select count(*)::int as n from invoices')).rows[0]).toEqual({ n: 2 });
    await client.end();
    expect((await world.target.query(`select to_regclass('sneaky') as t`)).rows[0]).toEqual({ t: null });

    const sessionId = await endedSessionOf(world, grantId);
    const events = await sessionEvents(world, sessionId);
    const refused = events
      .filter((e) => e.action === 'gateway.statement_refused')
      .map((e) => [e.body.rule, e.body.sql]);
    expect(refused).toEqual([
      ['ddl', 'create table sneaky (id int)'],
      ['copy_program', `copy invoices to program 'cat > /tmp/out'`],
      ['alter_system', 'alter system set work_mem = 1'],
      ['set_role', `set role ${world.role}`],
      ['ddl', 'create table sneaky2 as select $1::int as v'],
      ['ddl', 'drop table invoices'],
    ]);
    expect(events.at(-1)!.body).toMatchObject({ refused: 6 });
    // The audit channel is told of each at once.
    const { rows } = await world.t.query<{ payload: { rule: string } }>(
      `select payload from outbox where kind = 'notify_gateway_refused' and payload->>'sessionId' = $1 order by id`,
      [sessionId],
    );
    expect(rows.map((row) => row.payload.rule)).toEqual([
      'ddl',
      'copy_program',
      'alter_system',
      'set_role',
      'ddl',
      'ddl',
    ]);
  });

  it('keeps a read-only resource read-only: writes fail in the database, and ways to undo it are refused', async () => {
    const { grantId, credentials } = await world.grant('reports-db');
    const client = await pgClient(credentials);
    await expect(client.query(`update invoices set note = 'x'`)).rejects.toThrow(
      'cannot execute UPDATE in a read-only transaction',
    );
    for (const undo of [
      'set default_transaction_read_only = off',
      'set session characteristics as transaction read write',
      'begin read write',
      `select set_config('default_transaction_read_only', 'off', false)`,
      `do $$ begin perform 1; end $$`,
    ]) {
      await expect(client.query(undo), undo).rejects.toThrow('sessions on Reports database are read-only');
    }
    await client.query('begin read only');
    expect((await client.query('select count(*)::int as n from invoices')).rows[0]).toEqual({ n: 2 });
    await client.query('commit');
    await client.end();
    const events = await sessionEvents(world, await endedSessionOf(world, grantId));
    expect(events.filter((e) => e.action === 'gateway.statement_refused')).toHaveLength(5);
    // Parameters are hashed for this resource, by default.
    expect(events.find((e) => e.action === 'gateway.statement')?.body).not.toHaveProperty('params');
  });

  it('refuses statements while the audit log cannot record them, and loses none', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const client = await pgClient(credentials);
    await client.query('select 1');
    await world.t.query('alter table audit_queue rename to audit_queue_away');
    try {
      await expect(client.query(`update invoices set note = 'unrecorded' where id = 1`)).rejects.toThrow(
        'Gatehouse could not record this statement in the audit log, so it was not run',
      );
      await expect(client.query('select $1::int as v', [7])).rejects.toThrow('could not record this statement');
    } finally {
      await world.t.query('alter table audit_queue_away rename to audit_queue');
    }
    expect((await world.target.query('select note from invoices where id = 1')).rows).toEqual([{ note: 'first' }]);
    expect((await client.query('select 2 as back')).rows).toEqual([{ back: 2 }]);
    await client.end();
    const events = await sessionEvents(world, await endedSessionOf(world, grantId));
    const statements = events.filter((e) => e.action === 'gateway.statement').map((e) => [e.body.n, e.body.sql]);
    expect(statements).toEqual([
      [1, 'select 1'],
      [2, 'select 2 as back'],
    ]);
    expect(events.filter((e) => e.action === 'gateway.statement_done').map((e) => e.body.n)).toEqual([1, 2]);
    expect(events.at(-1)!.action).toBe('gateway.session_ended');
  });

  it('ends a session held by one replica when the grant is given back through another, or an owner ends it', async () => {
    const other = await world.replica();
    const { grantId, credentials } = await world.grant('billing-db');
    const onOther = await pgClient({ ...credentials, port: String(other.address().port) });
    const toldOther = new Promise<Error>((resolve) => onOther.on('error', resolve));
    const onFirst = await pgClient(credentials);
    const toldFirst = new Promise<Error>((resolve) => onFirst.on('error', resolve));
    expect(other.liveSessions()).toHaveLength(1);
    // An owner ends the one on the first replica, from anywhere: the database tells every replica.
    const [first] = world.gateway.liveSessions().filter((session) => session.grant.id === grantId);
    const ended = await world.service.endGatewaySession(first!.id, PEOPLE.dana);
    expect(ended.ok).toBe(true);
    expect((await toldFirst).message).toBe('an owner of Billing database ended this session');
    expect(await world.gateway.sessionEnded(first!.id)).toMatchObject({ reason: 'ended_by_owner' });
    // A stranger cannot.
    const [second] = other.liveSessions();
    expect(await world.service.endGatewaySession(second!.id, ana)).toEqual({ ok: false, reason: 'not-owner' });
    // I'm done, wherever it is pressed: the other replica ends its session too.
    expect((await world.service.release(grantId, ana)).ok).toBe(true);
    expect((await toldOther).message).toMatch(/^your access to Billing database ended at /);
    expect(await other.sessionEnded(second!.id)).toMatchObject({ reason: 'grant_ended' });
  });

  it('says why when the database ends a session itself: its own words while the grant lives, the grant’s end once it is over', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const client = await pgClient(credentials);
    const told = new Promise<Error>((resolve) => client.on('error', resolve));
    await client.query('select 1');
    const { rows } = await world.t.query<{ upstream_pid: number }>(
      'select upstream_pid from gateway_sessions where grant_id = $1 and ended_at is null',
      [grantId],
    );
    // An administrator ends the session in the database while the grant still gives access.
    await world.target.query('select pg_terminate_backend($1)', [rows[0]!.upstream_pid]);
    expect((await told).message).toBe('terminating connection due to administrator command');
    expect(await world.gateway.sessionEnded(await endedSessionOf(world, grantId))).toMatchObject({
      reason: 'upstream_closed',
    });
  });

  it("carries a result larger than any buffer whole, at the client's pace", async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const { stdout } = await psql(credentials, ['-c', `select i, repeat('x', 1000) from generate_series(1, 20000) i`], {
      maxBuffer: 64 * 1024 * 1024,
    });
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(20_000);
    expect(lines.at(-1)).toBe(`20000|${'x'.repeat(1000)}`);
    const events = await sessionEvents(world, await endedSessionOf(world, grantId));
    expect(events.find((e) => e.action === 'gateway.statement_done')?.body).toMatchObject({ ok: true, rows: 20_000 });
  });

  it('records what runs when a name is prepared twice: the second, refused by the database, changes nothing', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const raw = await rawSession(credentials);
    raw.send(serialize.parse({ name: 'x', text: 'update invoices set note = $1 where id = 1' }), serialize.sync());
    expect(await raw.until('readyForQuery')).toContain('parseComplete');
    raw.send(serialize.parse({ name: 'x', text: 'select 1' }), serialize.sync());
    expect(await raw.until('readyForQuery')).toContain('error'); // "prepared statement "x" already exists"
    raw.send(serialize.bind({ statement: 'x', values: ['sneaked in'] }), serialize.execute({}), serialize.sync());
    expect(await raw.until('readyForQuery')).toContain('commandComplete');
    raw.close();
    expect((await world.target.query('select note from invoices where id = 1')).rows).toEqual([{ note: 'sneaked in' }]);
    await world.target.query(`update invoices set note = 'first' where id = 1`);
    const events = await sessionEvents(world, await endedSessionOf(world, grantId));
    expect(events.filter((e) => e.action === 'gateway.statement').map((e) => [e.body.sql, e.body.params])).toEqual([
      ['update invoices set note = $1 where id = 1', ['sneaked in']],
    ]);
  });

  it('pauses the database, not its own memory, for a client that stops reading', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const client = await pgClient(credentials);
    const socket = (client as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream;
    socket.pause();
    void client.query(`select repeat('x', 1000) from generate_series(1, 400000)`).catch(() => undefined);
    const session = () => world.gateway.liveSessions().find((s) => s.grant.id === grantId);
    await waitFor(async () => session()?.backlog.databasePaused === true);
    // 400 MB of answers wait in the database's socket and the kernel's buffers, not here.
    expect(session()!.backlog.bytes).toBeLessThan(4 * 1024 * 1024);
    socket.destroy();
  });

  it("keeps the holder from the role's password and from the settings it reads statements by, and ends a session that changes them anyway", async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const client = await pgClient(credentials);
    await expect(client.query(`alter role current_user password 'mine now'`)).rejects.toThrow(
      'changing the login role (ALTER ROLE, ALTER USER) is not allowed through the Gatehouse gateway',
    );
    await expect(client.query('set standard_conforming_strings = off')).rejects.toThrow(
      'the gateway keeps client_encoding UTF8 and standard_conforming_strings on',
    );
    await expect(client.query(`set client_encoding = 'SJIS'`)).rejects.toThrow('client_encoding UTF8');
    // With the strings rule pinned, this is one string to PostgreSQL as to the gateway's parser.
    const { rows } = await client.query(`select '\\' as s, 'it''s' as t`);
    expect(rows).toEqual([{ s: '\\', t: "it's" }]);
    // A function the database's owner wrote could still change one: the session ends at once.
    await world.target.query(
      `create or replace function latin() returns text language sql as $$ select set_config('client_encoding', 'LATIN1', false) $$`,
    );
    const gone = new Promise<Error>((resolve) => client.on('error', resolve));
    await client.query('select latin()').catch(() => undefined);
    expect((await gone).message).toBe(
      'client_encoding changed in this session, which the Gatehouse gateway does not allow',
    );
    const summary = await world.gateway.sessionEnded(await endedSessionOf(world, grantId));
    expect(summary.reason).toBe('setting_changed');
  });

  it('refuses function calls by number where there are limits, and set_config by number everywhere', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const raw = await rawSession(credentials);
    const call = (oid: number, ...args: string[]) => {
      const parts = args.map((arg) => {
        const value = Buffer.from(arg);
        const length = Buffer.alloc(4);
        length.writeInt32BE(value.length);
        return Buffer.concat([length, value]);
      });
      const head = Buffer.alloc(8);
      head.writeInt32BE(oid, 0);
      head.writeInt16BE(0, 4);
      head.writeInt16BE(args.length, 6);
      const body = Buffer.concat([head, ...parts, Buffer.from([0, 0])]);
      const header = Buffer.alloc(5);
      header.write('F');
      header.writeInt32BE(body.length + 4, 1);
      return Buffer.concat([header, body]);
    };
    raw.send(call(2078, 'role', world.role, 'false'));
    expect(await raw.until('readyForQuery')).toContain('error');
    raw.send(call(1299)); // now()
    expect(await raw.until('readyForQuery')).toContain('error');
    raw.close();
    const events = await sessionEvents(world, await endedSessionOf(world, grantId));
    expect(events.filter((e) => e.action === 'gateway.statement_refused').map((e) => e.body.rule)).toEqual([
      'session_settings',
      'function_call',
    ]);
  });

  it('keeps protocol names and SQL names apart, so nothing runs under a name the record does not explain', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const update = `update invoices set note = 'unexplained' where id = 2`;
    const raw = await rawSession(credentials);
    // Prepared by the protocol, run by SQL: the SQL name reaches nothing.
    raw.send(serialize.parse({ name: 'x', text: update }), serialize.sync());
    await raw.until('readyForQuery');
    raw.send(serialize.query('execute x'));
    expect(await raw.until('readyForQuery')).toContain('error');
    // The gateway's own upstream names are not for SQL.
    raw.send(serialize.query('execute gatehouse_s1'));
    expect(await raw.until('readyForQuery')).toContain('error');
    // A refused statement's name, dropped and prepared again by SQL, is still the refusal to the protocol.
    raw.send(serialize.parse({ name: 'y', text: 'drop table invoices' }), serialize.sync());
    await raw.until('readyForQuery');
    raw.send(serialize.query(`deallocate y; prepare y as ${update}`));
    await raw.until('readyForQuery');
    raw.send(serialize.bind({ statement: 'y' }), serialize.execute({}), serialize.sync());
    expect(await raw.until('readyForQuery')).toContain('error');
    // A Close the database skips (an error before it in the batch) leaves the name as it was.
    raw.send(
      serialize.bind({ portal: 'p', statement: 'nope' }),
      serialize.close({ type: 'S', name: 'x' }),
      serialize.sync(),
    );
    await raw.until('readyForQuery');
    raw.send(serialize.bind({ statement: 'x' }), serialize.execute({}), serialize.sync());
    expect(await raw.until('readyForQuery')).toContain('commandComplete');
    raw.close();
    const events = await sessionEvents(world, await endedSessionOf(world, grantId));
    const ran = events.filter((e) => e.action === 'gateway.statement').map((e) => e.body.sql);
    // The one update that ran is on the record with its text.
    expect(ran.filter((sql) => sql === update)).toHaveLength(1);
    expect(events.filter((e) => e.action === 'gateway.statement_refused').map((e) => e.body.rule)).toEqual([
      'gateway_names',
      'ddl',
    ]);
    expect((await world.target.query('select note from invoices where id = 2')).rows).toEqual([
      { note: 'unexplained' },
    ]);
    await world.target.query(`update invoices set note = 'second' where id = 2`);
  });

  it('stops what a session is running when it is ended, so nothing runs after the end', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const client = await pgClient(credentials);
    const slow = client.query(`select pg_sleep(30); update invoices set note = 'after the end' where id = 1`);
    // The statement under way is what the client is told about.
    const told = slow.then(
      () => new Error('it ran to the end'),
      (err: Error) => err,
    );
    const running = `select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep(30);%' and state = 'active'`;
    await waitFor(async () => (await world.target.query<{ n: number }>(running)).rows[0]!.n === 1);
    const [session] = world.gateway.liveSessions().filter((s) => s.grant.id === grantId);
    expect((await world.service.endGatewaySession(session!.id, PEOPLE.dana)).ok).toBe(true);
    expect((await told).message).toBe('an owner of Billing database ended this session');
    // The database's session is gone, so the update after the sleep can never run.
    const mine = `select count(*)::int as n from pg_stat_activity where application_name = 'gatehouse-gateway ${session!.id}'`;
    await waitFor(async () => (await world.target.query<{ n: number }>(mine)).rows[0]!.n === 0);
    expect((await world.target.query('select note from invoices where id = 1')).rows).toEqual([{ note: 'first' }]);
    const events = await sessionEvents(world, await endedSessionOf(world, grantId));
    // Its outcome: stopped. The database's cancel answer (57014) is recorded if it came
    // before the connection closed; otherwise the statement is recorded as cut.
    const done = events.find((e) => e.action === 'gateway.statement_done')!.body;
    expect(done.ok).toBe(false);
    expect(
      done.cut === true || (done.error as { code?: string } | undefined)?.code === '57014',
      JSON.stringify(done),
    ).toBe(true);
  });

  it("keeps a record within the log's size, whatever the statement: parameters become hashes, long text is cut and hashed", async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const client = await pgClient(credentials);
    const params = Array.from({ length: 20 }, (_, i) => `${i}:${'p'.repeat(1_000)}`);
    const sql = `select ${params.map((_, i) => `length($${i + 1}::text)`).join(' + ')} as total`;
    expect((await client.query(sql, params)).rows).toEqual([{ total: 20 * 1_000 + 20 * 2 + 10 }]);
    const long = `select '${'€'.repeat(6_000)}' as euros`;
    expect((await client.query(long)).rows[0].euros).toHaveLength(6_000);
    await client.end();
    const events = await sessionEvents(world, await endedSessionOf(world, grantId));
    const [withParams, withText] = events.filter((e) => e.action === 'gateway.statement').map((e) => e.body);
    expect(withParams).toMatchObject({ sql, params_cut: true });
    expect(withParams!.params_sha256).toHaveLength(20);
    expect(withText).toMatchObject({ sql_length: long.length });
    expect(String(withText!.sql).length).toBeLessThan(long.length);
  });

  it('closes a connection that sends more before its login than a login takes', async () => {
    const { credentials } = await world.grant('billing-db');
    const socket = connect(Number(credentials.port), credentials.host);
    await new Promise((resolve) => socket.once('connect', resolve));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('error', () => undefined);
    socket.write(serialize.startup({ user: credentials.user!, database: credentials.database! }));
    await new Promise((resolve) => socket.once('data', resolve)); // AuthenticationSASL
    const header = Buffer.alloc(5);
    header.write('p');
    header.writeInt32BE(0x7ffffff0, 1); // a "password" message of 2 GB
    socket.write(header);
    for (let i = 0; i < 40 && !socket.destroyed; i++) socket.write(Buffer.alloc(4096));
    await closed;
    // Everyone else is still served.
    expect((await psql(credentials, ['-c', 'select 9'])).stdout.trim()).toBe('9');
  });

  it('records what runs when messages the database skipped after an error were sent before it said so', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    const update = `update invoices set note = 'pipelined' where id = 2`;
    const raw = await rawSession(credentials);
    raw.send(serialize.parse({ text: update }), serialize.flush());
    await raw.until('parseComplete');
    raw.send(serialize.execute({ portal: 'nope' }), serialize.flush());
    await raw.until('error');
    // Skipped by the database (an error came before the Sync): the unnamed statement is still the update.
    raw.send(serialize.parse({ text: 'select 1' }), serialize.bind({}), serialize.flush());
    raw.send(serialize.sync());
    await raw.until('readyForQuery');
    raw.send(serialize.bind({}), serialize.execute({}), serialize.sync());
    expect(await raw.until('readyForQuery')).toContain('commandComplete');
    raw.close();
    expect((await world.target.query('select note from invoices where id = 2')).rows).toEqual([{ note: 'pipelined' }]);
    await world.target.query(`update invoices set note = 'second' where id = 2`);
    const events = await sessionEvents(world, await endedSessionOf(world, grantId));
    expect(events.filter((e) => e.action === 'gateway.statement').map((e) => e.body.sql)).toEqual([update]);
    expect(events.find((e) => e.action === 'gateway.statement_done')?.body).toMatchObject({
      ok: true,
      tag: 'UPDATE 1',
    });
  });
});
