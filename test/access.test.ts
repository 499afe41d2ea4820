import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PEOPLE, testAccess, type TestAccess } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const { ana, bram, dana, emil, mallory } = PEOPLE;
const HOUR = 3_600_000;

async function actions(t: TestDatabase, subject?: string): Promise<string[]> {
  await t.audit.flush();
  let query = t.db.selectFrom('audit_log').select('action').orderBy('seq');
  if (subject) query = query.where('subject', '=', subject);
  return (await query.execute()).map((row) => row.action);
}

async function outbox(t: TestDatabase): Promise<string[]> {
  const rows = await t.db
    .selectFrom('outbox')
    .select(['kind'])
    .where('kind', '<>', 'refresh_home')
    .orderBy('id')
    .execute();
  return rows.map((row) => row.kind);
}

describe('asking for access', () => {
  let t: TestDatabase;
  let a: TestAccess;
  beforeAll(async () => {
    t = await createTestDatabase();
    a = testAccess(t);
  });
  afterAll(async () => t.destroy());

  it('files a request inside policy, with its event and the owners to be told', async () => {
    const result = await a.service.request({
      requester: ana,
      resourceId: 'prod-db',
      duration: '2h',
      reason: 'fix invoice export',
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.request).toMatchObject({
      status: 'pending',
      durationMs: 2 * HOUR,
      approvalsRequired: 2,
      resourceName: 'Production database',
    });
    expect(await actions(t, result.request.id)).toEqual(['request.created']);
    expect(await outbox(t)).toEqual(['notify_request_submitted']);
    // The row, its event and its notifications, exactly as filed in one statement.
    const row = await t.db
      .selectFrom('access_requests')
      .selectAll()
      .where('id', '=', result.request.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      requester: ana,
      resource_id: 'prod-db',
      duration_ms: 2 * HOUR,
      reason: 'fix invoice export',
      status: 'pending',
      extends_grant_id: null,
    });
    expect(row.expires_at.getTime() - row.created_at.getTime()).toBeGreaterThan(0);
    await t.audit.flush();
    const event = await t.db
      .selectFrom('audit_log')
      .select(['actor', 'subject', 'body'])
      .where('subject', '=', result.request.id)
      .executeTakeFirstOrThrow();
    expect(event).toEqual({
      actor: ana,
      subject: result.request.id,
      body: expect.objectContaining({
        resource: 'prod-db',
        duration_ms: 2 * HOUR,
        reason: 'fix invoice export',
        approvals_required: 2,
      }),
    });
    const notes = await t.db.selectFrom('outbox').select(['kind', 'payload']).orderBy('id').execute();
    expect(notes[0]).toEqual({ kind: 'notify_request_submitted', payload: { requestId: result.request.id } });
    expect(notes.slice(1).every((n) => n.kind === 'refresh_home')).toBe(true);
    expect(notes.slice(1).map((n) => (n.payload as { userId: string }).userId)).toContain(ana);
  });

  it('refuses what the policy does not allow, saying what is allowed', async () => {
    expect(await a.service.request({ requester: ana, resourceId: 'prod-dbb', reason: 'x' })).toMatchObject({
      ok: false,
      refusal: { kind: 'unknown-resource', given: 'prod-dbb', allowed: [{ id: 'prod-db' }, { id: 'staging-db' }] },
    });
    expect(await a.service.request({ requester: mallory, resourceId: 'prod-db', reason: 'x' })).toMatchObject({
      ok: false,
      refusal: { kind: 'not-allowed', allowed: [] },
    });
    expect(
      await a.service.request({ requester: bram, resourceId: 'prod-db', duration: '5h', reason: 'x' }),
    ).toMatchObject({
      ok: false,
      refusal: { kind: 'too-long', requestedMs: 5 * HOUR, maxMs: 4 * HOUR },
    });
    expect(
      await a.service.request({ requester: bram, resourceId: 'prod-db', duration: 'two hours', reason: 'x' }),
    ).toMatchObject({
      ok: false,
      refusal: { kind: 'bad-duration', given: 'two hours' },
    });
    expect(await a.service.request({ requester: bram, resourceId: 'prod-db', reason: '   ' })).toMatchObject({
      ok: false,
      refusal: { kind: 'reason-required' },
    });
    expect(await a.service.request({ requester: ana, resourceId: 'prod-db', reason: 'again' })).toMatchObject({
      ok: false,
      refusal: { kind: 'already-pending' },
    });
  });

  it('lets only one of two simultaneous identical requests through', async () => {
    const both = await Promise.all([
      a.service.request({ requester: bram, resourceId: 'staging-db', reason: 'one' }),
      a.service.request({ requester: bram, resourceId: 'staging-db', reason: 'two' }),
    ]);
    expect(both.filter((r) => r.ok)).toHaveLength(1);
    expect(both.find((r) => !r.ok)).toMatchObject({ refusal: { kind: 'already-pending' } });
  });
});

