import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkMfaSetup } from '../src/mfa/setup.ts';
import { FAILURE_WINDOW_MS, LOCKOUT_MS } from '../src/access/mfa.ts';
import { SecretBox } from '../src/secrets/sealed.ts';
import { loadedPolicy, PEOPLE, TEST_POLICY, testAccess, type TestAccess } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const { ana, bram, dana, emil, fatima, mallory } = PEOPLE;
const KEY = 'a'.repeat(64);
const STEP = 30_000;

/** The test policy with MFA on: prod-db needs a code from requester and approvers; fatima resets. */
const MFA_POLICY = TEST_POLICY.replace(
  '  auditors: [U0FATIMA1]\n',
  '  auditors: [U0FATIMA1]\nmfa_admins: [auditors]\n',
).replace('    approvals_required: 2\n', '    approvals_required: 1\n    require_mfa: true\n    approver_mfa: true\n');

/** The code an authenticator shows at `at` (plus `steps` time steps). */
function codeAt(secret: string, at: Date, steps = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor((at.getTime() + steps * STEP) / 1000) });
}

/** A 6-digit code that is none of those valid from two steps before to two after `at`. */
async function wrongCode(secret: string, at: Date): Promise<string> {
  const near = new Set(await Promise.all([-2, -1, 0, 1, 2].map((steps) => codeAt(secret, at, steps))));
  for (let n = 0; ; n++) {
    const candidate = String(n).padStart(6, '0');
    if (!near.has(candidate)) return candidate;
  }
}

async function events(
  t: TestDatabase,
  actor?: string,
): Promise<{ action: string; subject: string | null; body: Record<string, unknown> }[]> {
  await t.audit.flush();
  let query = t.db
    .selectFrom('audit_log')
    .select(['action', 'subject', 'body'])
    .where('action', 'like', 'mfa.%')
    .orderBy('seq');
  if (actor) query = query.where('actor', '=', actor);
  return (await query.execute()) as { action: string; subject: string | null; body: Record<string, unknown> }[];
}

