import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointNoteAt,
  latestCheckpoint,
  latestNotedCheckpoint,
  listCheckpoints,
  makeCheckpoint,
  readLogId,
} from '../src/audit/checkpoints/store.ts';
import { rootAt } from '../src/audit/tree/store.ts';
import { seedEvents } from './support/audit.ts';
import { randomKey, rewriteFrom, tamperCheckpoints } from './support/checkpoints.ts';
import { checkCheckpointNotes, formatNoteCheck } from '../src/audit/checkpoints/note-checks.ts';
import { consistencyProofJson, inclusionProofJson, verifyProofJson } from '../src/audit/tree/proof-file.ts';
import { ProofError } from '../src/audit/tree/verify.ts';
import { proveConsistency, proveInclusion } from '../src/audit/tree/store.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { checkpointKeyFromSeed, generateCheckpointKey } from '../src/audit/checkpoints/keys.ts';
import {
  addSignatureLines,
  checkpointNoteBody,
  cosignatureLine,
  cosignatureMessage,
  COSIGNATURE_ED25519,
  NoteError,
  noteVerifier,
  openNote,
  openSignedNote,
  parseCheckpointBody,
  parseVkey,
  signNote,
  vkeyOf,
} from '../src/audit/checkpoints/note.ts';

/*
 * The example of golang.org/x/mod/sumdb/note (note.go's package doc and note_test.go's
 * TestSign / TestOpen): a private key, its verifier key, a text and the exact signed note.
 */
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

const peter = () => {
  const material = Buffer.from(PETER_SKEY.split('+').slice(4).join('+'), 'base64');
  expect(material[0]).toBe(0x01);
  return { name: 'PeterNeumann', key: checkpointKeyFromSeed(material.subarray(1)) };
};

describe('signed notes: the Go reference vectors', () => {
  it('derives the key id and vkey text byte for byte', () => {
    const signer = peter();
    expect(vkeyOf(signer.name, signer.key.publicKey)).toBe(PETER_VKEY);
    expect(parseVkey(PETER_VKEY).keyId).toBe('c74f20a3');
    expect(parseVkey(ENOCH_VKEY).keyId).toBe('af0cfe78');
  });

  it('signs the text to the exact published note', () => {
    expect(signNote(TEXT, peter())).toBe(`${TEXT}\n${PETER_SIG}`);
  });

  it('opens a note signed by two keys, each verified', () => {
    const note = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    const opened = openSignedNote(note, [parseVkey(PETER_VKEY), parseVkey(ENOCH_VKEY)]);
    expect(opened.body).toBe(TEXT);
    expect(opened.verified.map((s) => s.name)).toEqual(['PeterNeumann', 'EnochRoot']);
    const onlyPeter = openSignedNote(note, [parseVkey(PETER_VKEY)]);
    expect(onlyPeter.verified.map((s) => s.keyId)).toEqual(['c74f20a3']);
    expect(onlyPeter.unknown.map((s) => s.name)).toEqual(['EnochRoot']);
  });

  it('refuses a changed text, a note no known key signed, and mangled keys', () => {
    expect(() => openSignedNote(`${TEXT.replace('If', 'So')}\n${PETER_SIG}`, [parseVkey(PETER_VKEY)])).toThrow(
      /does not verify/,
    );
    expect(() => openSignedNote(`${TEXT}\n${ENOCH_SIG}`, [parseVkey(PETER_VKEY)])).toThrow(/no signature .* known key/);
    expect(() => openSignedNote(`${TEXT}${PETER_SIG}`, [parseVkey(PETER_VKEY)])).toThrow(NoteError);
    expect(() => openSignedNote(`${TEXT}\n${PETER_SIG.slice(0, -1)}`, [parseVkey(PETER_VKEY)])).toThrow(NoteError);
    expect(() => openSignedNote(`${TEXT}\n- PeterNeumann AAAA\n`, [])).toThrow(/starts with/);
    expect(() => parseVkey(PETER_VKEY.replace('c74f20a3', 'c74f20a4'))).toThrow(/key id/);
    expect(() => parseVkey(PETER_VKEY.replace('+ARpc', '+AhpC'))).toThrow(NoteError);
    expect(() => parseVkey('PeterNeumann+c74f20a3')).toThrow(/three parts/);
    expect(() => openSignedNote(Buffer.from([0x61, 0xff, 0x0a, 0x0a]), [])).toThrow(/UTF-8/);
  });
});

