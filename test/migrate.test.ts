import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, createPool, type Db } from '../src/db/database.ts';
import { migrateToLatest, pendingMigrations } from '../src/db/migrate.ts';
import { migrations } from '../migrations/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

describe('migrations', () => {
  let t: TestDatabase;
  let replicas: Db[];

  beforeAll(async () => {
    t = await createTestDatabase({ migrate: false });
    replicas = [createDb(createPool(t.url, 2)), createDb(createPool(t.url, 2)), createDb(createPool(t.url, 2))];
  });
  afterAll(async () => {
    await Promise.all(replicas.map((db) => db.destroy()));
    await t.destroy();
  });

  it('are applied exactly once when several processes start at the same moment', async () => {
    expect(await pendingMigrations(t.db)).toEqual(Object.keys(migrations));
    const applied = await Promise.all(replicas.map((db) => migrateToLatest(db)));
    expect(applied.flat().sort()).toEqual(Object.keys(migrations).sort());
    expect(await pendingMigrations(t.db)).toEqual([]);
    const { rows } = await t.query<{ n: number }>('select count(*) as n from kysely_migration');
    expect(rows[0]?.n).toBe(Object.keys(migrations).length);
  });
});