describe('MFA enrolment and codes', () => {
  let t: TestDatabase;
  let a: TestAccess;
  const secrets: Record<string, string> = {};
  const usedCodes: string[] = [];

  /** Enrols `userId` with a confirmed code from the current step. */
  async function enrol(userId: string): Promise<string> {
    expect(await a.service.mfa.begin(userId)).toEqual({ ok: true, reEnrolment: false });
    const pending = await a.service.mfa.pendingEnrolment(userId);
    if (!pending) throw new Error('no enrolment waiting');
    const code = await codeAt(pending.secret, a.clock.now);
    usedCodes.push(code);
    expect(await a.service.mfa.confirm(userId, code)).toEqual({ ok: true, reEnrolment: false });
    secrets[userId] = pending.secret;
    return pending.secret;
  }

  beforeAll(async () => {
    t = await createTestDatabase();
    a = testAccess(t, MFA_POLICY, { secrets: SecretBox.fromEnv(KEY) });
  });
  afterAll(async () => t.destroy());

  it('enrols with a QR secret confirmed by a current code; a wrong code does not confirm', async () => {
    expect((await a.service.mfa.status(ana)).state).toBe('off');
    expect(await a.service.mfa.begin(ana)).toEqual({ ok: true, reEnrolment: false });
    expect((await a.service.mfa.status(ana)).state).toBe('pending');
    const pending = await a.service.mfa.pendingEnrolment(ana);
    expect(pending?.secret).toMatch(/^[A-Z2-7]{32}$/);
    const secret = pending?.secret ?? '';

    const wrong = await a.service.mfa.confirm(ana, await wrongCode(secret, a.clock.now));
    expect(wrong).toEqual({ ok: false, refusal: { kind: 'mfa-wrong', malformed: false, attemptsLeft: 4 } });
    expect(await a.service.mfa.confirm(ana, 'abc')).toEqual({
      ok: false,
      refusal: { kind: 'mfa-wrong', malformed: true, attemptsLeft: 3 },
    });
    const code = await codeAt(secret, a.clock.now);
    usedCodes.push(code);
    // Apps show codes as "123 456": the space is fine.
    expect(await a.service.mfa.confirm(ana, `${code.slice(0, 3)} ${code.slice(3)}`)).toEqual({
      ok: true,
      reEnrolment: false,
    });
    secrets[ana] = secret;
    expect(await a.service.mfa.status(ana)).toMatchObject({ state: 'on', reEnrolling: false, lockedUntil: null });
    expect((await events(t, ana)).map((e) => [e.action, e.body['reason'] ?? null])).toEqual([
      ['mfa.enrolment_started', null],
      ['mfa.failed', 'wrong'],
      ['mfa.failed', 'malformed'],
      ['mfa.enrolled', null],
    ]);
    const kinds = await t.db
      .selectFrom('outbox')
      .select('kind')
      .where('kind', 'like', 'notify_mfa_%')
      .orderBy('id')
      .execute();
    expect(kinds.map((row) => row.kind)).toEqual(['notify_mfa_enrolment', 'notify_mfa_enrolled']);
  });

  it('keeps the secret sealed at rest, bound to its owner', async () => {
    const row = await t.db
      .selectFrom('mfa_enrolments')
      .selectAll()
      .where('user_id', '=', ana)
      .executeTakeFirstOrThrow();
    expect(row.pending_secret).toBeNull();
    expect(row.secret?.toString('latin1')).not.toContain(secrets[ana]);
    const box = SecretBox.fromEnv(KEY)!;
    expect(box.open(row.secret!, `mfa:${ana}`)).toBe(secrets[ana]);
    // Copied to another person's row, it does not open: the context is the user id.
    expect(() => box.open(row.secret!, `mfa:${bram}`)).toThrow();
  });

  it('accepts a code once: the same time step is refused, the next one works', async () => {
    const secret = secrets[ana]!;
    a.clock.advance(STEP);
    const code = await codeAt(secret, a.clock.now);
    usedCodes.push(code);
    expect(await a.service.mfa.check(ana, code, 'request')).toMatchObject({ ok: true });
    expect(await a.service.mfa.check(ana, code, 'request')).toEqual({ ok: false, refusal: { kind: 'mfa-replayed' } });
    // An older step than the last one used is a replay too.
    expect(await a.service.mfa.check(ana, await codeAt(secret, a.clock.now, -1), 'request')).toEqual({
      ok: false,
      refusal: { kind: 'mfa-replayed' },
    });
    const next = await codeAt(secret, a.clock.now, 1);
    usedCodes.push(next);
    expect(await a.service.mfa.check(ana, next, 'request')).toMatchObject({ ok: true });
    expect((await events(t, ana)).filter((e) => e.action === 'mfa.failed').map((e) => e.body['reason'])).toEqual([
      'wrong',
      'malformed',
      'replayed',
      'replayed',
    ]);
  });

  it('allows one step of clock drift either way, not two', async () => {
    const secret = await enrol(bram);
    a.clock.advance(3 * STEP);
    expect(await a.service.mfa.check(bram, await codeAt(secret, a.clock.now, -2), 'request')).toMatchObject({
      ok: false,
      refusal: { kind: 'mfa-wrong' },
    });
    expect(await a.service.mfa.check(bram, await codeAt(secret, a.clock.now, 2), 'request')).toMatchObject({
      ok: false,
      refusal: { kind: 'mfa-wrong' },
    });
    expect(await a.service.mfa.check(bram, await codeAt(secret, a.clock.now, -1), 'request')).toMatchObject({
      ok: true,
    });
    expect(await a.service.mfa.check(bram, await codeAt(secret, a.clock.now, 1), 'request')).toMatchObject({
      ok: true,
    });
  });

  it('locks MFA for 15 minutes after 5 wrong codes in 10 minutes, alerts, and refuses even a right code meanwhile', async () => {
    const secret = secrets[bram]!;
    // The drift test's two wrong codes drop out of the window first.
    a.clock.advance(FAILURE_WINDOW_MS);
    // Wrong codes spread over more than 10 minutes do not add up: only those in the window count.
    for (let i = 0; i < 4; i++)
      expect(await a.service.mfa.check(bram, await wrongCode(secret, a.clock.now), 'approve')).toMatchObject({
        ok: false,
        refusal: { kind: 'mfa-wrong' },
      });
    a.clock.advance(FAILURE_WINDOW_MS + 1000);
    for (let i = 0; i < 4; i++) {
      const result = await a.service.mfa.check(bram, await wrongCode(secret, a.clock.now), 'approve');
      expect(result).toEqual({ ok: false, refusal: { kind: 'mfa-wrong', malformed: false, attemptsLeft: 4 - i } });
    }
    const locked = await a.service.mfa.check(bram, await wrongCode(secret, a.clock.now), 'approve');
    const until = new Date(a.clock.now.getTime() + LOCKOUT_MS);
    expect(locked).toEqual({ ok: false, refusal: { kind: 'mfa-locked', until } });
    expect(await a.service.mfa.check(bram, await codeAt(secret, a.clock.now), 'approve')).toEqual({
      ok: false,
      refusal: { kind: 'mfa-locked', until },
    });
    expect((await a.service.mfa.status(bram)).lockedUntil).toEqual(until);

    const lockEvents = (await events(t, bram)).filter((e) => ['mfa.locked', 'mfa.refused'].includes(e.action));
    expect(lockEvents.map((e) => [e.action, e.body['reason']])).toEqual([
      ['mfa.locked', 'wrong'],
      ['mfa.refused', 'locked'],
    ]);
    expect(lockEvents[0]?.body).toMatchObject({ failures: 5, window_minutes: 10, locked_until: until.toISOString() });
    const alert = await t.db
      .selectFrom('outbox')
      .select('payload')
      .where('kind', '=', 'notify_mfa_locked')
      .executeTakeFirstOrThrow();
    expect(alert.payload).toEqual({ userId: bram, until: until.toISOString() });

    a.clock.advance(LOCKOUT_MS);
    expect(await a.service.mfa.check(bram, await codeAt(secret, a.clock.now), 'approve')).toMatchObject({ ok: true });
  });

  it('asks for a code with a request for a require_mfa resource, and files it only with a right one', async () => {
    // Ana's earlier wrong and replayed codes (four) drop out of the lockout window first.
    a.clock.advance(FAILURE_WINDOW_MS);
    const ask = { requester: ana, resourceId: 'prod-db', reason: 'fix invoice export' };
    expect(await a.service.request(ask)).toMatchObject({
      ok: false,
      refusal: { kind: 'mfa-code-needed', resource: { id: 'prod-db' } },
    });
    expect(await a.service.request({ ...ask, mfaCode: await wrongCode(secrets[ana]!, a.clock.now) })).toMatchObject({
      ok: false,
      refusal: { kind: 'mfa-wrong' },
    });
    expect(
      await t.db.selectFrom('access_requests').select('id').where('resource_id', '=', 'prod-db').execute(),
    ).toEqual([]);
    // Someone who never enrolled is told to, and nothing reaches the owners.
    const unenrolled = testAccess(
      t,
      MFA_POLICY.replace(`contractors: [${ana}, ${bram}]`, `contractors: [${ana}, ${bram}, ${mallory}]`),
      { secrets: SecretBox.fromEnv(KEY) },
    );
    expect(await unenrolled.service.request({ ...ask, requester: mallory, mfaCode: '123456' })).toEqual({
      ok: false,
      refusal: { kind: 'mfa-not-enrolled', purpose: 'request' },
    });

    const code = await codeAt(secrets[ana]!, a.clock.now);
    usedCodes.push(code);
    const filed = await a.service.request({ ...ask, mfaCode: code });
    expect(filed.ok).toBe(true);
    await t.audit.flush();
    const created = await t.db
      .selectFrom('audit_log')
      .select('body')
      .where('action', '=', 'request.created')
      .executeTakeFirstOrThrow();
    expect(created.body).toMatchObject({ resource: 'prod-db', mfa_checked: true });
    // A resource without require_mfa needs no code.
    expect(await a.service.request({ requester: ana, resourceId: 'staging-db', reason: 'load test' })).toMatchObject({
      ok: true,
    });
  });

  it("with approver_mfa, approves only with the approver's own right code, and records that MFA was checked", async () => {
    const request = await t.db
      .selectFrom('access_requests')
      .select('id')
      .where('resource_id', '=', 'prod-db')
      .where('status', '=', 'pending')
      .executeTakeFirstOrThrow();
    const danaSecret = await enrol(dana);
    a.clock.advance(STEP);
    expect(await a.service.approve(request.id, dana)).toMatchObject({
      ok: false,
      refusal: { kind: 'mfa-code-needed' },
    });
    expect(
      await a.service.approve(request.id, dana, { mfaCode: await wrongCode(danaSecret, a.clock.now) }),
    ).toMatchObject({ ok: false, refusal: { kind: 'mfa-wrong' } });
    // A stranger is refused as a stranger, before any code is looked at.
    expect(await a.service.approve(request.id, mallory, { mfaCode: '123456' })).toMatchObject({
      ok: false,
      refusal: { kind: 'not-approver' },
    });
    // Bram is enrolled, but his code is not Dana's: it cannot approve for her.
    expect(
      await a.service.approve(request.id, dana, { mfaCode: await codeAt(secrets[bram]!, a.clock.now) }),
    ).toMatchObject({ ok: false, refusal: { kind: 'mfa-wrong' } });
    expect(await t.db.selectFrom('approvals').selectAll().where('request_id', '=', request.id).execute()).toEqual([]);

    const code = await codeAt(danaSecret, a.clock.now);
    usedCodes.push(code);
    const approved = await a.service.approve(request.id, dana, { mfaCode: code });
    expect(approved).toMatchObject({ ok: true, request: { status: 'approved' } });
    const approval = await t.db
      .selectFrom('approvals')
      .selectAll()
      .where('request_id', '=', request.id)
      .executeTakeFirstOrThrow();
    expect(approval).toMatchObject({ approver: dana, mfa_checked: true });
    await t.audit.flush();
    const recorded = await t.db
      .selectFrom('audit_log')
      .select('body')
      .where('action', '=', 'approval.recorded')
      .where('subject', '=', request.id)
      .executeTakeFirstOrThrow();
    expect(recorded.body).toMatchObject({ mfa_checked: true });
  });

  it('re-enrols only with a current code, keeping the old authenticator until the new one is confirmed', async () => {
    a.clock.advance(STEP);
    expect(await a.service.mfa.begin(ana)).toEqual({ ok: false, refusal: { kind: 'mfa-already-on' } });
    const old = secrets[ana]!;
    const code = await codeAt(old, a.clock.now);
    usedCodes.push(code);
    expect(await a.service.mfa.begin(ana, code)).toEqual({ ok: true, reEnrolment: true });
    expect(await a.service.mfa.status(ana)).toMatchObject({ state: 'on', reEnrolling: true });
    const fresh = (await a.service.mfa.pendingEnrolment(ana))!.secret;
    expect(fresh).not.toBe(old);
    a.clock.advance(STEP);
    const oldStill = await codeAt(old, a.clock.now);
    usedCodes.push(oldStill);
    expect(await a.service.mfa.check(ana, oldStill, 'request')).toMatchObject({ ok: true });
    const confirm = await codeAt(fresh, a.clock.now);
    usedCodes.push(confirm);
    expect(await a.service.mfa.confirm(ana, confirm)).toEqual({ ok: true, reEnrolment: true });
    secrets[ana] = fresh;
    a.clock.advance(STEP);
    expect(await a.service.mfa.check(ana, await codeAt(old, a.clock.now), 'request')).toMatchObject({
      ok: false,
      refusal: { kind: 'mfa-wrong' },
    });
  });

  it('turns MFA off only with a current code', async () => {
    a.clock.advance(STEP);
    expect(await a.service.mfa.remove(dana, await wrongCode(secrets[dana]!, a.clock.now))).toMatchObject({
      ok: false,
      refusal: { kind: 'mfa-wrong' },
    });
    expect((await a.service.mfa.status(dana)).state).toBe('on');
    const code = await codeAt(secrets[dana]!, a.clock.now);
    usedCodes.push(code);
    expect(await a.service.mfa.remove(dana, code)).toEqual({ ok: true });
    expect((await a.service.mfa.status(dana)).state).toBe('off');
    expect((await events(t, dana)).at(-1)).toMatchObject({ action: 'mfa.removed', subject: dana });
  });

  it("lets an MFA admin reset someone else's MFA and lockout; nobody else, and not their own", async () => {
    expect(await a.service.mfa.reset(emil, ana)).toEqual({ ok: false, refusal: { kind: 'not-mfa-admin' } });
    expect(await a.service.mfa.reset(fatima, fatima)).toEqual({ ok: false, refusal: { kind: 'mfa-own-reset' } });
    // Lock Ana out, then reset.
    for (let i = 0; i < 5; i++) await a.service.mfa.check(ana, await wrongCode(secrets[ana]!, a.clock.now), 'request');
    expect((await a.service.mfa.status(ana)).lockedUntil).not.toBeNull();
    expect(await a.service.mfa.reset(fatima, ana)).toEqual({ ok: true, previous: 'on', wasLocked: true });
    expect(await a.service.mfa.status(ana)).toMatchObject({ state: 'off', lockedUntil: null });
    const resets = (await events(t)).filter((e) => e.action.startsWith('mfa.reset'));
    expect(resets.map((e) => [e.action, e.subject, e.body['reason'] ?? e.body['previous']])).toEqual([
      ['mfa.reset_refused', ana, 'not-mfa-admin'],
      ['mfa.reset_refused', fatima, 'mfa-own-reset'],
      ['mfa.reset', ana, 'on'],
    ]);
    const told = await t.db
      .selectFrom('outbox')
      .select('payload')
      .where('kind', '=', 'notify_mfa_changed')
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(told.payload).toMatchObject({ userId: ana, change: 'reset', by: fatima });
  });

  it('never puts a secret or a code in an audit event or a notification', async () => {
    await t.audit.flush();
    const bodies = JSON.stringify(await t.db.selectFrom('audit_log').select('body').execute());
    const outbox = JSON.stringify(await t.db.selectFrom('outbox').select('payload').execute());
    expect(usedCodes.length).toBeGreaterThan(10);
    for (const value of [...Object.values(secrets), ...usedCodes]) {
      expect(bodies).not.toContain(value);
      expect(outbox).not.toContain(value);
    }
  });
});