describe('deciding', () => {
  let t: TestDatabase;
  let a: TestAccess;
  beforeAll(async () => {
    t = await createTestDatabase();
    a = testAccess(t);
  });
  afterAll(async () => t.destroy());

  const ask = async (requester: string, resourceId = 'prod-db') => {
    const result = await a.service.request({ requester, resourceId, reason: 'fix invoice export' });
    if (!result.ok) throw new Error(JSON.stringify(result.refusal));
    return result.request;
  };

  it('needs two distinct owners for a quorum of two, then grants at once', async () => {
    const request = await ask(ana);
    const first = await a.service.approve(request.id, dana);
    expect(first).toMatchObject({ ok: true, request: { status: 'pending' }, grant: null });
    expect(await a.service.approve(request.id, dana)).toMatchObject({
      ok: false,
      refusal: { kind: 'already-approved-by-you' },
    });
    const second = await a.service.approve(request.id, emil);
    expect(second).toMatchObject({
      ok: true,
      request: { status: 'approved', decidedBy: emil },
      grant: { status: 'active', userId: ana },
    });
    if (!second.ok || !second.grant) return;
    expect(second.grant.endsAt.getTime() - second.grant.startsAt.getTime()).toBe(HOUR);
    expect(a.provisioner.granted).toEqual([second.grant.id]);
    expect(await actions(t, request.id)).toEqual([
      'request.created',
      'approval.recorded',
      'approval.recorded',
      'request.approved',
    ]);
    expect(await actions(t, second.grant.id)).toEqual(['grant.provisioning', 'grant.active']);
    expect(await a.service.approve(request.id, emil)).toMatchObject({
      ok: false,
      refusal: { kind: 'already-decided' },
    });
  });

  it('refuses strangers and the requester, and puts the attempt on the record', async () => {
    const request = await ask(bram, 'staging-db');
    expect(await a.service.approve(request.id, mallory)).toMatchObject({
      ok: false,
      refusal: { kind: 'not-approver' },
    });
    // Ana owns staging-db, but cannot approve what she asks for herself.
    const own = await ask(ana, 'staging-db');
    expect(await a.service.approve(own.id, ana)).toMatchObject({ ok: false, refusal: { kind: 'own-request' } });
    expect(await actions(t, request.id)).toEqual(['request.created', 'approval.refused']);
    expect(await actions(t, own.id)).toEqual(['request.created', 'approval.refused']);
  });

  it('gives exactly one outcome when owners click at once', async () => {
    const request = await ask(bram);
    const clicks = await Promise.all([
      a.service.approve(request.id, dana),
      a.service.approve(request.id, emil),
      a.service.approve(request.id, dana),
      a.service.deny(request.id, emil, 'not today'),
    ]);
    const grants = await t.db.selectFrom('grants').select('id').where('request_id', '=', request.id).execute();
    const final = await a.service.findRequest(request.id);
    expect(['approved', 'denied']).toContain(final?.status);
    expect(grants).toHaveLength(final?.status === 'approved' ? 1 : 0);
    expect(clicks.filter((c) => !c.ok).length).toBeGreaterThanOrEqual(1);
  });

  it('denies with a reason, and nothing more can happen to it', async () => {
    const request =
      (await a.service.holdingsOf(ana)).requests.find((r) => r.resourceId === 'staging-db') ??
      (await ask(ana, 'staging-db'));
    expect(await a.service.deny(request.id, dana, 'use the replica instead')).toMatchObject({
      ok: true,
      request: { status: 'denied', denyReason: 'use the replica instead', decidedBy: dana },
    });
    expect(await a.service.approve(request.id, emil)).toMatchObject({
      ok: false,
      refusal: { kind: 'already-decided' },
    });
    expect(await a.service.cancel(request.id, ana)).toMatchObject({ ok: false, refusal: { kind: 'already-decided' } });
  });

  it('lets the requester cancel, and only the requester', async () => {
    const pending = await a.service.holdingsOf(bram);
    const request = pending.requests[0] ?? (await ask(bram, 'staging-db'));
    expect(await a.service.cancel(request.id, ana)).toMatchObject({ ok: false, refusal: { kind: 'not-yours' } });
    expect(await a.service.cancel(request.id, bram)).toMatchObject({ ok: true, request: { status: 'cancelled' } });
  });
});

