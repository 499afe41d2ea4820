import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { beginEnding } from '../src/access/grants.ts';
import { PEOPLE, testAccess, type TestAccess } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const { ana, dana, emil } = PEOPLE;
const MINUTE = 60_000;

/** An extension moves the grant it extends (docs/audit-log.md, grant.extending); these are its edges. */
describe('extending a grant', () => {
  let t: TestDatabase;
  let a: TestAccess;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  beforeEach(() => {
    a = testAccess(t);
  });
  afterAll(async () => t.destroy());

  async function activeGrant(requester = ana) {
    const filed = await a.service.request({ requester, resourceId: 'staging-db', duration: '30m', reason: 'deploy' });
    if (!filed.ok) throw new Error(JSON.stringify(filed.refusal));
    const approved = await a.service.approve(filed.request.id, dana);
    if (!approved.ok || !approved.grant) throw new Error(JSON.stringify(approved));
    return approved.grant;
  }

  async function actions(subject: string): Promise<string[]> {
    await t.audit.flush();
    const rows = await t.db
      .selectFrom('audit_log')
      .select('action')
      .where('subject', '=', subject)
      .orderBy('seq')
      .execute();
    return rows.map((row) => row.action);
  }

  async function queued(kind: string, grantId: string): Promise<number> {
    const rows = await t.db.selectFrom('outbox').select('payload').where('kind', '=', kind).execute();
    return rows.filter((row) => row.payload.grantId === grantId).length;
  }

  it('asks for at most the resource’s maximum, with a reason, and only one at a time', async () => {
    const grant = await activeGrant();
    expect(await a.service.extend(grant.id, ana, { reason: 'more', duration: '3h' })).toMatchObject({
      ok: false,
      refusal: { kind: 'too-long', maxMs: 120 * MINUTE },
    });
    expect(await a.service.extend(grant.id, ana, { reason: '  ', duration: '1h' })).toMatchObject({
      ok: false,
      refusal: { kind: 'reason-required' },
    });
    const first = await a.service.extend(grant.id, ana, { reason: 'more', duration: '1h' });
    expect(first).toMatchObject({ ok: true, request: { extendsGrantId: grant.id, durationMs: 60 * MINUTE } });
    expect(await a.service.extensionForm(grant.id, ana)).toMatchObject({
      ok: false,
      refusal: { kind: 'already-pending' },
    });
    await a.service.release(grant.id, ana);
  });

  it('moves the end of the same grant when approved, and the target with it; warned anew before the new end', async () => {
    const grant = await activeGrant();
    await t.db.updateTable('grants').set({ warned_at: a.clock.now }).where('id', '=', grant.id).execute();
    const asked = await a.service.extend(grant.id, ana, { reason: 'the job runs over', duration: '45m' });
    if (!asked.ok) throw new Error(JSON.stringify(asked.refusal));
    a.clock.advance(5 * MINUTE);
    const approved = await a.service.approve(asked.request.id, emil);
    const newEnd = new Date(grant.endsAt.getTime() + 45 * MINUTE);
    expect(approved).toMatchObject({ ok: true, grant: { id: grant.id, status: 'active', endsAt: newEnd } });
    expect(a.provisioner.extended).toEqual([{ id: grant.id, endsAt: newEnd.toISOString() }]);
    const row = await t.db.selectFrom('grants').selectAll().where('id', '=', grant.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ ends_at: newEnd, target_ends_at: newEnd, warned_at: null, next_attempt_at: null });
    expect(await actions(grant.id)).toEqual([
      'grant.provisioning',
      'grant.active',
      'grant.extending',
      'grant.extended',
    ]);
    expect(await a.service.holdingsOf(ana)).toMatchObject({ grants: [{ id: grant.id }], requests: [] });
    await a.service.release(grant.id, ana);
  });

  it('keeps the grant active while the target cannot be told, tells the holder once, and the retry sweep applies it', async () => {
    const grant = await activeGrant();
    const asked = await a.service.extend(grant.id, ana, { reason: 'more', duration: '1h' });
    if (!asked.ok) throw new Error(JSON.stringify(asked.refusal));
    a.provisioner.failExtends = 2;
    const approved = await a.service.approve(asked.request.id, dana);
    expect(approved).toMatchObject({ ok: true, grant: { id: grant.id, status: 'active' } });
    expect(await a.service.findGrant(grant.id)).toMatchObject({ status: 'active', extending: true });
    // The second try fails too: still one word to the holder.
    a.clock.advance(31_000);
    expect(await a.service.retryGrants()).toBe(0);
    expect(await queued('notify_grant_failing', grant.id)).toBe(1);
    a.clock.advance(61_000);
    expect(await a.service.retryGrants()).toBe(1);
    expect(await a.service.findGrant(grant.id)).toMatchObject({ status: 'active', extending: false, lastError: null });
    expect(a.provisioner.extended).toEqual([
      { id: grant.id, endsAt: new Date(grant.endsAt.getTime() + 60 * MINUTE).toISOString() },
    ]);
    // The messages that said it was failing are set right.
    expect(await queued('notify_grant_changed', grant.id)).toBe(1);
    expect(await actions(grant.id)).toEqual([
      'grant.provisioning',
      'grant.active',
      'grant.extending',
      'grant.extend_failed',
      'grant.extend_failed',
      'grant.extended',
    ]);
    await a.service.release(grant.id, ana);
  });

  it('withdraws an extension still waiting when its grant ends, and refuses to approve it', async () => {
    const grant = await activeGrant();
    const asked = await a.service.extend(grant.id, ana, { reason: 'more', duration: '1h' });
    if (!asked.ok) throw new Error(JSON.stringify(asked.refusal));
    await a.service.release(grant.id, ana);
    expect(await a.service.findRequest(asked.request.id)).toMatchObject({ status: 'cancelled', decidedBy: 'system' });
    expect(await a.service.approve(asked.request.id, dana)).toMatchObject({
      ok: false,
      refusal: { kind: 'already-decided' },
    });
    await t.audit.flush();
    const withdrawn = await t.db
      .selectFrom('audit_log')
      .select(['actor', 'body'])
      .where('action', '=', 'request.cancelled')
      .where('subject', '=', asked.request.id)
      .executeTakeFirstOrThrow();
    expect(withdrawn).toEqual({
      actor: 'system',
      body: { resource: 'staging-db', reason: 'grant_ended', grant: grant.id },
    });
    expect(await a.service.extensionForm(grant.id, ana)).toMatchObject({
      ok: false,
      refusal: { kind: 'extension-of-ended' },
    });
    expect(await a.service.release(grant.id, ana)).toMatchObject({ ok: false, refusal: { kind: 'already-ended' } });
  });

  it('refuses to extend a grant whose end has passed, even before the sweep revokes it', async () => {
    const grant = await activeGrant();
    const asked = await a.service.extend(grant.id, ana, { reason: 'more', duration: '1h' });
    if (!asked.ok) throw new Error(JSON.stringify(asked.refusal));
    // Its end passes; no sweep runs here, so the grant is still `active` in the table.
    a.clock.advance(31 * MINUTE);
    expect(await a.service.approve(asked.request.id, dana)).toMatchObject({
      ok: false,
      refusal: { kind: 'extension-of-ended' },
    });
    expect(a.provisioner.extended).toEqual([]);
    expect(await a.service.findRequest(asked.request.id)).toMatchObject({ status: 'cancelled', decidedBy: 'system' });
    expect((await a.service.findGrant(grant.id))?.endsAt).toEqual(grant.endsAt);
    expect(await a.service.extensionForm(grant.id, ana)).toMatchObject({
      ok: false,
      refusal: { kind: 'extension-of-ended' },
    });
    expect(await a.service.extend(grant.id, ana, { reason: 'more', duration: '1h' })).toMatchObject({
      ok: false,
      refusal: { kind: 'extension-of-ended' },
    });
    a.clock.advance(-31 * MINUTE);
    await a.service.release(grant.id, ana);
  });

  it('an approval and the grant ending at the same moment do not deadlock: the approval is told the grant ended', async () => {
    const grant = await activeGrant();
    const asked = await a.service.extend(grant.id, ana, { reason: 'more', duration: '1h' });
    if (!asked.ok) throw new Error(JSON.stringify(asked.refusal));
    let approval: Promise<unknown> | undefined;
    await t.db.transaction().execute(async (trx) => {
      // The grant is being ended (I'm done, the sweep) and holds its row …
      await trx.selectFrom('grants').select('id').where('id', '=', grant.id).forUpdate().execute();
      // … while an owner approves: the approval locks the request, then waits for the grant.
      approval = a.service.approve(asked.request.id, dana);
      const waiting = async () =>
        (
          await t.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`,
          )
        ).rows[0]!.n;
      while ((await waiting()) === 0) await new Promise((resolve) => setImmediate(resolve));
      // The ending withdraws the pending extensions it can lock: the one being approved is skipped, not waited for.
      await beginEnding(a.service.ctx, trx, [grant.id], 'released', ana);
    });
    expect(await approval).toMatchObject({ ok: false, refusal: { kind: 'extension-of-ended' } });
    expect(await a.service.findRequest(asked.request.id)).toMatchObject({ status: 'cancelled', decidedBy: 'system' });
    await t.audit.flush();
    const withdrawn = await t.db
      .selectFrom('audit_log')
      .select('subject')
      .where('action', '=', 'request.cancelled')
      .where('subject', '=', asked.request.id)
      .execute();
    expect(withdrawn).toHaveLength(1);
  });

  it('approved while the grant is still being set up, the target is given the new end once it is', async () => {
    a.provisioner.failGrants = 1;
    const filed = await a.service.request({ requester: ana, resourceId: 'staging-db', duration: '30m', reason: 'x' });
    if (!filed.ok) throw new Error(JSON.stringify(filed.refusal));
    const approved = await a.service.approve(filed.request.id, dana);
    if (!approved.ok || !approved.grant) throw new Error(JSON.stringify(approved));
    const grant = approved.grant;
    expect(grant.status).toBe('provision_failed');
    const asked = await a.service.extend(grant.id, ana, { reason: 'more', duration: '1h' });
    if (!asked.ok) throw new Error(JSON.stringify(asked.refusal));
    await a.service.approve(asked.request.id, dana);
    const newEnd = new Date(grant.endsAt.getTime() + 60 * MINUTE);
    // Not provisioned yet: there is nothing in the target to extend.
    expect(a.provisioner.extended).toEqual([]);
    a.clock.advance(31_000);
    await a.service.retryGrants();
    const row = await t.db.selectFrom('grants').selectAll().where('id', '=', grant.id).executeTakeFirstOrThrow();
    // Provisioned with the end the grant has now: nothing left to apply.
    expect(row).toMatchObject({ status: 'active', ends_at: newEnd, target_ends_at: newEnd, next_attempt_at: null });
    await a.service.release(grant.id, ana);
  });
});