describe('MFA without GATEHOUSE_SECRETS_KEY', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.destroy());

  it('start-up refuses a policy that uses MFA, naming the resource and how to make a key', () => {
    const policy = loadedPolicy(MFA_POLICY);
    expect(() => checkMfaSetup(policy, undefined)).toThrow(
      /resources\[0\] \(prod-db\) sets require_mfa and approver_mfa; mfa_admins is set.*GATEHOUSE_SECRETS_KEY is not set.*openssl rand -hex 32/s,
    );
    expect(() => checkMfaSetup(policy, KEY)).not.toThrow();
    expect(() => checkMfaSetup(loadedPolicy(TEST_POLICY), undefined)).not.toThrow();
  });

  it('answers that MFA is unavailable instead of storing anything', async () => {
    const a = testAccess(t, TEST_POLICY);
    expect(a.service.mfa.available).toBe(false);
    expect(await a.service.mfa.begin(ana)).toEqual({ ok: false, refusal: { kind: 'mfa-unavailable' } });
    expect(await a.service.mfa.check(ana, '123456', 'request')).toEqual({
      ok: false,
      refusal: { kind: 'mfa-unavailable' },
    });
    expect(await t.db.selectFrom('mfa_enrolments').selectAll().execute()).toEqual([]);
  });
});