describe('grants over time', () => {
  let t: TestDatabase;
  let a: TestAccess;
  beforeAll(async () => {
    t = await createTestDatabase();
    a = testAccess(t);
  });
  afterAll(async () => t.destroy());

  const granted = async (requester: string, resourceId = 'staging-db', duration = '30m') => {
    const request = await a.service.request({ requester, resourceId, duration, reason: 'work' });
    if (!request.ok) throw new Error(JSON.stringify(request.refusal));
    let approved = await a.service.approve(request.request.id, PEOPLE.dana);
    if (approved.ok && !approved.grant) approved = await a.service.approve(request.request.id, PEOPLE.emil);
    if (!approved.ok || !approved.grant) throw new Error('not granted');
    return approved.grant;
  };

  it('refuses a second request for something already held', async () => {
    await granted(ana, 'prod-db');
    expect(await a.service.request({ requester: ana, resourceId: 'prod-db', reason: 'more' })).toMatchObject({
      ok: false,
      refusal: { kind: 'already-held' },
    });
  });

  it('ends grants whose time is up, once, even with two sweepers at once', async () => {
    const grant = await granted(bram);
    expect(await a.service.endDueGrants()).toBe(0);
    a.clock.advance(30 * 60_000);
    const [first, second] = await Promise.all([a.service.endDueGrants(), a.service.endDueGrants()]);
    expect((first ?? 0) + (second ?? 0)).toBeGreaterThanOrEqual(1);
    const ended = await a.service.findGrant(grant.id);
    expect(ended).toMatchObject({ status: 'ended', endReason: 'expired' });
    expect(a.provisioner.revoked.filter((id) => id === grant.id)).toHaveLength(1);
    expect(await actions(t, grant.id)).toEqual(['grant.provisioning', 'grant.active', 'grant.ending', 'grant.revoked']);
  });

  it('lets the holder end a grant early, and no one else', async () => {
    const grant = await granted(bram);
    expect(await a.service.release(grant.id, ana)).toMatchObject({ ok: false, refusal: { kind: 'not-yours' } });
    expect(await a.service.release(grant.id, bram)).toMatchObject({
      ok: true,
      grant: { status: 'ended', endReason: 'released' },
    });
  });

  it('retries failed provisioning with backoff until it works, on the record each time', async () => {
    a.provisioner.failGrants = 2;
    const request = await a.service.request({ requester: bram, resourceId: 'staging-db', reason: 'retry story' });
    if (!request.ok) throw new Error('refused');
    const approved = await a.service.approve(request.request.id, PEOPLE.emil);
    expect(approved).toMatchObject({
      ok: true,
      grant: { status: 'provision_failed', lastError: 'target database unreachable' },
    });
    if (!approved.ok || !approved.grant) return;
    expect(await a.service.retryGrants()).toBe(0); // not due yet
    a.clock.advance(31_000);
    await a.service.retryGrants();
    expect(await a.service.findGrant(approved.grant.id)).toMatchObject({ status: 'provision_failed' });
    a.clock.advance(61_000);
    await a.service.retryGrants();
    expect(await a.service.findGrant(approved.grant.id)).toMatchObject({ status: 'active', lastError: null });
    expect(await actions(t, approved.grant.id)).toEqual([
      'grant.provisioning',
      'grant.provision_failed',
      'grant.provision_failed',
      'grant.active',
    ]);
  });

  it('expires requests nobody decided, and warns holders before the end', async () => {
    const request = await a.service.request({ requester: ana, resourceId: 'staging-db', reason: 'waiting' });
    if (!request.ok) throw new Error('refused');
    a.clock.advance(61 * 60_000);
    expect(await a.service.expireStaleRequests()).toBeGreaterThanOrEqual(1);
    expect(await a.service.findRequest(request.request.id)).toMatchObject({ status: 'expired', decidedBy: 'system' });

    const grant = await granted(ana, 'staging-db', '30m');
    expect(await a.service.warnExpiring(10 * 60_000)).toBe(0);
    a.clock.advance(25 * 60_000);
    expect(await a.service.warnExpiring(10 * 60_000)).toBe(1);
    expect(await a.service.warnExpiring(10 * 60_000)).toBe(0);
    const kinds = await t.db
      .selectFrom('outbox')
      .select('payload')
      .where('kind', '=', 'notify_grant_expiring')
      .execute();
    expect(kinds.map((k) => k.payload.grantId)).toContain(grant.id);
  });

  it('reminds owners of a waiting request, each time waiting twice as long', async () => {
    const request = await a.service.request({ requester: bram, resourceId: 'prod-db', reason: 'still waiting' });
    if (!request.ok) throw new Error(JSON.stringify(request.refusal));
    expect(await a.service.remindOwners()).toBe(0);
    a.clock.advance(10 * 60_000);
    expect(await a.service.remindOwners()).toBe(1);
    expect(await a.service.remindOwners()).toBe(0);
    a.clock.advance(19 * 60_000);
    expect(await a.service.remindOwners()).toBe(0);
    a.clock.advance(60_000);
    expect(await a.service.remindOwners()).toBe(1);
    expect(await actions(t, request.request.id)).toEqual(['request.created', 'request.reminded', 'request.reminded']);
  });

  it('pages what waits for an owner, soonest to expire first, with the total', async () => {
    const all = await a.service.awaitingDecisionBy(PEOPLE.dana);
    const page = await a.service.awaitingDecisionPage(PEOPLE.dana, 1);
    expect(page.total).toBe(all.length);
    expect(page.requests).toHaveLength(Math.min(1, all.length));
    if (all.length > 0)
      expect(page.requests[0]!.expiresAt.getTime()).toBe(Math.min(...all.map((r) => r.expiresAt.getTime())));
  });

  it('leaves a chain that verifies', async () => {
    await t.audit.flush();
    expect(await t.audit.verify()).toMatchObject({ ok: true });
  });
});

