import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chainHash } from '../src/audit/chain.ts';
import { encodeEvent } from '../src/audit/event.ts';
import { canonicalAt, seedEvents, tamper } from './support/audit.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

/**
 * The tamper matrix: someone with the table owner's rights edits the log behind the
 * application's back. Each edit must be caught at the right seq, for the right reason.
 */
describe('verifying a tampered audit log', () => {
  let t: TestDatabase;

  beforeEach(async () => {
    t = await createTestDatabase();
    await seedEvents(t, 10);
  });
  afterEach(async () => t.destroy());

  it('passes an untouched log and reports its head', async () => {
    const result = await t.audit.verify();
    expect(result).toMatchObject({ ok: true, checked: 10, headSeq: 10, failure: null });
    const { rows } = await t.query<{ hash: Buffer }>('select hash from audit_events where seq = 10');
    expect(result.headHash).toBe(rows[0]?.hash.toString('hex'));
  });

  it('catches a changed body field', async () => {
    await tamper(t, `update audit_events set canonical = replace(canonical, '"n":4', '"n":40') where seq = 4`);
    const result = await t.audit.verify();
    expect(result.ok).toBe(false);
    expect(result.failure).toMatchObject({ seq: 4, reason: 'content-changed' });
    expect(result.checked).toBe(3);
  });

  it('catches a changed actor, which the audit_log view shows as it reads the hashed text', async () => {
    await tamper(t, `update audit_events set canonical = replace(canonical, 'U0ALICE01', 'U0MALLORY') where seq = 5`);
    const { rows } = await t.query<{ actor: string }>('select actor from audit_log where seq = 5');
    expect(rows[0]?.actor).toBe('U0MALLORY');
    const result = await t.audit.verify();
    expect(result.failure).toMatchObject({ seq: 5, reason: 'content-changed' });
  });

  it('catches a changed time', async () => {
    const original = JSON.parse(await canonicalAt(t, 6)) as { time: string };
    const earlier = original.time.replace(/^\d{4}/, '2020');
    await tamper(
      t,
      `update audit_events set canonical = replace(canonical, '${original.time}', '${earlier}') where seq = 6`,
    );
    const { rows } = await t.query<{ occurred_at: Date }>('select occurred_at from audit_log where seq = 6');
    expect(rows[0]?.occurred_at.getUTCFullYear()).toBe(2020);
    const result = await t.audit.verify();
    expect(result.failure).toMatchObject({ seq: 6, reason: 'content-changed' });
  });

  it('catches a deleted middle row as a gap at its seq', async () => {
    await tamper(t, 'delete from audit_events where seq = 5');
    const result = await t.audit.verify();
    expect(result.failure).toMatchObject({ seq: 5, reason: 'gap' });
    expect(result.failure?.message).toContain('seq 5 is missing');
  });

  it('catches a deleted first row: the log must start at seq 1', async () => {
    await tamper(t, 'delete from audit_events where seq = 1');
    const result = await t.audit.verify();
    expect(result.failure).toMatchObject({ seq: 1, reason: 'gap' });
    expect(result.failure?.message).toContain('starts at seq 2');
  });

  it('catches a forged row appended with a made-up link', async () => {
    const forged = encodeEvent({
      v: 1,
      seq: 11,
      time: '2026-11-26T12:00:00.000000Z',
      actor: 'U0MALLORY',
      action: 'grant.active',
      subject: 'grant-x',
      body: {},
    });
    const fakePrev = Buffer.alloc(32, 7);
    const hash = chainHash(fakePrev, forged);
    await t.query('insert into audit_events (seq, canonical, prev_hash, hash) values (11, $1, $2, $3)', [
      forged,
      fakePrev,
      hash,
    ]);
    const result = await t.audit.verify();
    expect(result.failure).toMatchObject({ seq: 11, reason: 'link-broken' });
    expect(result.checked).toBe(10);
  });

  it('catches a forged row slipped in beside a real one, even with a correctly computed hash', async () => {
    const { rows } = await t.query<{ hash: Buffer }>('select hash from audit_events where seq = 4');
    const prev = rows[0]!.hash;
    const forged = encodeEvent({
      v: 1,
      seq: 5,
      time: '2026-11-26T12:00:00.000000Z',
      actor: 'U0MALLORY',
      action: 'request.approved',
      subject: 'req-x',
      body: {},
    });
    await tamper(t, 'alter table audit_events drop constraint audit_events_pkey');
    await t.query('insert into audit_events (seq, canonical, prev_hash, hash) values (5, $1, $2, $3)', [
      forged,
      prev,
      chainHash(prev, forged),
    ]);
    const result = await t.audit.verify();
    expect(result.failure).toMatchObject({ seq: 5, reason: 'duplicate' });
  });

  it('catches two rows whose content was swapped, hashes and all', async () => {
    await tamper(
      t,
      'alter table audit_events drop constraint audit_events_hash_key',
      `update audit_events a set canonical = b.canonical, prev_hash = b.prev_hash, hash = b.hash
       from audit_events b where (a.seq, b.seq) in ((3, 7), (7, 3))`,
    );
    const result = await t.audit.verify();
    expect(result.failure).toMatchObject({ seq: 3, reason: 'link-broken' });
  });

  it('catches two events whose seqs were swapped', async () => {
    await tamper(
      t,
      'update audit_events set seq = 1003 where seq = 3',
      'update audit_events set seq = 3 where seq = 7',
      'update audit_events set seq = 7 where seq = 1003',
    );
    const result = await t.audit.verify();
    expect(result.failure).toMatchObject({ seq: 3, reason: 'link-broken' });
  });

  it('catches a duplicated row', async () => {
    await tamper(
      t,
      'alter table audit_events drop constraint audit_events_pkey',
      'alter table audit_events drop constraint audit_events_hash_key',
      'insert into audit_events (seq, canonical, prev_hash, hash) select seq, canonical, prev_hash, hash from audit_events where seq = 6',
    );
    const result = await t.audit.verify();
    expect(result.failure).toMatchObject({ seq: 6, reason: 'duplicate' });
  });

  it('cannot see tail truncation on its own: the chain of what is left is whole', async () => {
    // Deleting the newest events leaves a valid shorter chain. Only a head recorded outside
    // the database (anchored checkpoints, a later issue) can show that events are missing.
    await tamper(t, 'delete from audit_events where seq > 7');
    const result = await t.audit.verify();
    expect(result).toMatchObject({ ok: true, checked: 7, headSeq: 7 });
  });

  it('fails an empty log rather than passing it silently', async () => {
    await tamper(t, 'delete from audit_events');
    const result = await t.audit.verify();
    expect(result.ok).toBe(false);
    expect(result.failure).toMatchObject({ reason: 'empty' });
  });
});
