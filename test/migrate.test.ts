import { Migrator } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, createPool, type Db } from '../src/db/database.ts';
import { migrateToLatest, pendingMigrations } from '../src/db/migrate.ts';
import { RENAMED_KINDS } from '../migrations/2026-12-03T0008_notification_kinds.ts';
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

describe('the migration that renames notification kinds', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => t.destroy());

  it('renames the rows a deployed outbox already holds, so nothing queued is lost', async () => {
    const migrator = new Migrator({ db: t.db, provider: { getMigrations: async () => migrations } });
    expect((await migrator.migrateTo('2026-12-03T0007_grant_end_notify')).error).toBeUndefined();
    // What a replica of the version before queued: one row of every kind, the Home refresh also delivered.
    for (const [before] of RENAMED_KINDS)
      await t.query(`insert into outbox (kind, payload) values ($1, '{"userId":"U0ANA0001"}')`, [before]);
    await t.query(
      `insert into outbox (kind, payload, done_at) values ('home.refresh', '{"userId":"U0ANA0001"}', now())`,
    );

    expect((await migrator.migrateTo('2026-12-03T0008_notification_kinds')).error).toBeUndefined();
    const { rows } = await t.query<{ kind: string; done: boolean }>(
      'select kind, done_at is not null as done from outbox order by id',
    );
    expect(rows).toEqual([
      ...RENAMED_KINDS.map(([, after]) => ({ kind: after, done: false })),
      { kind: 'refresh_home', done: true },
    ]);
    // Later, alerts (0010) replace the revoke alert of old: one still queued is not sent as well.
    await migrateToLatest(t.db);
    const after = await t.query<{ kind: string; done: boolean }>(
      'select kind, done_at is not null as done from outbox order by id',
    );
    expect(after.rows).toEqual(
      rows.map((row) => (row.kind === 'notify_grant_revoke_alert' ? { ...row, done: true } : row)),
    );
    expect(after.rows.filter((row) => row.kind === 'notify_grant_revoke_alert')).toHaveLength(1);
    for (const { kind } of rows) expect(kind).not.toMatch(/\./);
    const index = await t.query<{ def: string }>(
      `select indexdef as def from pg_indexes where indexname = 'outbox_home_refresh'`,
    );
    expect(index.rows[0]?.def).toContain(`kind = 'refresh_home'::text`);

    expect((await migrator.migrateTo('2026-12-03T0007_grant_end_notify')).error).toBeUndefined();
    const back = await t.query<{ kind: string }>('select kind from outbox order by id');
    expect(back.rows.map((row) => row.kind)).toEqual([...RENAMED_KINDS.map(([before]) => before), 'home.refresh']);
  });
});