describe('checkpoint notes (c2sp.org/tlog-checkpoint)', () => {
  const root = 'a'.repeat(64);

  it('writes origin, decimal size and base64 root, each ending LF, and reads them back byte for byte', () => {
    const body = checkpointNoteBody({ origin: 'gatehouse.local/log-1', size: 20852163, root });
    expect(body).toBe(`gatehouse.local/log-1\n20852163\n${Buffer.from(root, 'hex').toString('base64')}\n`);
    expect(parseCheckpointBody(body)).toEqual({
      origin: 'gatehouse.local/log-1',
      size: 20852163,
      root,
      extensions: [],
    });
    expect(checkpointNoteBody(parseCheckpointBody(body))).toBe(body);
  });

  it('reads the spec example checkpoint body', () => {
    const body = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
    const parsed = parseCheckpointBody(body);
    expect(parsed.size).toBe(20852163);
    expect(checkpointNoteBody(parsed)).toBe(body);
  });

  it('refuses leading zeros, a short root, a missing line', () => {
    const b64 = Buffer.from(root, 'hex').toString('base64');
    expect(() => parseCheckpointBody(`o\n012\n${b64}\n`)).toThrow(/leading zeros/);
    expect(() => parseCheckpointBody(`o\n12\n${b64.slice(4)}\n`)).toThrow(/32 bytes/);
    expect(() => parseCheckpointBody(`o\n12\n`)).toThrow(/three lines/);
    expect(() => parseCheckpointBody(`o\n12\n${b64}`)).toThrow(/newline/);
  });

  it('signs and opens a checkpoint: a round trip of the exact bytes', () => {
    const { key } = generateCheckpointKey();
    const origin = 'gatehouse.local/log-1';
    const note = signNote(checkpointNoteBody({ origin, size: 7, root }), { name: origin, key });
    const opened = openNote(note, [noteVerifier(origin, key.publicKey)]);
    expect(opened).toMatchObject({ origin, size: 7, root });
    expect(opened.verified).toHaveLength(1);
    expect(`${opened.body}\n${opened.verified[0]!.line}\n`).toBe(note);
  });
});

