import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/audit-log.ts';
import { InvalidAuditEventError, type AuditEventInput } from '../src/audit/event.ts';
import { silentLogger } from '../src/log.ts';
import { createTestDatabase, type TestAuditAction, type TestDatabase } from './support/db.ts';

async function chained(
  t: TestDatabase,
): Promise<{ seq: number; action: string; actor: string; subject: string | null }[]> {
  return t.db.selectFrom('audit_log').select(['seq', 'action', 'actor', 'subject']).orderBy('seq').execute();
}

async function queued(t: TestDatabase): Promise<number> {
  const { rows } = await t.query<{ n: string }>('select count(*) as n from audit_queue');
  return Number(rows[0]?.n);
}

describe('recording an event with a state change', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
    await sql`create table widgets (id int primary key, state text not null)`.execute(t.db);
  });
  afterAll(async () => t.destroy());

  it('commits the event with the change, and chains it with seq and hash', async () => {
    await t.audit.transact(async (trx) => {
      await sql`insert into widgets values (1, 'on')`.execute(trx);
      await t.audit.append(trx, {
        actor: 'U0ALICE01',
        action: 'test.widget_switched',
        subject: 'widget-1',
        body: { state: 'on' },
      });
    });
    expect(await queued(t)).toBe(1);
    expect(await t.audit.flush()).toBe(1);
    expect(await chained(t)).toEqual([
      { seq: 1, action: 'test.widget_switched', actor: 'U0ALICE01', subject: 'widget-1' },
    ]);
    expect(await queued(t)).toBe(0);
  });

  it('loses both when the transaction rolls back: no event without its change', async () => {
    await expect(
      t.audit.transact(async (trx) => {
        await sql`insert into widgets values (2, 'on')`.execute(trx);
        await t.audit.append(trx, { actor: 'U0ALICE01', action: 'test.widget_switched', subject: 'widget-2' });
        throw new Error('provisioning said no');
      }),
    ).rejects.toThrow('provisioning said no');
    await t.audit.flush();
    expect(await chained(t)).toHaveLength(1);
    const { rows } = await t.query('select * from widgets where id = 2');
    expect(rows).toHaveLength(0);
  });

  it('refuses an event that could not be encoded, failing the caller instead of the chain', async () => {
    const bad: AuditEventInput<TestAuditAction>[] = [
      { actor: 'alice', action: 'test.widget_switched' },
      // @ts-expect-error the type refuses it too; this is for a caller that got past it (plain JavaScript, a cast)
      { actor: 'system', action: 'Widget Switched' },
      { actor: 'system', action: 'test.widget_switched', body: { ratio: Number.NaN } },
      { actor: 'system', action: 'test.widget_switched', body: { text: 'nul \u0000 byte' } },
      { actor: 'system', action: 'test.widget_switched', body: { big: 'x'.repeat(20_000) } },
      { actor: 'system', action: 'test.widget_switched', subject: 'line\nbreak' },
      { actor: 'system', action: 'test.widget_switched', subject: 'lone \ud800 surrogate' },
      { actor: 'system', action: 'test.widget_switched', body: { text: 'lone \udc00 surrogate' } },
    ];
    for (const input of bad) {
      await expect(t.audit.record(input)).rejects.toThrow(InvalidAuditEventError);
    }
    expect(await queued(t)).toBe(0);
    // Text that only looks like an escape is fine: a backslash, then "u0000".
    await t.audit.record({ actor: 'system', action: 'test.widget_noted', body: { path: 'C:\\u0000' } });
    expect(await queued(t)).toBe(1);
    await t.audit.flush();
  });

  it('chains events from several sequencers of one database exactly once', async () => {
    const before = (await chained(t)).length;
    const others = [new AuditLog(t.db, t.pool, silentLogger()), new AuditLog(t.db, t.pool, silentLogger())];
    for (let n = 0; n < 300; n++) await t.audit.append(t.db, { actor: 'system', action: 'test.event', body: { n } });
    const counts = await Promise.all([t.audit.flush(), ...others.map((o) => o.flush()), t.audit.flush()]);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(300);
    const rows = await chained(t);
    expect(rows).toHaveLength(before + 300);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(await t.audit.verify()).toMatchObject({ ok: true, checked: before + 300 });
  });

  it('keeps events queued when a batch fails, and chains them once the fault is gone', async () => {
    const before = (await chained(t)).length;
    await t.audit.record({ actor: 'system', action: 'test.event', body: { n: 'kept' } });
    // A row written past validation, by hand, whose body is not JSON breaks the batch.
    await t.query(`insert into audit_queue (actor, action, body) values ('system', 'test.poison', '{not json')`);
    await expect(t.audit.flush()).rejects.toThrow();
    expect(await queued(t)).toBe(2);
    expect(await chained(t)).toHaveLength(before);
    await t.query(`delete from audit_queue where action = 'test.poison'`);
    expect(await t.audit.flush()).toBe(1);
    expect(await t.audit.verify()).toMatchObject({ ok: true, checked: before + 1 });
  });

  it('gives events the database time to the microsecond, which reads back unchanged', async () => {
    await t.audit.record({ actor: 'system', action: 'test.time' });
    await t.audit.flush();
    const { canonical } = await t.db
      .selectFrom('audit_events')
      .select('canonical')
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    const time = (JSON.parse(canonical) as { time: string }).time;
    expect(time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    const row = await t.db
      .selectFrom('audit_log')
      .select('occurred_at')
      .where('action', '=', 'test.time')
      .executeTakeFirstOrThrow();
    expect(row.occurred_at.toISOString().slice(0, 23)).toBe(time.slice(0, 23));
    // Text to timestamptz and back loses nothing: PostgreSQL keeps the microseconds.
    const { rows } = await t.query<{ same: boolean }>(
      `select to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') = $1 as same from audit_log where action = 'test.time'`,
      [time],
    );
    expect(rows[0]?.same).toBe(true);
  });
});

describe('the sequencer in the background', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.destroy());

  it('chains events written by another process without being asked', async () => {
    const background = new AuditLog(t.db, t.pool, silentLogger(), { intervalMs: 20 });
    const chainedAll = new Promise<void>((resolve) => {
      background.sequencer.on('chained', ({ headSeq }) => headSeq === 5 && resolve());
    });
    background.sequencer.start();
    // Written straight into the queue, as another replica would: no nudge reaches `background`.
    for (let n = 1; n <= 5; n++) await t.audit.append(t.db, { actor: 'system', action: 'test.event', body: { n } });
    await chainedAll;
    await background.sequencer.stop();
    expect(await t.audit.verify()).toMatchObject({ ok: true, checked: 5 });
  });
});