describe('which steps take a code, asked before a form opens', () => {
  let t: TestDatabase;
  let a: TestAccess;
  const secrets: Record<string, string> = {};
  let prodRequest = '';

  async function enrol(userId: string): Promise<void> {
    await a.service.mfa.begin(userId);
    const pending = await a.service.mfa.pendingEnrolment(userId);
    if (!pending) throw new Error('no enrolment waiting');
    expect(await a.service.mfa.confirm(userId, await codeAt(pending.secret, a.clock.now))).toMatchObject({ ok: true });
    secrets[userId] = pending.secret;
    // The next code each gives is of a later time step than the one just used.
    a.clock.advance(STEP);
  }

  beforeAll(async () => {
    t = await createTestDatabase();
    a = testAccess(t, MFA_POLICY, { secrets: SecretBox.fromEnv(KEY) });
  });
  afterAll(async () => t.destroy());

  it('a request for a require_mfa resource, by someone who may ask for it; one with no authenticator is told at once', async () => {
    expect(await a.service.requestNeedsCode(ana, 'prod-db')).toEqual({
      ok: false,
      refusal: { kind: 'mfa-not-enrolled', purpose: 'request' },
    });
    expect(await a.service.requestNeedsCode(ana, 'staging-db')).toEqual({ ok: true, needsCode: false });
    expect(await a.service.requestNeedsCode(ana, undefined)).toEqual({ ok: true, needsCode: false });
    // Mallory may not ask for it at all: requestAccess refuses her, code or not.
    expect(await a.service.requestNeedsCode(mallory, 'prod-db')).toEqual({ ok: true, needsCode: false });
    await enrol(ana);
    expect(await a.service.requestNeedsCode(ana, 'prod-db')).toEqual({ ok: true, needsCode: true });
  });

  it('an approval with approver_mfa, for an owner who may decide and has MFA on; a stranger is refused on the record', async () => {
    const filed = await a.service.request({
      requester: ana,
      resourceId: 'prod-db',
      reason: 'fix invoice export',
      mfaCode: await codeAt(secrets[ana]!, a.clock.now),
    });
    if (!filed.ok) throw new Error(JSON.stringify(filed.refusal));
    prodRequest = filed.request.id;
    expect(await a.service.approvalNeedsCode(prodRequest, dana)).toEqual({
      ok: false,
      refusal: { kind: 'mfa-not-enrolled', purpose: 'approve' },
    });
    expect(await a.service.approvalNeedsCode(prodRequest, mallory)).toMatchObject({
      ok: false,
      refusal: { kind: 'not-approver' },
    });
    await t.audit.flush();
    expect(
      await t.db
        .selectFrom('audit_log')
        .select(['actor', 'action'])
        .where('subject', '=', prodRequest)
        .where('action', '=', 'approval.refused')
        .execute(),
    ).toEqual([{ actor: mallory, action: 'approval.refused' }]);
    await enrol(dana);
    expect(await a.service.approvalNeedsCode(prodRequest, dana)).toMatchObject({
      ok: true,
      needsCode: true,
      request: { id: prodRequest, status: 'pending' },
    });
    // No approver_mfa, or no such request: straight to approve(), which refuses what it must.
    const staging = await a.service.request({ requester: ana, resourceId: 'staging-db', reason: 'load test' });
    if (!staging.ok) throw new Error(JSON.stringify(staging.refusal));
    expect(await a.service.approvalNeedsCode(staging.request.id, dana)).toEqual({ ok: true, needsCode: false });
    expect(await a.service.approvalNeedsCode('req_nosuchrequest', dana)).toEqual({ ok: true, needsCode: false });
  });

  it('an extension of a require_mfa grant by its holder: the Extend form asks for a code, and only the holder gets it', async () => {
    const approved = await a.service.approve(prodRequest, dana, { mfaCode: await codeAt(secrets[dana]!, a.clock.now) });
    if (!approved.ok || !approved.grant) throw new Error(JSON.stringify(approved));
    const grant = approved.grant;
    expect(await a.service.extensionForm(grant.id, ana)).toMatchObject({
      ok: true,
      needsCode: true,
      grant: { id: grant.id, resourceId: 'prod-db' },
    });
    // Not hers, or not there: refused before any form opens.
    expect(await a.service.extensionForm(grant.id, bram)).toEqual({ ok: false, refusal: { kind: 'not-yours' } });
    expect(await a.service.extensionForm('grt_nosuchgrant', ana)).toEqual({
      ok: false,
      refusal: { kind: 'not-found', id: 'grt_nosuchgrant' },
    });
    // Without a code, the extension itself is refused: the owners never see it.
    expect(await a.service.extend(grant.id, ana, { reason: 'one more hour', duration: '1h' })).toMatchObject({
      ok: false,
      refusal: { kind: 'mfa-code-needed' },
    });
  });
});
