import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listCheckpoints } from '../src/audit/checkpoints/store.ts';
import { parseCheckpointBody, parseNote, signNote } from '../src/audit/checkpoints/note.ts';
import { verifyFileAnchored } from '../src/audit/checkpoints/verify-anchored.ts';
import { canonicalJson } from '../src/audit/event.ts';
import { CompactRange } from '../src/audit/tree/compact-range.ts';
import { rootAt } from '../src/audit/tree/store.ts';
import { seedEvents } from './support/audit.ts';
import { eventsThenCheckpoint, randomKey, tamperCheckpoints } from './support/checkpoints.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { childEnv, killLeftoverChildren, runNode, type Exit } from './support/process.ts';

const NO_DATABASE = 'postgres://nobody@127.0.0.1:1/none';

function gatehouse(...args: string[]): Promise<Exit> {
  return runNode(['bin/gatehouse.js', ...args], childEnv({ LOG_LEVEL: 'warn', DATABASE_URL: NO_DATABASE }));
}

/**
 * An export carries each checkpoint's signed note of the Merkle tree (docs/merkle.md §11),
 * and verify-file checks every note against the tree of the file's own events, as `audit
 * verify` checks the stored ones against the database's tree: an auditor holding the file
 * knows that the roots proofs and receipts are checked against are the events' roots.
 */
