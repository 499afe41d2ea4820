import type { TestDatabase } from './db.ts';

/** Records `count` simple events (body {n}) and chains them. */
export async function seedEvents(t: TestDatabase, count: number, actor = 'U0ALICE01'): Promise<void> {
  for (let n = 1; n <= count; n++) {
    await t.audit.record({ actor, action: 'test.event', subject: `subject-${n}`, body: { n } });
  }
  await t.audit.flush();
}

/**
 * Runs SQL as an attacker with the database owner's rights would: with the append-only
 * triggers switched off, then switched back on as they were (ENABLE ALWAYS).
 */
export async function tamper(t: TestDatabase, ...statements: string[]): Promise<void> {
  await t.query('alter table audit_events disable trigger user');
  try {
    for (const statement of statements) await t.query(statement);
  } finally {
    await t.query('alter table audit_events enable always trigger audit_events_no_update_delete');
    await t.query('alter table audit_events enable always trigger audit_events_no_truncate');
  }
}

export async function canonicalAt(t: TestDatabase, seq: number): Promise<string> {
  const { rows } = await t.query<{ canonical: string }>('select canonical from audit_events where seq = $1', [seq]);
  const row = rows[0];
  if (!row) throw new Error(`no event at seq ${seq}`);
  return row.canonical;
}
