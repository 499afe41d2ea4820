import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GrantId } from '../src/access/ids.ts';
import { makeCheckpoint } from '../src/audit/checkpoints/store.ts';
import { checkpointNoteBody, defaultOrigin, signNote } from '../src/audit/checkpoints/note.ts';
import type { CheckpointKey } from '../src/audit/checkpoints/keys.ts';
import { buildReceipt, ReceiptUnavailableError } from '../src/audit/receipts/build.ts';
import { MalformedReceiptError, ReceiptError, receiptToJson, type Receipt } from '../src/audit/receipts/receipt.ts';
import { verifyReceipt } from '../src/audit/receipts/verify.ts';
import { SecretBox } from '../src/secrets/sealed.ts';
import { PEOPLE, TEST_POLICY, testAccess, type TestAccess } from './support/access.ts';
import { randomKey } from './support/checkpoints.ts';
import { outsideVerify } from './support/outside-receipt-verifier.ts';
import { createTestDatabase, type TestAuditAction, type TestDatabase } from './support/db.ts';
import { childEnv, killLeftoverChildren, runNode, type Exit } from './support/process.ts';

const { ana, bram, dana, mallory } = PEOPLE;
const STEP = 30_000;
/** prod-db with one approval that needs the approver's own MFA code. */
const POLICY = TEST_POLICY.replace(
  '    approvals_required: 2\n',
  '    approvals_required: 1\n    approver_mfa: true\n',
);
const SESSION = 'ses_0a1b2c3d4e5f60718293';
const OTHER_SESSION = 'ses_99887766554433221100';

const codeAt = (secret: string, at: Date, steps = 0) =>
  generate({ secret, epoch: Math.floor((at.getTime() + steps * STEP) / 1000) });