describe('who is asked, and who may verify', () => {
  let t: TestDatabase;
  let a: TestAccess;
  beforeAll(async () => {
    t = await createTestDatabase();
    a = testAccess(t);
  });
  afterAll(async () => t.destroy());

  it('asks the owners of the resource to decide, never the requester', () => {
    expect(a.service.approversOf({ resourceId: 'prod-db', requester: ana })).toEqual([dana, emil]);
    // Ana owns staging-db too, but not her own request.
    expect(a.service.approversOf({ resourceId: 'staging-db', requester: ana })).toEqual([dana, emil]);
    expect(a.service.approversOf({ resourceId: 'staging-db', requester: bram })).toEqual([ana, dana, emil]);
    expect(a.service.approversOf({ resourceId: 'dropped-from-policy', requester: ana })).toEqual([]);
  });

  it('lets auditors verify the log, and records the refusal of anyone else', async () => {
    expect(a.service.mayVerifyAudit(PEOPLE.fatima)).toBe(true);
    expect(a.service.mayVerifyAudit(dana)).toBe(false);
    expect(await a.service.refuseVerification(dana)).toEqual({ kind: 'not-auditor' });
    await t.audit.flush();
    expect(await t.db.selectFrom('audit_log').select(['actor', 'action', 'body']).execute()).toEqual([
      { actor: dana, action: 'audit.verify_refused', body: { reason: 'not-auditor' } },
    ]);
  });
});
