import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanFreeText, freeTextLength, MAX_REASON_LENGTH, readReason } from '../src/access/free-text.ts';
import { PEOPLE, testAccess, type TestAccess } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const { ana, bram, dana } = PEOPLE;

describe('free text as it arrives', () => {
  it('drops control characters but tab and newline, turns line breaks into \\n, and mends lone surrogates', () => {
    expect(cleanFreeText('a\u0000b\u0007c\u001b[31md\u007fe\u0085f')).toBe('abc[31mdef');
    expect(cleanFreeText('one\r\ntwo\rthree\tfour\nfive')).toBe('one\ntwo\nthree\tfour\nfive');
    expect(cleanFreeText('half \uD83D emoji, \uDE00 low, whole 🙂')).toBe('half \uFFFD emoji, \uFFFD low, whole 🙂');
    // Markup, bidi controls and joiners are text: kept as typed, escaped where shown.
    const kept = '<!channel> *b* \u202Eevil\u202C 👩‍👩‍👧‍👦 e\u0301';
    expect(cleanFreeText(kept)).toBe(kept);
  });

  it('counts characters as people do: an emoji is one', () => {
    expect(freeTextLength('🙂'.repeat(3))).toBe(3);
    expect('🙂'.repeat(3).length).toBe(6);
  });

  it('takes a reason of up to 2,000 characters whole, and refuses a longer one with its length', () => {
    expect(MAX_REASON_LENGTH).toBe(2000);
    expect(readReason(`  ${'🙂'.repeat(2000)}  `)).toEqual({ ok: true, text: '🙂'.repeat(2000) });
    expect(readReason('x'.repeat(2001))).toEqual({ ok: false, length: 2001, max: 2000 });
    expect(readReason('\u0000'.repeat(5000))).toEqual({ ok: true, text: '' });
  });
});

describe('the one limit, on every way a reason reaches the access rules', () => {
  let t: TestDatabase;
  let a: TestAccess;
  beforeAll(async () => {
    t = await createTestDatabase();
    a = testAccess(t);
  });
  afterAll(async () => t.destroy());

  const count = async (table: 'access_requests' | 'audit_queue' | 'audit_log') =>
    Number(
      (
        await t.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('refuses a 5,000-character reason before anything is recorded, and keeps a 2,000-character one whole', async () => {
    const before = await Promise.all([count('access_requests'), count('audit_queue'), count('audit_log')]);
    expect(await a.service.request({ requester: ana, resourceId: 'staging-db', reason: 'r'.repeat(5000) })).toEqual({
      ok: false,
      refusal: { kind: 'reason-too-long', length: 5000, max: 2000 },
    });
    expect(await Promise.all([count('access_requests'), count('audit_queue'), count('audit_log')])).toEqual(before);

    const whole = `${'é'.repeat(1000)}${'🙂'.repeat(1000)}`;
    const filed = await a.service.request({ requester: ana, resourceId: 'staging-db', reason: whole });
    expect(filed).toMatchObject({ ok: true, request: { reason: whole } });
    await t.audit.flush();
    const event = await t.db
      .selectFrom('audit_log')
      .select('body')
      .where('action', '=', 'request.created')
      .executeTakeFirstOrThrow();
    expect((event.body as { reason: string }).reason).toBe(whole);
  });

  it('cleans a reason before it is stored: NUL and lone surrogates no longer fail the statement', async () => {
    const filed = await a.service.request({
      requester: bram,
      resourceId: 'staging-db',
      reason: 'rebuild\u0000 the index \uD83D',
    });
    expect(filed).toMatchObject({ ok: true, request: { reason: 'rebuild the index \uFFFD' } });
  });

  it('holds a denial to the same limit, and wants one', async () => {
    const { requests } = await a.service.holdingsOf(ana);
    const requestId = requests[0]!.id;
    expect(await a.service.deny(requestId, dana, 'd'.repeat(2001))).toEqual({
      ok: false,
      refusal: { kind: 'reason-too-long', length: 2001, max: 2000 },
    });
    expect(await a.service.deny(requestId, dana, ' \u0000 ')).toEqual({
      ok: false,
      refusal: { kind: 'deny-reason-required' },
    });
    expect((await a.service.findRequest(requestId))?.status).toBe('pending');
    const denied = await a.service.deny(requestId, dana, `use the replica\u0000 ${'d'.repeat(1984)}`);
    expect(denied).toMatchObject({
      ok: true,
      request: { status: 'denied', denyReason: `use the replica ${'d'.repeat(1984)}` },
    });
  });

  it('holds an extension to the same limit', async () => {
    const { requests } = await a.service.holdingsOf(bram);
    const approved = await a.service.approve(requests[0]!.id, dana);
    expect(approved).toMatchObject({ ok: true, grant: { status: 'active' } });
    const grantId = approved.ok ? approved.grant!.id : '';
    expect(await a.service.extend(grantId, bram, { reason: 'e'.repeat(2001) })).toEqual({
      ok: false,
      refusal: { kind: 'reason-too-long', length: 2001, max: 2000 },
    });
    expect(await a.service.extend(grantId, bram, { reason: 'one more hour for the index' })).toMatchObject({
      ok: true,
      request: { extendsGrantId: grantId },
    });
  });
});

describe('extensions, whatever the adapter passes', () => {
  let t: TestDatabase;
  let a: TestAccess;
  let anaGrant: string;
  beforeAll(async () => {
    t = await createTestDatabase();
    a = testAccess(t);
    const asked = await a.service.request({ requester: ana, resourceId: 'staging-db', reason: 'migrate the schema' });
    const approved = asked.ok ? await a.service.approve(asked.request.id, dana) : null;
    anaGrant = approved?.ok && approved.grant ? approved.grant.id : '';
  });
  afterAll(async () => t.destroy());

  it("refuses an extension of someone else's grant, of another resource, of an ended grant, or of none, filing nothing", async () => {
    const extension = (requester: string, resourceId: string, extendsGrantId: string) =>
      a.service.request({ requester, resourceId, reason: 'more time', extendsGrantId });
    expect(await extension(bram, 'staging-db', anaGrant)).toEqual({ ok: false, refusal: { kind: 'not-yours' } });
    expect(await extension(ana, 'prod-db', anaGrant)).toMatchObject({
      ok: false,
      refusal: { kind: 'extension-other-resource', grant: { id: anaGrant }, resource: { id: 'prod-db' } },
    });
    expect(await extension(ana, 'staging-db', 'grt-nonexistent')).toEqual({
      ok: false,
      refusal: { kind: 'not-found', id: 'grt-nonexistent' },
    });
    expect((await a.service.holdingsOf(bram)).requests).toEqual([]);

    expect(await extension(ana, 'staging-db', anaGrant)).toMatchObject({
      ok: true,
      request: { extendsGrantId: anaGrant },
    });
    const [extensionRequest] = (await a.service.holdingsOf(ana)).requests;
    await a.service.cancel(extensionRequest!.id, ana);
    await a.service.release(anaGrant, ana);
    expect(await extension(ana, 'staging-db', anaGrant)).toMatchObject({
      ok: false,
      refusal: { kind: 'extension-of-ended', grant: { id: anaGrant } },
    });
    // Not extending anything, Ana may ask afresh once the grant is over.
    expect(
      await a.service.request({ requester: ana, resourceId: 'staging-db', reason: 'one more migration' }),
    ).toMatchObject({ ok: true });
  });
});