function gatehouse(databaseUrl: string, ...args: string[]): Promise<Exit> {
  return runNode(['bin/gatehouse.js', ...args], childEnv({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' }));
}

/** A copy of the receipt with `edit` applied: what a forger hands an auditor. */
function forged(receipt: Receipt, edit: (copy: Receipt) => void): string {
  const copy = structuredClone(receipt);
  edit(copy);
  return receiptToJson(copy);
}

function failure(text: string, key: CheckpointKey | null): ReceiptError {
  try {
    verifyReceipt(text, key?.publicKey ?? null);
  } catch (err) {
    if (err instanceof ReceiptError) return err;
    throw err;
  }
  throw new Error('the forged receipt verified');
}

const indexOfAction = (receipt: Receipt, action: string, n = 0) =>
  receipt.events.map((e, i) => [i, JSON.parse(e.canonical).action] as const).filter(([, a]) => a === action)[n]![0];

describe("a grant's receipt", () => {
  let t: TestDatabase;
  let a: TestAccess;
  let key: CheckpointKey;
  let grantId: GrantId;
  let receipt: Receipt;
  let dir: string;

  /**
   * Ana's access to prod-db, the whole story: Mallory tries to approve and is refused, Dana
   * gets her code wrong once and then approves with it; Ana extends once (approved with a
   * code again), runs three statements in one gateway session (one refused), and gives the
   * access back. Bram's grant and session run alongside and must stay out of her receipt.
   */
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-receipt-'));
    t = await createTestDatabase();
    a = testAccess(t, POLICY, { secrets: SecretBox.fromEnv('b'.repeat(64)) });
    key = randomKey();
    await a.service.mfa.begin(dana);
    const pending = await a.service.mfa.pendingEnrolment(dana);
    await a.service.mfa.confirm(dana, await codeAt(pending!.secret, a.clock.now));
    const secret = pending!.secret;

    const asked = await a.service.request({
      requester: ana,
      resourceId: 'prod-db',
      duration: '1h',
      reason: 'fix invoice 42',
    });
    if (!asked.ok) throw new Error('refused');
    const other = await a.service.request({ requester: bram, resourceId: 'staging-db', reason: 'load test' });
    if (!other.ok) throw new Error('refused');
    await a.service.approve(other.request.id, dana);
    expect(await a.service.approve(asked.request.id, mallory)).toMatchObject({ ok: false });
    a.clock.advance(STEP);
    const wrong = (await codeAt(secret, a.clock.now)) === '000000' ? '111111' : '000000';
    expect(await a.service.approve(asked.request.id, dana, { mfaCode: wrong })).toMatchObject({ ok: false });
    const approved = await a.service.approve(asked.request.id, dana, { mfaCode: await codeAt(secret, a.clock.now) });
    if (!approved.ok || !approved.grant) throw new Error('not approved');
    grantId = approved.grant.id;

    const extension = await a.service.extend(grantId, ana, { reason: 'the fix runs over', duration: '30m' });
    if (!extension.ok) throw new Error('extension refused');
    a.clock.advance(2 * STEP);
    expect(
      await a.service.approve(extension.request.id, dana, { mfaCode: await codeAt(secret, a.clock.now) }),
    ).toMatchObject({ ok: true });

    const ana_ = (action: TestAuditAction, body: Record<string, unknown>) =>
      t.audit.record({ actor: ana, action, subject: SESSION, body: { grant: grantId, ...body } });
    const bram_ = (action: TestAuditAction, body: Record<string, unknown>) =>
      t.audit.record({ actor: bram, action, subject: OTHER_SESSION, body: { grant: 'grt_bram_staging', ...body } });
    await ana_('gateway.session_started', {
      resource: 'prod-db',
      database: 'prod',
      role: 'gh_ana',
      client_address: '203.0.113.7',
      application_name: 'psql',
      tls: true,
      replica: 'gw-1',
    });
    await bram_('gateway.session_started', {
      resource: 'staging-db',
      database: 'staging',
      role: 'gh_bram',
      client_address: '198.51.100.4',
      application_name: 'psql',
      tls: true,
      replica: 'gw-2',
    });
    await ana_('gateway.statement', { n: 1, via: 'simple', sql: 'select * from invoices where id = 42' });
    await ana_('gateway.statement_done', { n: 1, ok: true, tag: 'SELECT 1', rows: 1, duration_ms: 2 });
    await bram_('gateway.statement', { n: 1, via: 'simple', sql: 'select 1' });
    await ana_('gateway.statement_refused', {
      resource: 'prod-db',
      n: 2,
      sql: 'drop table invoices',
      classes: ['ddl'],
      tables: ['invoices'],
      rule: 'ddl',
      reason: 'no DDL on prod-db',
    });
    await ana_('gateway.statement', { n: 3, via: 'simple', sql: "update invoices set note = 'fixed' where id = 42" });
    await ana_('gateway.statement_done', { n: 3, ok: true, tag: 'UPDATE 1', rows: 1, duration_ms: 3 });
    await ana_('gateway.session_ended', {
      resource: 'prod-db',
      reason: 'client_closed',
      statements: 3,
      refused: 1,
      rows: 2,
      duration_ms: 900,
      in_transaction: false,
    });
    expect(await a.service.release(grantId, ana)).toMatchObject({ ok: true });
    await t.audit.flush();
    await makeCheckpoint(t.db, key);
    receipt = await buildReceipt(t.db, grantId);
  });
  afterAll(async () => {
    await killLeftoverChildren();
    await t.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('holds every event of the request, the grant, its extension and its session, and nothing of Bram', async () => {
    const actions = receipt.events.map((e) => JSON.parse(e.canonical).action);
    expect(actions).toEqual([
      'request.created',
      'approval.refused',
      'mfa.failed',
      'approval.recorded',
      'request.approved',
      'grant.provisioning',
      'grant.active',
      'request.created',
      'approval.recorded',
      'request.approved',
      'grant.extending',
      'grant.extended',
      'gateway.session_started',
      'gateway.statement',
      'gateway.statement_done',
      'gateway.statement_refused',
      'gateway.statement',
      'gateway.statement_done',
      'gateway.session_ended',
      'grant.ending',
      'grant.revoked',
    ]);
    expect(receipt.events.every((e) => !e.canonical.includes(bram))).toBe(true);
    expect(receipt).toMatchObject({ format: 'gatehouse-receipt', v: 1, grant: grantId, key_id: key.publicKey.keyId });
    expect(receipt.size).toBe(receipt.checkpoint.seq);
  });

  it('verifies offline with the key, and says what it proves', () => {
    const verified = verifyReceipt(receiptToJson(receipt), key.publicKey);
    expect(verified.signatureChecked).toBe(true);
    expect(verified.story).toMatchObject({
      grant: grantId,
      user: ana,
      resource: 'prod-db',
      request: { requester: ana, reason: 'fix invoice 42' },
      approvals: [{ approver: dana, mfaChecked: true }],
      refusals: 1,
      mfaFailures: 1,
      extensions: 1,
      sessions: 1,
      statements: 3,
      refusedStatements: 1,
      ending: { reason: 'released' },
      revoked: { dryRun: false },
    });
  });

  it('without a key, verifies what it can and says the signature was not checked', () => {
    const verified = verifyReceipt(receiptToJson(receipt), null);
    expect(verified.signatureChecked).toBe(false);
    expect(verified.unchecked.join('\n')).toMatch(/checkpoint's signature \(no key given/);
  });

  it('from a checkpoint without a note, verifies and says plainly that the root is not signed', () => {
    const verified = verifyReceipt(receiptToJson({ ...receipt, note: null }), key.publicKey);
    expect(verified).toMatchObject({ signatureChecked: true, rootSigned: false });
    expect(verified.unchecked.join('\n')).toMatch(/do not sign the tree root/);
  });

  it('with a signed note over the size and root, says the root is signed; a note of another root fails', () => {
    const signer = { name: defaultOrigin(receipt.log_id), key };
    const note = (root: string) =>
      signNote(checkpointNoteBody({ origin: signer.name, size: receipt.size, root }), signer);
    const signed = { ...receipt, note: note(receipt.root) };
    expect(verifyReceipt(receiptToJson(signed), key.publicKey).rootSigned).toBe(true);
    expect(failure(receiptToJson({ ...receipt, note: note('ab'.repeat(32)) }), key).message).toMatch(
      /signed note is of size/,
    );
    const other = randomKey();
    expect(failure(receiptToJson(signed), { ...key, publicKey: other.publicKey }).message).toMatch(/not the key given/);
  });

  it('catches any change: an event, a proof hash, the root, the signature, a dropped or foreign event', () => {
    const statement = indexOfAction(receipt, 'gateway.statement_refused');
    const seqOf = (i: number) => receipt.events[i]!.seq;
    const cases: [string, string, RegExp, number | null][] = [
      [
        'event text',
        forged(receipt, (r) => {
          r.events[3]!.canonical = r.events[3]!.canonical.replace(dana, mallory);
        }),
        /the event's text or prev_hash was changed/,
        seqOf(3),
      ],
      [
        'proof hash',
        forged(receipt, (r) => {
          const p = r.events[5]!.path;
          p[0] = p[0]!.replace(/^./, (c) => (c === '0' ? '1' : '0'));
        }),
        /inclusion proof leads to root/,
        seqOf(5),
      ],
      [
        // The top of the last proof is shared with every earlier proof: it is still checked.
        'shared proof hash',
        forged(receipt, (r) => {
          const p = r.events.at(-1)!.path;
          p[p.length - 1] = p.at(-1)!.replace(/^./, (c) => (c === '0' ? '1' : '0'));
        }),
        /inclusion proof leads to root/,
        seqOf(receipt.events.length - 1),
      ],
      [
        'proof element not a hash',
        forged(receipt, (r) => {
          r.events[2]!.path[0] = 'XY'.repeat(32);
        }),
        /inclusion proof is malformed: "XYXY.* is not 64 lower-case hex digits/,
        seqOf(2),
      ],
      [
        'root',
        forged(receipt, (r) => {
          r.root = 'ab'.repeat(32);
          r.note = null;
        }),
        /inclusion proof leads to root/,
        seqOf(0),
      ],
      [
        'root and its note',
        forged(receipt, (r) => {
          r.root = 'ab'.repeat(32);
          r.note =
            r.note && r.note.replace(/\n[A-Za-z0-9+/]{43}=\n/, `\n${Buffer.from(r.root, 'hex').toString('base64')}\n`);
        }),
        /signed note: the signature .* does not verify/,
        null,
      ],
      [
        'signature',
        forged(receipt, (r) => {
          r.checkpoint.signature = r.checkpoint.signature.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'));
        }),
        /signature does not verify/,
        null,
      ],
      [
        'checkpoint size',
        forged(receipt, (r) => {
          r.size -= 1;
        }),
        /checkpoint is of seq/,
        null,
      ],
      [
        'dropped statement',
        forged(receipt, (r) => {
          r.events.splice(statement, 1);
        }),
        /statement 2 is missing/,
        null,
      ],
      [
        'dropped approval',
        forged(receipt, (r) => {
          r.events.splice(indexOfAction(receipt, 'approval.recorded'), 1);
        }),
        /approvers/,
        null,
      ],
      [
        'dropped grant.ending',
        forged(receipt, (r) => {
          r.events.splice(indexOfAction(receipt, 'grant.ending'), 1);
        }),
        /no grant.ending before it/,
        null,
      ],
      [
        'reordered',
        forged(receipt, (r) => {
          [r.events[1], r.events[2]] = [r.events[2]!, r.events[1]!];
        }),
        /distinct and increasing/,
        null,
      ],
    ];
    for (const [name, text, message, seq] of cases) {
      const err = failure(text, key);
      expect(err.message, name).toMatch(message);
      if (seq !== null) expect(err.seq, name).toBe(seq);
    }
  });

  it('refuses a foreign event slipped in, even with a genuine proof', async () => {
    const { rows } = await t.query<{ seq: number }>(
      `select seq from audit_events where canonical like '%"subject":"${OTHER_SESSION}"%' order by seq limit 1`,
    );
    const seq = Number(rows[0]!.seq);
    const { proveInclusion } = await import('../src/audit/tree/store.ts');
    const proof = await proveInclusion(t.db, seq, receipt.size);
    const text = forged(receipt, (r) => {
      r.events.push({
        seq,
        canonical: proof.canonical,
        prev_hash: proof.prevHash.toString('hex'),
        hash: proof.hash.toString('hex'),
        path: proof.path.map((p) => p.toString('hex')),
      });
      r.events.sort((x, y) => x.seq - y.seq);
    });
    expect(failure(text, key).message).toMatch(new RegExp(`event seq ${seq} .* is not about grant`));
  });

  it('agrees with a verifier written from the spec alone, on the receipt and on forgeries', () => {
    const pk = key.publicKey.hex;
    expect(outsideVerify(receiptToJson(receipt), pk)).toBeNull();
    const flip = (hex: string) => hex.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const cases: [string, (r: Receipt) => void][] = [
      ['step 5.2', (r) => void (r.events[3]!.canonical = r.events[3]!.canonical.replace(dana, mallory))],
      ['step 5.6', (r) => void (r.events[6]!.path[1] = flip(r.events[6]!.path[1]!))],
      ['step 5.6', (r) => Object.assign(r, { root: 'ab'.repeat(32), note: null })],
      ['step 4', (r) => void (r.root = 'ab'.repeat(32))],
      ['step 3', (r) => void (r.checkpoint.signature = flip(r.checkpoint.signature))],
      ['step 2', (r) => void (r.size -= 1)],
      ['step 5.1', (r) => void ([r.events[1], r.events[2]] = [r.events[2]!, r.events[1]!])],
    ];
    for (const [step, edit] of cases) {
      const text = forged(receipt, edit);
      expect(outsideVerify(text, pk), step).toBe(step);
      expect(() => verifyReceipt(text, key.publicKey), step).toThrow(ReceiptError);
    }
  });

  it('calls a receipt that is not one malformed', () => {
    expect(failure('not json', key)).toBeInstanceOf(MalformedReceiptError);
    expect(
      failure(
        forged(receipt, (r) => {
          (r as { events: unknown[] }).events = [];
        }),
        key,
      ),
    ).toBeInstanceOf(MalformedReceiptError);
  });

  it('is refused while a newer event of the grant has no signed checkpoint yet, naming the command', async () => {
    await t.audit.record({
      actor: 'system',
      action: 'gateway.login_refused',
      subject: grantId,
      body: { user: ana, resource: 'prod-db', reason: 'ended', client_address: '203.0.113.7' },
    });
    await t.audit.flush();
    await expect(buildReceipt(t.db, grantId)).rejects.toThrow(/gatehouse audit checkpoint/);
    await expect(buildReceipt(t.db, 'grt_nosuchgrant')).rejects.toBeInstanceOf(ReceiptUnavailableError);
    await makeCheckpoint(t.db, key);
    expect((await buildReceipt(t.db, grantId)).events.at(-1)!.canonical).toContain('gateway.login_refused');
  });

  it('the command line writes it and checks it: exit 0 when it holds, 1 naming the event when not', async () => {
    const file = join(dir, 'receipt.json');
    const made = await gatehouse(t.url, 'audit', 'receipt', grantId, '--out', file);
    expect(made.code, made.output).toBe(0);
    const ok = await gatehouse(t.url, 'audit', 'verify-receipt', file, '--public-key', key.publicKey.hex);
    expect(ok.code, ok.output).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`approved by ${dana} at .* \\(MFA code checked\\)`));
    expect(ok.stdout).toContain('used: 3 statements in 1 gateway session, 1 refused');
    expect(ok.stdout).toMatch(/ended \(released\) at .*, revoked at/);
    const unsigned = await gatehouse(t.url, 'audit', 'verify-receipt', file);
    expect(unsigned.code).toBe(0);
    expect(unsigned.stdout).toContain("NOT checked: the checkpoint's signature");
    const saved = JSON.parse(await readFile(file, 'utf8')) as Receipt;
    const bad = join(dir, 'bad.json');
    await writeFile(
      bad,
      forged(saved, (r) => {
        r.events[4]!.canonical = r.events[4]!.canonical.replace('prod-db', 'test-db');
      }),
    );
    const broken = await gatehouse(t.url, 'audit', 'verify-receipt', bad, '--key', key.publicKey.hex);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(`event seq ${saved.events[4]!.seq}`);
  });
});