describe('cosignatures (c2sp.org/tlog-cosignature)', () => {
  it('signs cosignature/v1, the time line and the body; the key id uses type 0x04', () => {
    const log = peter();
    const body = checkpointNoteBody({
      origin: 'example.com/behind-the-sofa',
      size: 20852163,
      root: 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=',
    });
    expect(cosignatureMessage(body, 1679315147)).toBe(
      'cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    );
    const witness = { name: 'witness.example.com/w1', key: generateCheckpointKey().key };
    const line = cosignatureLine(body, witness, 1679315147);
    const payload = Buffer.from(line.trim().split(' ')[2]!, 'base64');
    expect(payload).toHaveLength(4 + 8 + 64);
    const verifier = parseVkey(vkeyOf(witness.name, witness.key.publicKey, COSIGNATURE_ED25519));
    expect(payload.subarray(0, 4).toString('hex')).toBe(verifier.keyId);
    expect(payload.readBigUInt64BE(4)).toBe(1679315147n);
    // The same key as a plain note signer has another key id: the two kinds never pass for each other.
    expect(noteVerifier(witness.name, witness.key.publicKey).keyId).not.toBe(verifier.keyId);

    const note = addSignatureLines(signNote(body, log), [line]);
    const opened = openNote(note, [noteVerifier(log.name, log.key.publicKey), verifier]);
    expect(opened.verified.map((s) => [s.name, s.time])).toEqual([
      ['PeterNeumann', undefined],
      ['witness.example.com/w1', 1679315147],
    ]);
    expect(addSignatureLines(note, [line])).toBe(note);
    const forged = Buffer.from(payload);
    forged.writeBigUInt64BE(1679315999n, 4);
    const forgedLine = `— ${witness.name} ${forged.toString('base64')}\n`;
    expect(() => openNote(addSignatureLines(signNote(body, log), [forgedLine]), [verifier])).toThrow(/does not verify/);
  });
});

/*
 * The worked example of docs/merkle.md §11.1 and §12.1: RFC 8032 TEST 1's key signs the tree
 * of docs/merkle.md §9 (size 3), TEST 2's key cosigns it at time 1796000000. Recomputed
 * independently with Python's cryptography package (the script is in the doc).
 */
describe('the worked example of docs/merkle.md §11 and §12', () => {
  const origin = 'gatehouse.local/6f1e0c3a-9b2d-4e57-8a41-2c5d7e9f0b13';
  const log = {
    name: origin,
    key: checkpointKeyFromSeed(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')),
  };
  const w1 = {
    name: 'witness.example.com/w1',
    key: checkpointKeyFromSeed(Buffer.from('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', 'hex')),
  };
  const body = checkpointNoteBody({
    origin,
    size: 3,
    root: '0fd442cc1285e4c0b56d46ef36dbcb2b42e18a1b058585a341f7fc66cf58ddd1',
  });
  const NOTE = `${origin}\n3\nD9RCzBKF5MC1bUbvNtvLK0LhihsFhYWjQff8Zs9Y3dE=\n\n— ${origin} I0KXWdRvo3r5AtZfkJi/Tr7/kMWsuArpmRdiSn5ULYSIsIa3+CGmrEXP/f5fYnrucDMnIzRllUJK4qWfrICxobwy5gQ=\n`;
  const COSIGNATURE =
    '— witness.example.com/w1 6EmBcgAAAABrDMkAXQ2ZSf2MpuSNP2mJluVzY/LoUQ3J2EZLwDKkj6bCSp4vSXWC7f4K1LqD34ixTpskt4i6UITRPZLyWjA5Nqv5DA==\n';

  it('gives the published note, vkeys and cosignature byte for byte', () => {
    expect(signNote(body, log)).toBe(NOTE);
    expect(vkeyOf(origin, log.key.publicKey)).toBe(`${origin}+23429759+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea`);
    expect(vkeyOf(w1.name, w1.key.publicKey, COSIGNATURE_ED25519)).toBe(
      'witness.example.com/w1+e8498172+BD1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM',
    );
    expect(cosignatureLine(body, w1, 1796000000)).toBe(COSIGNATURE);
    const opened = openNote(`${NOTE}${COSIGNATURE}`, [
      parseVkey(`${origin}+23429759+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea`),
      parseVkey('witness.example.com/w1+e8498172+BD1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM'),
    ]);
    expect(opened.verified.map((s) => [s.name, s.time])).toEqual([
      [origin, undefined],
      ['witness.example.com/w1', 1796000000],
    ]);
  });
});

describe('checkpoints carry a signed note of the tree at their seq (PostgreSQL)', () => {
  let t: TestDatabase;
  const key = randomKey();
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t.destroy();
  });

  it('signs origin gatehouse.local/<log id>, size = seq and the root the tree store gives; stored and listed as signed', async () => {
    await seedEvents(t, 70);
    const made = await makeCheckpoint(t.db, key);
    const logId = await readLogId(t.db);
    const origin = `gatehouse.local/${logId}`;
    const opened = openNote(made!.note!, [noteVerifier(origin, key.publicKey)]);
    expect(opened).toMatchObject({ origin, size: made!.seq, root: (await rootAt(t.db, made!.seq)).toString('hex') });
    expect(made!.root).toBe(opened.root);
    const latest = await latestCheckpoint(t.pool);
    expect(latest).toMatchObject({ id: made!.id, note: made!.note, root: opened.root });
    expect((await listCheckpoints(t.pool)).at(-1)!.note).toBe(made!.note);

    await seedEvents(t, 3);
    const named = await makeCheckpoint(t.db, key, { origin: 'audit.example.com/prod' });
    expect(openNote(named!.note!, [noteVerifier('audit.example.com/prod', key.publicKey)]).size).toBe(73);
  });

  it('puts the note in proofs: verify-proof with the log key needs no root, and refuses another key or root', async () => {
    await seedEvents(t, 4);
    const made = (await makeCheckpoint(t.db, key))!;
    const proof = await proveInclusion(t.db, 5, made.seq);
    const file = inclusionProofJson(proof, await checkpointNoteAt(t.pool, made.seq));
    expect(verifyProofJson(file, { logKey: key.publicKey })).toMatchObject({
      size: 77,
      signedBy: [made.note!.split('\n')[0]],
    });
    expect(verifyProofJson(file)).toMatchObject({ signedBy: [], unchecked: 1 });
    expect(() => verifyProofJson(file, { logKey: randomKey().publicKey })).toThrow(/"checkpoint" does not hold/);
    expect(() => verifyProofJson(inclusionProofJson(proof), { logKey: key.publicKey })).toThrow(
      /carries no "checkpoint"/,
    );
    const other = (await latestNotedCheckpoint(t.pool))!;
    const older = (await listCheckpoints(t.pool)).find((cp) => cp.seq === 73)!;
    const wrongTree = inclusionProofJson(proof, older.note);
    expect(() => verifyProofJson(wrongTree, { logKey: key.publicKey })).toThrow(ProofError);
    expect(other.id).toBe(made.id);

    const consistency = await proveConsistency(t.db, 73, 77);
    const notes = { checkpoint1: await checkpointNoteAt(t.pool, 73), checkpoint2: await checkpointNoteAt(t.pool, 77) };
    expect(notes.checkpoint1).not.toBeNull();
    const both = consistencyProofJson(consistency, notes);
    expect(verifyProofJson(both, { logKey: key.publicKey })).toMatchObject({
      kind: 'consistency',
      size1: 73,
      size2: 77,
    });
    expect(verifyProofJson(both, { logKey: key.publicKey }).signedBy).toHaveLength(2);
    const swapped = consistencyProofJson(consistency, {
      checkpoint1: notes.checkpoint2,
      checkpoint2: notes.checkpoint1,
    });
    expect(() => verifyProofJson(swapped, { logKey: key.publicKey })).toThrow(/"checkpoint1" signs root/);
  });

  it('audit verify catches a note whose tree changed after signing, and an edited note', async () => {
    expect(await checkCheckpointNotes(t.pool, t.db, key.publicKey)).toMatchObject({ ok: true, checked: 3 });
    // Event 75 is in the block of 64 not yet stored in audit_tree: the root is recomputed from the events.
    await rewriteFrom(t, 75, (event) => ({ ...event, actor: 'U0MALLORY' }));
    const changed = await checkCheckpointNotes(t.pool, t.db, key.publicKey);
    expect(changed.ok).toBe(false);
    expect(changed.problems.map((p) => p.seq)).toEqual([77]);
    expect(changed.problems[0]!.message).toMatch(/the events or the tree were changed after it was signed/);
    expect(formatNoteCheck(changed, true)[0]).toMatch(/✘ checkpoint notes: 1 do NOT hold/);

    await tamperCheckpoints(
      t,
      `update audit_checkpoints set note = replace(note, E'\\n70\\n', E'\\n69\\n') where seq = 70`,
    );
    const edited = await checkCheckpointNotes(t.pool, t.db, key.publicKey);
    expect(edited.problems.map((p) => [p.seq, /does not verify/.test(p.message)])).toEqual([
      [70, true],
      [77, false],
    ]);
  });
});