describe("an export's checkpoint notes, checked offline", () => {
  const key = randomKey();
  let t: TestDatabase;
  let dir: string;
  /** The export: header, 4 checkpoints (seqs 5 and 10 without notes, 70 and 140 with), events 1 to 143. */
  let lines: string[];
  /** An export of the same log made before any checkpoint had a note (format 2). */
  let older: string;

  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-export-notes-'));
    const anchorFile = path.join(dir, 'anchors.jsonl');
    // Two checkpoints as made before migration 0013: no note.
    await eventsThenCheckpoint(t, 5, key, anchorFile);
    await eventsThenCheckpoint(t, 5, key, anchorFile);
    await tamperCheckpoints(t, 'update audit_checkpoints set note = null');
    older = path.join(dir, 'older.jsonl');
    await t.audit.export(older);
    await eventsThenCheckpoint(t, 60, key, anchorFile);
    await eventsThenCheckpoint(t, 70, key, anchorFile);
    await seedEvents(t, 3);
    const file = path.join(dir, 'audit.jsonl');
    expect(await t.audit.export(file)).toEqual({ events: 143, checkpoints: 4 });
    lines = (await fs.readFile(file, 'utf8')).trimEnd().split('\n');
  });
  afterAll(async () => {
    await killLeftoverChildren();
    await t.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const fileOf = async (name: string, content: string[]): Promise<string> => {
    const file = path.join(dir, name);
    await fs.writeFile(file, `${content.join('\n')}\n`);
    return file;
  };
  const record = (line: string) => JSON.parse(line) as Record<string, unknown> & { note?: string; seq: number };
  /** Checkpoint line `n` (1-based in the file) with its note replaced. */
  const withNote = (n: number, note: string): string => canonicalJson({ ...record(lines[n - 1]!), note });
  const noteAt = (n: number): string => record(lines[n - 1]!).note!;

  it('writes format 3: each checkpoint line carries its note exactly as stored, older ones none', async () => {
    expect(JSON.parse(lines[0]!)).toEqual({
      format: 'gatehouse audit export',
      key_id: key.publicKey.keyId,
      log_id: expect.any(String),
      v: 3,
    });
    const stored = await listCheckpoints(t.pool);
    expect(lines.slice(1, 5).map((line) => [record(line).seq, record(line).note ?? null])).toEqual(
      stored.map((cp) => [cp.seq, cp.note]),
    );
    expect(stored.map((cp) => cp.note === null)).toEqual([true, true, false, false]);
    expect(lines[5]).toMatch(/^\{"event":/);
  });

  it('verifies whole with the key: every note signed, of its seq, and of the root the events give', async () => {
    const file = await fileOf('whole.jsonl', lines);
    const result = await verifyFileAnchored(file, { publicKey: key.publicKey });
    expect(result).toMatchObject({
      ok: true,
      checked: 143,
      bundle: { checked: 4, latestSeq: 140 },
      treeNotes: { checked: 2, withoutNote: 2 },
      problems: [],
    });
  });

  it('computes, while streaming, the root the stored tree has at every size', async () => {
    const range = new CompactRange();
    for (const line of lines.slice(5)) {
      range.push(Buffer.from(record(line).hash as string, 'hex'));
      expect(range.root().toString('hex'), `size ${range.size}`).toBe((await rootAt(t.db, range.size)).toString('hex'));
    }
    expect(range.size).toBe(143);
    expect(parseCheckpointBody(parseNote(noteAt(5)).body).root).toBe((await rootAt(t.db, 140)).toString('hex'));
  });

  it("without the key, checks the notes' sizes and roots, and says their signatures were not checked", async () => {
    const result = await verifyFileAnchored(await fileOf('no-key.jsonl', lines), {});
    expect(result).toMatchObject({ ok: true, signed: false, treeNotes: { checked: 2, withoutNote: 2 } });
    expect(result.warnings).toContainEqual(
      "The export's 2 checkpoint notes were checked against the Merkle tree of its events (size and root), but not their signatures: no public key was given.",
    );
  });

  it("catches a note whose root line was changed, naming the checkpoint's line", async () => {
    const note = noteAt(4);
    const body = parseCheckpointBody(parseNote(note).body);
    const otherRoot = (await rootAt(t.db, 69)).toString('base64');
    const edited = note.replace(`\n${Buffer.from(body.root, 'hex').toString('base64')}\n`, `\n${otherRoot}\n`);
    expect(edited).not.toBe(note);
    const file = await fileOf('root-changed.jsonl', [...lines.slice(0, 3), withNote(4, edited), ...lines.slice(4)]);

    const signed = await verifyFileAnchored(file, { publicKey: key.publicKey });
    expect(signed).toMatchObject({ ok: false, failure: null, treeNotes: { checked: 1, withoutNote: 2 } });
    expect(signed.problems).toEqual([
      {
        reason: 'bad-note',
        source: `${file} line 4`,
        seq: 70,
        message: expect.stringContaining('does not verify: the note was changed or the signature forged'),
      },
    ]);

    const unsigned = await verifyFileAnchored(file, {});
    expect(unsigned.ok).toBe(false);
    expect(unsigned.problems).toEqual([
      {
        reason: 'bad-note',
        source: `${file} line 4`,
        seq: 70,
        message: `${file} line 4's note signs root ${Buffer.from(otherRoot, 'base64').toString('hex')} for the first 70 events, but the export's events give root ${body.root}: the events or the note were changed after it was signed, so proofs against that root would not verify.`,
      },
    ]);
  });

  it('catches a note signed by another key, naming the key; without the key its root still holds', async () => {
    const { body } = parseNote(noteAt(5));
    const origin = parseCheckpointBody(body).origin;
    const forged = signNote(body, { name: origin, key: randomKey() });
    const file = await fileOf('other-key.jsonl', [...lines.slice(0, 4), withNote(5, forged), ...lines.slice(5)]);
    const signed = await verifyFileAnchored(file, { publicKey: key.publicKey });
    expect(signed.ok).toBe(false);
    expect(signed.problems.map((p) => [p.reason, p.source, p.seq])).toEqual([['bad-note', `${file} line 5`, 140]]);
    expect(signed.problems[0]!.message).toContain('no signature on the note is by a known key');

    expect(await verifyFileAnchored(file, {})).toMatchObject({ ok: true, treeNotes: { checked: 2 } });
  });

  it("catches a note of another size on a checkpoint, even one the log's key signed", async () => {
    const file = await fileOf('other-size.jsonl', [...lines.slice(0, 3), withNote(4, noteAt(5)), ...lines.slice(4)]);
    const result = await verifyFileAnchored(file, { publicKey: key.publicKey });
    expect(result.problems).toEqual([
      {
        reason: 'bad-note',
        source: `${file} line 4`,
        seq: 70,
        message: `${file} line 4 is of seq 70, but its note signs a tree of 140 events.`,
      },
    ]);
  });

  it('refuses a note that is not a string, and a note in a format 2 file, whose readers do not know it', async () => {
    const notString = canonicalJson({ ...record(lines[3]!), note: 1 });
    const bad = await verifyFileAnchored(await fileOf('note-number.jsonl', [...lines.slice(0, 3), notString]), {});
    expect(bad.failure).toMatchObject({ reason: 'malformed', line: 4 });
    expect(bad.failure?.message).toContain("a checkpoint's note must be a string");

    const v2 = await fileOf('v2-with-notes.jsonl', [lines[0]!.replace('"v":3', '"v":2'), ...lines.slice(1)]);
    const refused = await verifyFileAnchored(v2, {});
    expect(refused.failure).toMatchObject({ reason: 'malformed', line: 4 });
    expect(refused.failure?.message).toContain('must have exactly the fields');
  });

  it('exports a log whose checkpoints carry no note as format 2, and counts them without note', async () => {
    const [header] = (await fs.readFile(older, 'utf8')).split('\n');
    expect(JSON.parse(header!)).toMatchObject({ v: 2 });
    const result = await verifyFileAnchored(older, { publicKey: key.publicKey });
    expect(result).toMatchObject({ ok: true, checked: 10, treeNotes: { checked: 0, withoutNote: 2 }, problems: [] });
  });

  it('says at the command line how many notes were checked, and --json carries treeNotes', async () => {
    const file = await fileOf('cli.jsonl', lines);
    const whole = await gatehouse('audit', 'verify-file', file, '--public-key', key.publicKey.hex);
    expect(whole.code, whole.output).toBe(0);
    expect(whole.stdout).toContain(
      "✔ export's checkpoint notes: 2 signed and matching the Merkle tree of its events (2 checkpoint(s) carry none).",
    );
    const json = await gatehouse('audit', 'verify-file', file, '--public-key', key.publicKey.hex, '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, treeNotes: { checked: 2, withoutNote: 2 } });

    const forged = signNote(parseNote(noteAt(5)).body, { name: 'gatehouse.local/x', key: randomKey() });
    const broken = await fileOf('cli-bad.jsonl', [...lines.slice(0, 4), withNote(5, forged), ...lines.slice(5)]);
    const caught = await gatehouse('audit', 'verify-file', broken, '--public-key', key.publicKey.hex);
    expect(caught.code, caught.output).toBe(1);
    expect(caught.stdout).toContain(`bad-note at seq 140, caught by ${broken} line 5.`);
    expect(caught.stdout).toContain("✘ export's checkpoint notes: 1 do NOT hold, of 2 (2 checkpoint(s) carry none).");
    // The checkpoints themselves hold: only the note failed.
    expect(caught.stdout).toContain("✔ export's checkpoints: 4 of log");
  });
});
