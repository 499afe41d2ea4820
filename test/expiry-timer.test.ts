import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AccessService } from '../src/access/service.ts';
import { silentLogger } from '../src/log.ts';
import { ExpiryTimer } from '../src/scheduler/expiry-timer.ts';
import { noneProvisioner } from '../src/provisioners/none.ts';
import { PEOPLE, loadedPolicy } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const { ana, bram, dana } = PEOPLE;

const POLICY = `
audit_channel: C0AUDIT01
groups:
  contractors: [${ana}, ${bram}]
resources:
  - id: scratch-db
    name: Scratch database
    owners: [${dana}]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner: { kind: none }
`;

/**
 * The timer alone ends grants here: no sweep runs in this file, so a grant that ends does
 * so because the timer was armed for it (or re-armed by a change it was told of).
 */
describe('the expiry timer', () => {
  let t: TestDatabase;
  let service: AccessService;
  let timer: ExpiryTimer | null = null;

  beforeAll(async () => {
    t = await createTestDatabase();
    const policy = loadedPolicy(POLICY);
    service = new AccessService({
      db: t.db,
      audit: t.audit,
      policy: () => policy,
      provisionerFor: () => noneProvisioner,
      log: silentLogger(),
      now: () => new Date(),
      secrets: null,
    });
  });
  afterEach(async () => {
    await timer?.stop();
    timer = null;
  });
  afterAll(async () => t.destroy());

  async function grantFor(requester: string, duration: string): Promise<string> {
    const filed = await service.request({ requester, resourceId: 'scratch-db', duration, reason: 'timer test' });
    if (!filed.ok) throw new Error(JSON.stringify(filed.refusal));
    const approved = await service.approve(filed.request.id, dana);
    if (!approved.ok || !approved.grant) throw new Error(JSON.stringify(approved));
    return approved.grant.id;
  }

  async function startTimer(): Promise<ExpiryTimer> {
    timer = new ExpiryTimer({
      db: t.db,
      databaseUrl: t.url,
      endDue: () => service.endDueGrants(),
      log: silentLogger(),
    });
    await timer.start();
    return timer;
  }

  /** Resolves when the grant has ended, with its end and when it ended. */
  async function ended(grantId: string): Promise<{ ends_at: Date; ended_at: Date; end_reason: string | null }> {
    for (;;) {
      const row = await t.db
        .selectFrom('grants')
        .select(['status', 'ends_at', 'ended_at', 'end_reason'])
        .where('id', '=', grantId)
        .executeTakeFirstOrThrow();
      if (row.status === 'ended') return { ends_at: row.ends_at, ended_at: row.ended_at!, end_reason: row.end_reason };
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('ends a grant that is due when it starts, and one due later once its time comes', async () => {
    const early = await grantFor(ana, '1s');
    // Due before the timer starts: wait out its end.
    const { ends_at } = await t.db
      .selectFrom('grants')
      .select('ends_at')
      .where('id', '=', early)
      .executeTakeFirstOrThrow();
    while (Date.now() <= ends_at.getTime())
      await new Promise((resolve) => setTimeout(resolve, ends_at.getTime() - Date.now() + 1));
    await startTimer();
    expect(await ended(early)).toMatchObject({ end_reason: 'expired' });

    const later = await grantFor(bram, '2s');
    const done = await ended(later);
    expect(done.end_reason).toBe('expired');
    expect(done.ended_at.getTime()).toBeGreaterThanOrEqual(done.ends_at.getTime());
  });

  it('is re-armed by a grant made on another connection while it sleeps', async () => {
    // Nothing is live: the timer sleeps its longest (a minute).
    await startTimer();
    // Another replica's approval: the trigger's NOTIFY wakes this timer for the new, earlier end.
    const grantId = await grantFor(ana, '1s');
    expect(await ended(grantId)).toMatchObject({ end_reason: 'expired' });
  });

  it('listens again after the server cuts its connection, and still ends grants on time', async () => {
    await startTimer();
    const cut = await t.query<{ cut: boolean }>(
      `select pg_terminate_backend(pid) as cut from pg_stat_activity where application_name = 'gatehouse-expiry-timer' and datname = current_database()`,
    );
    expect(cut.rows.map((row) => row.cut)).toEqual([true]);
    // Wait until it listens again, then make a grant it can only learn of by NOTIFY.
    for (;;) {
      const listening = await t.query(
        `select 1 from pg_stat_activity where application_name = 'gatehouse-expiry-timer' and datname = current_database() and state = 'idle'`,
      );
      if (listening.rowCount === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const grantId = await grantFor(bram, '1s');
    expect(await ended(grantId)).toMatchObject({ end_reason: 'expired' });
  });
});
