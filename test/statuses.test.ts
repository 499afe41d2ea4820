import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALERT_ENDS,
  ALERT_SEVERITIES,
  GATEWAY_END_REASONS,
  GRANT_END_REASONS,
  GRANT_STATUSES,
  REQUEST_STATUSES,
} from '../src/db/schema.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

describe('the statuses, written once', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.destroy());

  /** The words a column's check constraint allows, as the migrations left it. */
  async function allowed(table: string, column: string): Promise<string[]> {
    const { rows } = await t.query<{ def: string }>(
      `select pg_get_constraintdef(c.oid) as def
         from pg_constraint c join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey)
        where c.contype = 'c' and c.conrelid = $1::regclass and a.attname = $2`,
      [table, column],
    );
    expect(rows, `one check constraint on ${table}.${column}`).toHaveLength(1);
    return [...rows[0]!.def.matchAll(/'([a-z_]+)'::text/g)].map((match) => match[1]!).sort();
  }

  it('are the ones the database allows: a status added in src/db/schema.ts needs a migration too', async () => {
    expect(await allowed('access_requests', 'status')).toEqual([...REQUEST_STATUSES].sort());
    expect(await allowed('grants', 'status')).toEqual([...GRANT_STATUSES].sort());
    expect(await allowed('grants', 'end_reason')).toEqual([...GRANT_END_REASONS].sort());
    expect(await allowed('gateway_sessions', 'end_reason')).toEqual([...GATEWAY_END_REASONS].sort());
    expect(await allowed('alerts', 'severity')).toEqual([...ALERT_SEVERITIES].sort());
    expect(await allowed('alerts', 'ends')).toEqual([...ALERT_ENDS].sort());
  });
});
