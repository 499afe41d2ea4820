import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import type { AuditAction } from '../../src/audit/actions.ts';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { createDb, createPool, type Db } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { silentLogger } from '../../src/log.ts';

/**
 * What a test may record: the actions Gatehouse records, and made-up `test.*` ones for the
 * tests of the log itself. Only test support widens the list; the app's AuditLog takes the
 * list in src/audit/actions.ts alone.
 */
export type TestAuditAction = AuditAction | `test.${string}`;

export interface TestDatabase {
  name: string;
  /** Connection string of this test database, as the cluster's superuser. */
  url: string;
  pool: pg.Pool;
  db: Db;
  audit: AuditLog<TestAuditAction>;
  /** Runs one statement as the superuser on this database (tampering, setup). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  destroy(): Promise<void>;
}

export function adminUrl(): string {
  return inject('adminUrl');
}

/** A connection string to `database` on the test server. */
export function databaseUrl(database: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh, migrated database of its own, so test files never see each other's rows. */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `gatehouse_test_${randomBytes(5).toString('hex')}`;
  await admin((client) => client.query(`create database ${name}`));
  const url = databaseUrl(name);
  const pool = createPool(url, 10);
  // An idle connection cut by the server (the forced drop at teardown, a test that stops
  // it) is replaced by the pool; without a listener its error would crash the test run.
  pool.on('error', () => undefined);
  const db = createDb(pool);
  if (options.migrate !== false) await migrateToLatest(db);
  const audit = new AuditLog<TestAuditAction>(db, pool, silentLogger());
  return {
    name,
    url,
    pool,
    db,
    audit,
    query: (text, values) => pool.query(text, values),
    async destroy() {
      await audit.sequencer.stop();
      await db.destroy();
      await admin((client) => client.query(`drop database if exists ${name} with (force)`));
    },
  };
}
