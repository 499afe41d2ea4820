import fs from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/audit-log.ts';
import { createDb, createPool } from '../src/db/database.ts';
import { migrateToLatest, pendingMigrations } from '../src/db/migrate.ts';
import { silentLogger } from '../src/log.ts';
import { seedEvents } from './support/audit.ts';
import { adminUrl, createTestDatabase, databaseUrl, type TestAuditAction, type TestDatabase } from './support/db.ts';

const REFUSED = /audit_events is append-only/;

describe('the audit table refuses changes', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
    await seedEvents(t, 3);
  });
  afterAll(async () => t.destroy());

  it('refuses UPDATE, DELETE and TRUNCATE, even from the superuser that owns it', async () => {
    await expect(t.query(`update audit_events set canonical = canonical where seq = 1`)).rejects.toThrow(REFUSED);
    await expect(t.query('delete from audit_events where seq = 2')).rejects.toThrow(REFUSED);
    await expect(t.query('truncate audit_events')).rejects.toThrow(REFUSED);
    const { rows } = await t.query<{ n: string }>('select count(*) as n from audit_events');
    expect(Number(rows[0]?.n)).toBe(3);
  });

  it('still refuses with session_replication_role = replica, which skips ordinary triggers', async () => {
    const client = await t.pool.connect();
    try {
      await client.query('set session_replication_role = replica');
      await expect(client.query('update audit_events set canonical = canonical')).rejects.toThrow(REFUSED);
      await expect(client.query('delete from audit_events')).rejects.toThrow(REFUSED);
      await expect(client.query('truncate audit_events')).rejects.toThrow(REFUSED);
    } finally {
      await client.query('reset session_replication_role');
      client.release();
    }
    expect((await t.audit.verify()).ok).toBe(true);
  });
});

/**
 * The README's least-privilege setup, run as written (sql/least-privilege.sql): the schema
 * belongs to a role the app does not log in as, and the app may only read and append.
 */
describe('least-privilege roles', () => {
  const name = `gatehouse_lp_${process.pid}`;
  let superuser: pg.Client;
  let appPool: pg.Pool;

  const as = (role: string) => {
    const url = new URL(databaseUrl(name));
    url.username = role;
    url.password = `${role}-pw`;
    return url.toString();
  };

  beforeAll(async () => {
    superuser = new pg.Client({ connectionString: adminUrl() });
    // Idle connections cut at teardown (the forced drop below) must not crash the run.
    superuser.on('error', () => undefined);
    await superuser.connect();
    await superuser.query(`drop database if exists ${name} with (force)`);
    for (const role of ['gatehouse_owner', 'gatehouse_app']) {
      await superuser.query(`drop role if exists ${role}`);
      await superuser.query(`create role ${role} login password '${role}-pw'`);
    }
    await superuser.query(`create database ${name}`);
    const inDb = new pg.Client({ connectionString: databaseUrl(name) });
    await inDb.connect();
    await inDb.query('grant usage, create on schema public to gatehouse_owner');
    await inDb.end();

    const ownerPool = createPool(as('gatehouse_owner'), 2);
    const ownerDb = createDb(ownerPool);
    await migrateToLatest(ownerDb);
    await ownerPool.query(await fs.readFile('sql/least-privilege.sql', 'utf8'));
    await ownerDb.destroy();
    appPool = createPool(as('gatehouse_app'), 4);
    appPool.on('error', () => undefined);
  });

  afterAll(async () => {
    await appPool.end();
    await superuser.query(`drop database if exists ${name} with (force)`);
    await superuser.query('drop role if exists gatehouse_owner');
    await superuser.query('drop role if exists gatehouse_app');
    await superuser.end();
  });

  it('lets the app append, chain and verify without migrating', async () => {
    const db = createDb(appPool);
    expect(await pendingMigrations(db)).toEqual([]);
    const audit = new AuditLog<TestAuditAction>(db, appPool, silentLogger());
    await audit.record({ actor: 'system', action: 'test.event', body: { n: 1 } });
    await audit.record({ actor: 'U0BOB0001', action: 'test.event', body: { n: 2 } });
    expect(await audit.flush()).toBe(2);
    expect(await audit.verify()).toMatchObject({ ok: true, checked: 2 });
  });

  it('denies the app every way of changing history', async () => {
    await expect(appPool.query('update audit_events set canonical = canonical')).rejects.toThrow(/permission denied/);
    await expect(appPool.query('delete from audit_events')).rejects.toThrow(/permission denied/);
    await expect(appPool.query('truncate audit_events')).rejects.toThrow(/permission denied/);
    await expect(appPool.query('alter table audit_events disable trigger user')).rejects.toThrow(/must be owner/);
    await expect(appPool.query('set session_replication_role = replica')).rejects.toThrow(/permission denied/);
    await expect(appPool.query(`insert into kysely_migration (name, timestamp) values ('x', 'y')`)).rejects.toThrow(
      /permission denied/,
    );
  });
});
