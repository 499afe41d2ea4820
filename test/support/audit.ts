import type { TestDatabase } from './db.ts';

/** Records `count` simple events (body {n}) and chains them. */
export async function seedEvents(t: TestDatabase, count: number, actor = 'U0ALICE01'): Promise<void> {
  for (let n = 1; n <= count; n++) {
    await t.audit.record({ actor, action: 'test.event', subject: `subject-${n}`, body: { n } });
  }
  await t.audit.flush();
}

/**
 * Does `work` as an attacker with the owner's rights over an append-only table would: with
 * its triggers (`<table>_no_update_delete`, `<table>_no_truncate`) switched off, then
 * switched back on as they were (ENABLE ALWAYS).
 */
export async function withTriggersOff(
  t: TestDatabase,
  table: 'audit_events' | 'audit_checkpoints',
  work: () => Promise<unknown>,
): Promise<void> {
  await t.query(`alter table ${table} disable trigger user`);
  try {
    await work();
  } finally {
    await t.query(`alter table ${table} enable always trigger ${table}_no_update_delete`);
    await t.query(`alter table ${table} enable always trigger ${table}_no_truncate`);
  }
}

/** Runs SQL on audit_events with its append-only triggers off. */
export async function tamper(t: TestDatabase, ...statements: string[]): Promise<void> {
  await withTriggersOff(t, 'audit_events', async () => {
    for (const statement of statements) await t.query(statement);
  });
}

export async function canonicalAt(t: TestDatabase, seq: number): Promise<string> {
  const { rows } = await t.query<{ canonical: string }>('select canonical from audit_events where seq = $1', [seq]);
  const row = rows[0];
  if (!row) throw new Error(`no event at seq ${seq}`);
  return row.canonical;
}
