import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  appendAnchor,
  readAnchorFile,
  readCheckpointArgument,
  readLastAnchor,
} from '../src/audit/checkpoints/anchors.ts';
import {
  checkpointSignedBy,
  checkpointToJson,
  encodeCheckpointMessage,
  parseCheckpoint,
  signCheckpoint,
} from '../src/audit/checkpoints/checkpoint.ts';
import { NO_KEY_WARNING } from '../src/audit/checkpoints/checks.ts';
import {
  checkpointKeyFromSeed,
  loadCheckpointKey,
  loadPublicKey,
  parsePublicKey,
  publicKeyFromRaw,
  signBytes,
  verifyBytes,
} from '../src/audit/checkpoints/keys.ts';
import { CheckpointRefusedError, listCheckpoints, makeCheckpoint, readLogId } from '../src/audit/checkpoints/store.ts';
import { verifyAnchored, verifyFileAnchored } from '../src/audit/checkpoints/verify-anchored.ts';
import { createDb, createPool } from '../src/db/database.ts';
import { createLogger } from '../src/log.ts';
import { seedEvents, tamper } from './support/audit.ts';
import { eventsThenCheckpoint, randomKey, rewriteFrom, tamperCheckpoints } from './support/checkpoints.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

/** RFC 8032 section 7.1, tests 1 to 3 (the RFC's vectors; recomputed with Node's crypto). */
const RFC8032 = [
  {
    name: 'TEST 1',
    sk: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pk: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    msg: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2',
    sk: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pk: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    msg: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3',
    sk: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pk: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    msg: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

describe('Ed25519 through our signing and verifying code (RFC 8032 §7.1)', () => {
  it.each(RFC8032)('$name: the key, the signature and its verification', ({ sk, pk, msg, sig }) => {
    const key = checkpointKeyFromSeed(Buffer.from(sk, 'hex'));
    expect(key.publicKey.hex).toBe(pk);
    const message = Buffer.from(msg, 'hex');
    expect(signBytes(key, message).toString('hex')).toBe(sig);

    const verifier = publicKeyFromRaw(Buffer.from(pk, 'hex'));
    expect(verifyBytes(verifier, message, Buffer.from(sig, 'hex'))).toBe(true);
    const flipped = Buffer.from(sig, 'hex');
    flipped[0]! ^= 1;
    expect(verifyBytes(verifier, message, flipped)).toBe(false);
    expect(verifyBytes(verifier, Buffer.concat([message, Buffer.from([0])]), Buffer.from(sig, 'hex'))).toBe(false);
  });
});

/** The worked example of docs/audit-log.md, section 12.7: RFC 8032 key 1 over section 9's head. */
const EXAMPLE_KEY = checkpointKeyFromSeed(Buffer.from(RFC8032[0]!.sk, 'hex'));
const EXAMPLE = {
  logId: '6f1e0c3a-9b2d-4e57-8a41-2c5d7e9f0b13',
  seq: 3,
  hash: 'b7277fbe3a9318a76a80c0d5b0df005711d5a963d2673645e82074d49004db0d',
  time: '2026-11-26T09:16:00.000000Z',
  previous: null,
};

describe('the signed checkpoint', () => {
  it('is six lines in a fixed order, each ending in LF, and signs as the worked example says', () => {
    const message = encodeCheckpointMessage(EXAMPLE);
    expect(message).toBe(
      'gatehouse audit checkpoint v1\n' +
        'log 6f1e0c3a-9b2d-4e57-8a41-2c5d7e9f0b13\n' +
        'seq 3\n' +
        'hash b7277fbe3a9318a76a80c0d5b0df005711d5a963d2673645e82074d49004db0d\n' +
        'time 2026-11-26T09:16:00.000000Z\n' +
        'previous none\n',
    );
    expect(Buffer.byteLength(message)).toBe(194);
    expect(EXAMPLE_KEY.publicKey.keyId).toBe('21fe31dfa154a261');

    const checkpoint = signCheckpoint(EXAMPLE, EXAMPLE_KEY);
    expect(checkpoint.signature).toBe(
      '115147047da5c41c9823a99632a3871aba78245ffc2e8c1c243106c34bad4db9581cfa082d64684a86550ecb0540d3773c14d673963888afecfeb030d16ec10c',
    );
    expect(checkpointToJson(checkpoint)).toBe(
      `{"hash":"${EXAMPLE.hash}","key_id":"21fe31dfa154a261","log_id":"${EXAMPLE.logId}","previous":null,"seq":3,"signature":"${checkpoint.signature}","time":"${EXAMPLE.time}","v":1}`,
    );

    // The next checkpoint, five minutes on with no new events, names it.
    const next = signCheckpoint(
      { ...EXAMPLE, time: '2026-11-26T09:21:00.000000Z', previous: checkpoint.signature },
      EXAMPLE_KEY,
    );
    expect(encodeCheckpointMessage(next)).toMatch(
      new RegExp(`\\ntime 2026-11-26T09:21:00.000000Z\\nprevious ${checkpoint.signature}\\n$`),
    );
    expect(next.signature).toBe(
      '580383c3b0ac75011f81329a45900244becbfc9c9111cc7d07028a2b00022de8c8220efb661b4829e2abd8ffa65fcfc0e01f940a9c6506200a302a092758ac0a',
    );
  });

  it('verifies only with its own key and only over its own fields', () => {
    const checkpoint = signCheckpoint(EXAMPLE, EXAMPLE_KEY);
    expect(checkpointSignedBy(checkpoint, EXAMPLE_KEY.publicKey)).toBe(true);
    expect(checkpointSignedBy({ ...checkpoint, seq: 4 }, EXAMPLE_KEY.publicKey)).toBe(false);
    expect(checkpointSignedBy({ ...checkpoint, time: '2026-11-26T09:16:00.000001Z' }, EXAMPLE_KEY.publicKey)).toBe(
      false,
    );
    const other = randomKey();
    expect(checkpointSignedBy(checkpoint, other.publicKey)).toBe(false);
    expect(checkpointSignedBy({ ...checkpoint, keyId: other.publicKey.keyId }, other.publicKey)).toBe(false);
  });

  it('refuses fields that could make two checkpoints share a message', () => {
    expect(() => encodeCheckpointMessage({ ...EXAMPLE, logId: 'log\nseq 9' })).toThrow(/log id/);
    expect(() => encodeCheckpointMessage({ ...EXAMPLE, hash: EXAMPLE.hash.toUpperCase() })).toThrow(/hash/);
    expect(() => encodeCheckpointMessage({ ...EXAMPLE, seq: 0 })).toThrow(/seq/);
    expect(() => encodeCheckpointMessage({ ...EXAMPLE, time: '2026-11-26T09:16:00Z' })).toThrow(/time/);
  });

  it('reads back from its JSON, and names what is wrong with a bad one', () => {
    const checkpoint = signCheckpoint(EXAMPLE, EXAMPLE_KEY);
    expect(parseCheckpoint(checkpointToJson(checkpoint))).toEqual(checkpoint);
    expect(() => parseCheckpoint('{"v":1}')).toThrow(/exactly the fields/);
    expect(() => parseCheckpoint({ ...JSON.parse(checkpointToJson(checkpoint)), seq: '3' })).toThrow(/seq must be/);
  });
});

describe('checkpoint keys', () => {
  it('are redacted from logs wherever a config object carries one', () => {
    let text = '';
    const log = createLogger({
      destination: new Writable({ write: (chunk: Buffer, _encoding, done) => ((text += chunk.toString()), done()) }),
    });
    log.info(
      { config: { checkpoint: { privateKey: 'PEM-SECRET-1', publicKey: 'd75a' } }, checkpointKey: 'PEM-SECRET-2' },
      'configured',
    );
    expect(text).not.toMatch(/PEM-SECRET/);
    expect(text).toContain('"publicKey":"d75a"');
  });

  it('come from PEM or a file, and a missing or wrong one says how to make one, never echoing it', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-keys-'));
    try {
      const pem = EXAMPLE_KEY.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      const file = path.join(dir, 'key.pem');
      await fs.writeFile(file, pem, { mode: 0o600 });
      expect((await loadCheckpointKey({ privateKeyFile: file }))?.publicKey.hex).toBe(RFC8032[0]!.pk);
      expect((await loadCheckpointKey({ privateKey: pem }))?.publicKey.keyId).toBe('21fe31dfa154a261');
      expect(await loadCheckpointKey({})).toBeNull();

      await expect(loadCheckpointKey({ privateKeyFile: path.join(dir, 'none.pem') })).rejects.toThrow(
        /cannot be read \(ENOENT\)\. Make a key with `gatehouse audit keygen --out FILE`/,
      );
      const garbled = '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==\n-----END PRIVATE KEY-----\n';
      const error = await loadCheckpointKey({ privateKey: garbled }).catch((err: Error) => err);
      expect(String(error)).toMatch(
        /GATEHOUSE_CHECKPOINT_KEY holds a PEM block that is not a readable private key\. Make a key with/,
      );
      expect(String(error)).not.toContain('c2VjcmV0');

      expect(() => parsePublicKey(pem, 'GATEHOUSE_CHECKPOINT_PUBLIC_KEY')).toThrow(/holds a private key/);
      const pubFile = path.join(dir, 'key.pub');
      await fs.writeFile(pubFile, `${RFC8032[0]!.pk}\n`);
      expect((await loadPublicKey(pubFile, '--public-key')).keyId).toBe('21fe31dfa154a261');
      await expect(loadPublicKey('nope.pub', '--public-key')).rejects.toThrow(
        /neither a public key nor a readable file/,
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('checkpoints of a log in the database', () => {
  let t: TestDatabase;
  let dir: string;
  let anchorFile: string;
  const key = randomKey();

  beforeEach(async () => {
    t = await createTestDatabase();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-anchors-'));
    anchorFile = path.join(dir, 'anchors.jsonl');
    // Events 1 to 30, with a checkpoint after each ten, each appended to the anchor file.
    for (let i = 0; i < 3; i++) await eventsThenCheckpoint(t, 10, key, anchorFile);
  });
  afterEach(async () => {
    await t.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const verify = async (options: { anchors?: boolean; publicKey?: boolean } = {}) =>
    verifyAnchored(t.pool, {
      publicKey: options.publicKey === false ? null : key.publicKey,
      anchors: options.anchors === false ? [] : await readAnchorFile(anchorFile),
    });

  it('stores a chain of signed checkpoints, each the exact text it signed, and an untouched log verifies', async () => {
    const stored = await listCheckpoints(t.pool);
    expect(stored.map((cp) => cp.seq)).toEqual([10, 20, 30]);
    expect(stored.map((cp) => cp.previous)).toEqual([null, stored[0]!.signature, stored[1]!.signature]);
    for (const cp of stored) {
      expect(cp.message).toBe(encodeCheckpointMessage(cp));
      expect(cp.logId).toBe(await readLogId(t.db));
      expect(checkpointSignedBy(cp, key.publicKey)).toBe(true);
    }
    const anchors = await readAnchorFile(anchorFile);
    expect(anchors.map((a) => a.source)).toEqual([1, 2, 3].map((line) => `${anchorFile} line ${line}`));
    expect(anchors.map((a) => a.checkpoint)).toEqual(
      stored.map(({ id: _id, message: _message, note: _note, root: _root, ...cp }) => cp),
    );

    const result = await verify();
    expect(result).toMatchObject({
      ok: true,
      signed: true,
      keyId: key.publicKey.keyId,
      headSeq: 30,
      problems: [],
      warnings: [],
    });
    expect(result.checkpoints).toEqual({ checked: 3, latestSeq: 30, latestTime: stored[2]!.time });
    expect(result.anchors).toMatchObject({ checked: 3, latestSeq: 30 });
  });

  it('refuses UPDATE, DELETE and TRUNCATE of checkpoints', async () => {
    await expect(t.query('update audit_checkpoints set seq = 1')).rejects.toThrow(/audit_checkpoints is append-only/);
    await expect(t.query('delete from audit_checkpoints')).rejects.toThrow(/append-only/);
    await expect(t.query('truncate audit_checkpoints')).rejects.toThrow(/append-only/);
  });

  it('keeps one checkpoint chain when several replicas checkpoint at the same moment', async () => {
    const replicas = [0, 1, 2].map(() => createDb(createPool(t.url, 5)));
    try {
      await seedEvents(t, 5);
      const made = await Promise.all(
        replicas.flatMap((db) => Array.from({ length: 5 }, () => makeCheckpoint(db, key))),
      );
      expect(made.every((cp) => cp !== null)).toBe(true);
    } finally {
      await Promise.all(replicas.map((db) => db.destroy()));
    }
    const stored = await listCheckpoints(t.pool);
    expect(stored).toHaveLength(18);
    stored.forEach((cp, i) => expect(cp.previous).toBe(stored[i - 1]?.signature ?? null));
    expect((await verify()).ok).toBe(true);

    // The backstop if the lock were ever bypassed: a second successor of one checkpoint is refused.
    const { rows } = await t.query<Record<string, unknown>>('select * from audit_checkpoints order by id desc limit 1');
    const row = rows[0]!;
    await expect(
      t.query(
        'insert into audit_checkpoints (log_id, seq, hash, time, key_id, signature, previous_signature, message) values ($1, $2, $3, $4, $5, $6, $7, $8)',
        [row.log_id, row.seq, row.hash, row.time, row.key_id, Buffer.alloc(64, 1), row.previous_signature, row.message],
      ),
    ).rejects.toThrow(/audit_checkpoints_previous_key/);
  });

  it("signs nothing new when asked to skip an unchanged head, and stores nothing when the caller's work fails", async () => {
    expect(await makeCheckpoint(t.db, key, { skipIfUnchanged: true })).toBeNull();
    await seedEvents(t, 1);
    await expect(
      makeCheckpoint(t.db, key, {
        inTransaction: async () => {
          throw new Error('outbox full');
        },
      }),
    ).rejects.toThrow('outbox full');
    expect(await listCheckpoints(t.pool)).toHaveLength(3);
    expect(await makeCheckpoint(t.db, key, { skipIfUnchanged: true })).toMatchObject({ seq: 31 });
  });

  it('catches the last 10 events deleted, by the newest checkpoint in the database', async () => {
    await tamper(t, 'delete from audit_events where seq > 20');
    const result = await verify({ anchors: false });
    expect(result).toMatchObject({ ok: false, failure: null, headSeq: 20 });
    expect(result.problems).toEqual([
      {
        reason: 'truncated',
        source: 'database checkpoint #3',
        seq: 30,
        message: expect.stringContaining('ends at seq 20: 10 events after seq 20 were deleted'),
      },
    ]);
    await expect(makeCheckpoint(t.db, key)).rejects.toThrow(CheckpointRefusedError);
  });

  it('catches events deleted together with the newer checkpoints, by the anchor file', async () => {
    await tamper(t, 'delete from audit_events where seq > 20');
    await tamperCheckpoints(t, 'delete from audit_checkpoints where seq > 20');
    expect((await verify({ anchors: false })).ok).toBe(true);

    const result = await verify();
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([
      {
        reason: 'truncated',
        source: `${anchorFile} line 3`,
        seq: 30,
        message: expect.stringContaining('the log in the database ends at seq 20'),
      },
    ]);
  });

  it('catches newer checkpoints deleted on their own: the anchor is missing from the database', async () => {
    await tamperCheckpoints(t, 'delete from audit_checkpoints where seq = 30');
    const result = await verify();
    expect(result.problems).toEqual([
      expect.objectContaining({ reason: 'missing', source: `${anchorFile} line 3`, seq: 30 }),
    ]);
    // Given its last anchor, the signer will not start again from the older checkpoint either.
    await expect(makeCheckpoint(t.db, key, { lastAnchor: await readLastAnchor(anchorFile) })).rejects.toThrow(
      /newest anchor .* is not among the database's checkpoints/,
    );
  });

  it('catches a middle event rewritten, every later hash recomputed and the checkpoints re-signed with another key', async () => {
    await rewriteFrom(t, 15, (event) => ({ ...event, actor: 'U0MALLORY' }));
    await tamperCheckpoints(t, 'delete from audit_checkpoints');
    const attacker = randomKey();
    await makeCheckpoint(t.db, attacker);
    expect((await t.audit.verify()).ok).toBe(true);
    expect((await verifyAnchored(t.pool, { publicKey: attacker.publicKey })).ok).toBe(true);

    const inDatabase = await verify({ anchors: false });
    expect(inDatabase.problems).toEqual([
      expect.objectContaining({ reason: 'bad-signature', source: 'database checkpoint #4', seq: 30 }),
    ]);
    expect(inDatabase.problems[0]!.message).toContain(
      `signed by key ${attacker.publicKey.keyId}, not by the trusted key ${key.publicKey.keyId}`,
    );

    const anchored = await verify();
    expect(anchored.problems.map((p) => [p.reason, p.source])).toEqual([
      ['bad-signature', 'database checkpoint #4'],
      ['missing', `${anchorFile} line 1`],
      ['rewritten', `${anchorFile} line 2`],
      ['rewritten', `${anchorFile} line 3`],
    ]);
    expect(anchored.problems[2]!.message).toMatch(
      /at seq 20, but the event there in the database hashes to [0-9a-f]{16}…: the log was rewritten at or before seq 20/,
    );
  });

  it('catches a checkpoint signed by another key, in the database or in the anchors', async () => {
    const [latest] = (await listCheckpoints(t.pool)).slice(-1);
    await seedEvents(t, 2);
    const forged = signCheckpoint(
      {
        logId: latest!.logId,
        seq: 32,
        hash: (await t.audit.verify()).headHash!,
        time: latest!.time,
        previous: latest!.signature,
      },
      randomKey(),
    );
    await t.query(
      'insert into audit_checkpoints (log_id, seq, hash, time, key_id, signature, previous_signature, message) values ($1, $2, $3, $4, $5, $6, $7, $8)',
      [
        forged.logId,
        forged.seq,
        Buffer.from(forged.hash, 'hex'),
        forged.time,
        forged.keyId,
        Buffer.from(forged.signature, 'hex'),
        Buffer.from(latest!.signature, 'hex'),
        encodeCheckpointMessage(forged),
      ],
    );
    await appendAnchor(anchorFile, forged);

    const result = await verify();
    expect(result.problems.map((p) => [p.reason, p.source, p.seq])).toEqual([
      ['bad-signature', 'database checkpoint #4', 32],
      ['bad-signature', `${anchorFile} line 4`, 32],
    ]);
    await expect(makeCheckpoint(t.db, key)).rejects.toThrow(/is not signed by this key/);
  });

  it('catches a deleted checkpoint row by the checkpoint chain', async () => {
    await tamperCheckpoints(t, 'delete from audit_checkpoints where id = 2');
    const middle = await verify({ anchors: false });
    expect(middle.problems).toEqual([
      expect.objectContaining({ reason: 'chain-broken', source: 'database checkpoint #3', seq: 30 }),
    ]);
    expect(middle.problems[0]!.message).toContain('does not follow checkpoint #1');

    await tamperCheckpoints(t, 'delete from audit_checkpoints where id = 1');
    const first = await verify({ anchors: false });
    expect(first.problems).toEqual([
      expect.objectContaining({ reason: 'chain-broken', source: 'database checkpoint #3' }),
    ]);
    expect(first.problems[0]!.message).toContain('oldest checkpoint in the database but names a previous one');
  });

  it('catches a stored checkpoint whose columns were edited away from the text it signed', async () => {
    await tamperCheckpoints(t, 'update audit_checkpoints set seq = 25 where id = 3');
    const result = await verify({ anchors: false });
    expect(result.problems).toEqual([
      expect.objectContaining({ reason: 'malformed', source: 'database checkpoint #3', seq: 25 }),
    ]);
  });

  it('with no public key, passes the chain of a truncated log but says plainly that truncation cannot be seen', async () => {
    await tamper(t, 'delete from audit_events where seq > 20');
    const result = await verify({ publicKey: false });
    expect(result).toMatchObject({ ok: true, signed: false, headSeq: 20, problems: [] });
    expect(result.warnings[0]).toBe(NO_KEY_WARNING);
    expect(NO_KEY_WARNING).toMatch(
      /deleting the newest events, or rewriting the log and recomputing its hashes, CANNOT be detected/,
    );
    expect(result.warnings[1]).toMatch(/3 anchor\(s\) were given but not checked/);
  });
});

describe('verifying an export with no database: the export, the public key and the anchors', () => {
  let t: TestDatabase;
  let dir: string;
  let anchorFile: string;
  let exported: string[];
  const key = randomKey();

  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-export-anchors-'));
    anchorFile = path.join(dir, 'anchors.jsonl');
    await eventsThenCheckpoint(t, 8, key, anchorFile);
    await eventsThenCheckpoint(t, 4, key, anchorFile);
    await t.audit.export(path.join(dir, 'audit.jsonl'));
    // The event lines alone: a format 1 export, checked against the anchors (export-bundle.test.ts has format 2).
    exported = (await fs.readFile(path.join(dir, 'audit.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .filter((line) => line.startsWith('{"event":'));
    await t.destroy();
  });
  afterAll(async () => fs.rm(dir, { recursive: true, force: true }));

  const exportOf = async (name: string, lines: string[]): Promise<string> => {
    const file = path.join(dir, name);
    await fs.writeFile(file, `${lines.join('\n')}\n`);
    return file;
  };

  it('passes a whole export, against the anchor file or one trusted checkpoint', async () => {
    const file = await exportOf('whole.jsonl', exported);
    const result = await verifyFileAnchored(file, {
      publicKey: key.publicKey,
      anchors: await readAnchorFile(anchorFile),
    });
    expect(result).toMatchObject({
      ok: true,
      signed: true,
      checked: 12,
      checkpoints: null,
      anchors: { checked: 2, latestSeq: 12 },
      problems: [],
    });
    expect(result.logId).toMatch(/^[0-9a-f-]{36}$/);

    const [, last] = (await fs.readFile(anchorFile, 'utf8')).trimEnd().split('\n');
    const single = await verifyFileAnchored(file, {
      publicKey: key.publicKey,
      anchors: [await readCheckpointArgument(last!)],
    });
    expect(single).toMatchObject({ ok: true, anchors: { checked: 1, latestSeq: 12, latestSource: '--checkpoint' } });
  });

  it('catches a truncated export, naming the anchor that caught it', async () => {
    const file = await exportOf('truncated.jsonl', exported.slice(0, 10));
    const result = await verifyFileAnchored(file, {
      publicKey: key.publicKey,
      anchors: await readAnchorFile(anchorFile),
    });
    expect(result).toMatchObject({ ok: false, failure: null, headSeq: 10 });
    expect(result.problems).toEqual([
      {
        reason: 'truncated',
        source: `${anchorFile} line 2`,
        seq: 12,
        message: expect.stringContaining(
          'the export ends at seq 10: events were removed, or the export is older than this checkpoint',
        ),
      },
    ]);
  });

  it('without anchors, checks the chain and warns that a truncation could not be seen', async () => {
    const file = await exportOf('alone.jsonl', exported.slice(0, 10));
    const result = await verifyFileAnchored(file, { publicKey: key.publicKey });
    expect(result).toMatchObject({ ok: true, headSeq: 10 });
    expect(result.warnings).toEqual([expect.stringContaining('CANNOT be detected')]);
  });
});
