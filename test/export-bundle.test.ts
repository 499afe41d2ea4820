import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAnchorFile, type Anchor } from '../src/audit/checkpoints/anchors.ts';
import { chainHash } from '../src/audit/chain.ts';
import {
  checkpointToJson,
  parseCheckpoint,
  signCheckpoint,
  type Checkpoint,
} from '../src/audit/checkpoints/checkpoint.ts';
import { checkpointKeyFromSeed } from '../src/audit/checkpoints/keys.ts';
import { verifyFileAnchored } from '../src/audit/checkpoints/verify-anchored.ts';
import { exportHeaderLine } from '../src/audit/verify-file.ts';
import { canonicalJson } from '../src/audit/event.ts';
import { eventsThenCheckpoint, randomKey } from './support/checkpoints.ts';
import { seedEvents } from './support/audit.ts';
import { createTestDatabase } from './support/db.ts';

/**
 * A self-contained export (format 2): its header names the log and the key, its checkpoints
 * come with their chain, and verify-file alone catches what they cover being cut or changed.
 * The log's checkpoints have notes, so it exports as format 3; read here as the format 2 file
 * of the same log (no notes), which verifiers still read. Notes: export-notes.test.ts.
 */
describe('a self-contained export, verified with no database', () => {
  const key = randomKey();
  let dir: string;
  let anchorFile: string;
  let header: string;
  let exportedHeader: string;
  /** The export's checkpoint lines (at seqs 5, 10 and 15), oldest first. */
  let cps: string[];
  /** The export's event lines, seqs 1 to 17. */
  let events: string[];
  let anchors: Anchor[];
  let logId: string;

  beforeAll(async () => {
    const t = await createTestDatabase();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-export-bundle-'));
    anchorFile = path.join(dir, 'anchors.jsonl');
    for (let i = 0; i < 3; i++) await eventsThenCheckpoint(t, 5, key, anchorFile);
    await seedEvents(t, 2);
    const file = path.join(dir, 'audit.jsonl');
    expect(await t.audit.export(file)).toEqual({ events: 17, checkpoints: 3 });
    const lines = (await fs.readFile(file, 'utf8')).trimEnd().split('\n');
    const [first = '', ...noted] = lines.slice(0, 4);
    exportedHeader = first;
    header = exportedHeader.replace('"v":3', '"v":2');
    cps = noted.map((line) => {
      const { note, ...checkpoint } = JSON.parse(line) as Record<string, unknown>;
      expect(note).toMatch(/^gatehouse\.local\//);
      return checkpointToJson(parseCheckpoint(checkpoint));
    });
    events = lines.slice(4);
    anchors = await readAnchorFile(anchorFile);
    logId = anchors[0]!.checkpoint.logId;
    await t.destroy();
  });
  afterAll(async () => fs.rm(dir, { recursive: true, force: true }));

  const fileOf = async (name: string, lines: string[]): Promise<string> => {
    const file = path.join(dir, name);
    await fs.writeFile(file, `${lines.join('\n')}\n`);
    return file;
  };
  const checkpointAt = (i: number): Checkpoint => parseCheckpoint(cps[i]!);
  /** A checkpoint made with the real key, as someone holding it could: `fields` over checkpoint i's. */
  const resigned = (i: number, fields: Partial<Checkpoint>): string =>
    checkpointToJson(signCheckpoint({ ...checkpointAt(i), ...fields }, key));
  /** The event lines with seq `from` changed and every later hash recomputed: a whole chain again. */
  const rewrittenFrom = (from: number): string[] => {
    let prev: Buffer | null = null;
    return events.map((line) => {
      const record = JSON.parse(line) as { event: { seq: number; body: Record<string, unknown> }; prev_hash: string };
      if (record.event.seq < from) return line;
      if (record.event.seq === from) record.event.body = { n: 'rewritten' };
      const prevHash = prev ?? Buffer.from(record.prev_hash, 'hex');
      const hash = chainHash(prevHash, canonicalJson(record.event));
      prev = hash;
      return canonicalJson({ event: record.event, hash: hash.toString('hex'), prev_hash: prevHash.toString('hex') });
    });
  };

  it('starts with a header naming the log and the key, then the checkpoints with their chain', () => {
    expect(exportedHeader).toBe(
      `{"format":"gatehouse audit export","key_id":"${key.publicKey.keyId}","log_id":"${logId}","v":3}`,
    );
    expect(cps.map((line) => checkpointAt(cps.indexOf(line)).seq)).toEqual([5, 10, 15]);
    expect(cps.map((_, i) => checkpointAt(i).previous)).toEqual([
      null,
      checkpointAt(0).signature,
      checkpointAt(1).signature,
    ]);
    expect(cps).toEqual(anchors.map((a) => checkpointToJson(a.checkpoint)));
  });

  it('verifies whole with the key alone, and against the anchors', async () => {
    const file = await fileOf('whole.jsonl', [header, ...cps, ...events]);
    const alone = await verifyFileAnchored(file, { publicKey: key.publicKey });
    expect(alone).toMatchObject({
      ok: true,
      signed: true,
      checked: 17,
      logId,
      bundle: { logId, claimedKeyId: key.publicKey.keyId, checked: 3, latestSeq: 15 },
      problems: [],
    });
    expect(alone.warnings).toEqual([expect.stringContaining("the export's own checkpoints were checked")]);

    const anchored = await verifyFileAnchored(file, { publicKey: key.publicKey, anchors });
    expect(anchored).toMatchObject({ ok: true, anchors: { checked: 3, latestSeq: 15 }, problems: [], warnings: [] });
  });

  it('without a key, checks the checkpoints chain and holds, names the key id it claims, and says signatures were not checked', async () => {
    const file = await fileOf('no-key.jsonl', [header, ...cps, ...events]);
    const result = await verifyFileAnchored(file, {});
    expect(result).toMatchObject({ ok: true, signed: false, keyId: null, bundle: { checked: 3, latestSeq: 15 } });
    expect(result.warnings).toEqual([
      expect.stringContaining(`checkpoints (which name key ${key.publicKey.keyId}) were NOT checked`),
    ]);

    const truncated = await verifyFileAnchored(
      await fileOf('no-key-cut.jsonl', [header, ...cps, ...events.slice(0, 12)]),
    );
    expect(truncated).toMatchObject({ ok: false, signed: false, failure: null, headSeq: 12 });
    expect(truncated.problems.map((p) => [p.reason, p.seq])).toEqual([['truncated', 15]]);
  });

  it('catches events removed after a checkpoint, naming the checkpoint line', async () => {
    const file = await fileOf('truncated.jsonl', [header, ...cps, ...events.slice(0, 12)]);
    const result = await verifyFileAnchored(file, { publicKey: key.publicKey });
    expect(result).toMatchObject({ ok: false, failure: null, headSeq: 12 });
    expect(result.problems).toEqual([
      {
        reason: 'truncated',
        source: `${file} line 4`,
        seq: 15,
        message: expect.stringContaining('vouches for seq 15'),
      },
    ]);
  });

  it('catches an event rewritten before the last checkpoint, with every later hash recomputed', async () => {
    const file = await fileOf('rewritten.jsonl', [header, ...cps, ...rewrittenFrom(7)]);
    const result = await verifyFileAnchored(file, { publicKey: key.publicKey });
    expect(result).toMatchObject({ ok: false, failure: null, checked: 17 });
    expect(result.problems.map((p) => [p.reason, p.seq, p.source])).toEqual([
      ['rewritten', 10, `${file} line 3`],
      ['rewritten', 15, `${file} line 4`],
    ]);
  });

  it('catches a checkpoint missing from the export, saying which previous was expected and which was found', async () => {
    const file = await fileOf('missing-cp.jsonl', [header, cps[0]!, cps[2]!, ...events]);
    const result = await verifyFileAnchored(file, { publicKey: key.publicKey });
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([
      {
        reason: 'chain-broken',
        source: `${file} line 3`,
        seq: 15,
        message: `${file} line 3 names previous ${checkpointAt(1).signature.slice(0, 16)}… (no checkpoint in the export has it), but the checkpoint before it is ${file} line 2, whose signature is ${checkpointAt(0).signature.slice(0, 16)}…: a checkpoint between them is missing, or they were reordered.`,
      },
    ]);

    const first = await fileOf('first-cp-missing.jsonl', [header, cps[1]!, cps[2]!, ...events]);
    const noFirst = await verifyFileAnchored(first, { publicKey: key.publicKey, anchors });
    expect(noFirst.problems.map((p) => [p.reason, p.source])).toEqual([
      ['chain-broken', `${first} line 2`],
      ['missing', `${anchorFile} line 1`],
    ]);
  });

  it('catches reordered checkpoints', async () => {
    const file = await fileOf('reordered.jsonl', [header, cps[0]!, cps[2]!, cps[1]!, ...events]);
    const result = await verifyFileAnchored(file, { publicKey: key.publicKey });
    expect(result.problems.map((p) => [p.reason, p.source])).toEqual([
      ['chain-broken', `${file} line 3`],
      ['chain-broken', `${file} line 4`],
    ]);
    expect(result.problems[0]!.message).toContain(`(the signature of ${file} line 4)`);
  });

  it('catches a checkpoint whose previous link is wrong, even signed with the real key', async () => {
    const file = await fileOf('bad-previous.jsonl', [header, cps[0]!, resigned(1, { previous: null }), ...events]);
    const result = await verifyFileAnchored(file, { publicKey: key.publicKey });
    expect(result.problems).toEqual([
      expect.objectContaining({
        reason: 'chain-broken',
        source: `${file} line 3`,
        seq: 10,
        message: expect.stringContaining(
          `names previous none, but the checkpoint before it is ${file} line 2, whose signature is ${checkpointAt(0).signature.slice(0, 16)}…`,
        ),
      }),
    ]);
  });

  it('catches a signature that does not verify with the key given, and checkpoints of another key', async () => {
    const flipped = cps[1]!.replace(/"signature":"(.)/, (_, c: string) => `"signature":"${c === '0' ? '1' : '0'}`);
    const file = await fileOf('bad-signature.jsonl', [header, cps[0]!, flipped, ...events]);
    const result = await verifyFileAnchored(file, { publicKey: key.publicKey });
    expect(result.problems.map((p) => [p.reason, p.source])).toEqual([['bad-signature', `${file} line 3`]]);

    // The whole log rewritten and its checkpoints re-made with another key.
    const other = randomKey();
    const rewritten = rewrittenFrom(3);
    const remade: string[] = [];
    let previous: string | null = null;
    for (const seq of [5, 10, 15]) {
      const { hash } = JSON.parse(rewritten[seq - 1]!) as { hash: string };
      const cp = signCheckpoint({ logId, seq, hash, time: checkpointAt(0).time, previous }, other);
      remade.push(checkpointToJson(cp));
      previous = cp.signature;
    }
    const forgedHeader = header.replace(key.publicKey.keyId, other.publicKey.keyId);
    const forged = await fileOf('other-key.jsonl', [forgedHeader, ...remade, ...rewritten]);
    const caught = await verifyFileAnchored(forged, { publicKey: key.publicKey });
    expect(caught.problems.map((p) => p.reason)).toEqual(['bad-signature', 'bad-signature', 'bad-signature']);
    expect(caught.problems[0]!.message).toContain(`signed by key ${other.publicKey.keyId}, not by the trusted key`);
    // Without the key, the forgery is consistent: only the claim is reported, and the warning says why.
    const unchecked = await verifyFileAnchored(forged, {});
    expect(unchecked).toMatchObject({ ok: true, bundle: { claimedKeyId: other.publicKey.keyId } });
    expect(unchecked.warnings[0]).toContain('NOT checked');
  });

  it('takes the log id from the header, so an anchor of another log planted first is the only one refused', async () => {
    const planted = resigned(2, { logId: 'another-log' });
    const plantedAnchors = [{ source: 'planted', checkpoint: parseCheckpoint(planted) }, ...anchors];
    const file = await fileOf('planted.jsonl', [header, ...cps, ...events]);
    const result = await verifyFileAnchored(file, { publicKey: key.publicKey, anchors: plantedAnchors });
    expect(result.logId).toBe(logId);
    expect(result.problems.map((p) => [p.reason, p.source])).toEqual([['wrong-log', 'planted']]);
  });

  it('for an export of event lines only, refuses every anchor when they name two logs, whatever their order', async () => {
    const planted = { source: 'planted', checkpoint: parseCheckpoint(resigned(2, { logId: 'another-log' })) };
    const file = await fileOf('format-1.jsonl', events);
    const agreed = await verifyFileAnchored(file, { publicKey: key.publicKey, anchors });
    expect(agreed).toMatchObject({ ok: true, logId, bundle: null });

    const first = await verifyFileAnchored(file, { publicKey: key.publicKey, anchors: [planted, ...anchors] });
    const last = await verifyFileAnchored(file, { publicKey: key.publicKey, anchors: [...anchors, planted] });
    const findings = (r: typeof first): string[][] => r.problems.map((p) => [p.reason, p.source]).sort();
    expect(findings(first)).toEqual(findings(last));
    expect(findings(first)).toEqual(
      [...anchors.map((a) => a.source), 'planted']
        .sort()
        .map((source) => ['wrong-log', source])
        .sort(),
    );
    expect(first.problems[0]!.message).toContain(
      `the anchors name 2 logs (${['another-log', logId].sort().join(', ')})`,
    );
  });

  it("checks the anchors' previous links: a fork, and a step back in seq", async () => {
    const file = await fileOf('format-1-links.jsonl', events);
    // Signed with the real key after checkpoint 1, as checkpoint 2 is: two successors of one checkpoint.
    const fork = {
      source: 'fork',
      checkpoint: parseCheckpoint(resigned(1, { time: '2030-01-01T00:00:00.000000Z' })),
    };
    const forked = await verifyFileAnchored(file, { publicKey: key.publicKey, anchors: [...anchors, fork] });
    expect(forked.problems.map((p) => [p.reason, p.source])).toEqual([
      ['chain-broken', `${anchorFile} line 2`],
      ['chain-broken', 'fork'],
    ]);
    expect(forked.problems[1]!.message).toContain(
      `names previous ${checkpointAt(0).signature.slice(0, 16)}… (${anchorFile} line 1, seq 5), and so does ${anchorFile} line 2: expected one checkpoint after it, found 2`,
    );

    const { hash } = JSON.parse(events[11]!) as { hash: string };
    const back = {
      source: 'back',
      checkpoint: parseCheckpoint(resigned(2, { seq: 12, hash, previous: checkpointAt(2).signature })),
    };
    const stepped = await verifyFileAnchored(file, { publicKey: key.publicKey, anchors: [...anchors, back] });
    expect(stepped.problems).toEqual([
      expect.objectContaining({
        reason: 'chain-broken',
        source: 'back',
        message: expect.stringContaining('but covers seq 12, behind it: expected seq 15 or later'),
      }),
    ]);

    // The same fork against a format 2 export: the export's chain and the anchor disagree.
    const bundled = await fileOf('bundle-fork.jsonl', [header, ...cps, ...events]);
    const againstBundle = await verifyFileAnchored(bundled, { publicKey: key.publicKey, anchors: [fork] });
    // ...and, older than the export's newest checkpoint yet not in it, it is missing from the export.
    expect(againstBundle.problems.map((p) => [p.reason, p.source])).toEqual([
      ['chain-broken', 'fork'],
      ['missing', 'fork'],
    ]);
    expect(againstBundle.problems[0]!.message).toContain(`and so does ${bundled} line 3`);
  });

  it('refuses a header it cannot read, and a checkpoint line after the events', async () => {
    const unknown = await fileOf('v4.jsonl', [header.replace('"v":2', '"v":4'), ...cps, ...events]);
    const v4 = await verifyFileAnchored(unknown, {});
    expect(v4.failure).toMatchObject({ reason: 'malformed', line: 1 });
    expect(v4.failure?.message).toContain('export format 4, which this verifier does not know');

    const late = await fileOf('late-cp.jsonl', [header, cps[0]!, ...events, cps[1]!]);
    const result = await verifyFileAnchored(late, {});
    expect(result.failure).toMatchObject({ reason: 'malformed', seq: 18, line: 20 });
  });
});

describe('the format 2 export of the worked example (docs/audit-log.md, section 12.8)', () => {
  it('is byte for byte what the page says, and verifies with RFC 8032 key 1', async () => {
    const doc = await fs.readFile(path.join(import.meta.dirname, '../docs/audit-log.md'), 'utf8');
    const key = checkpointKeyFromSeed(
      Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex'),
    );
    const head = {
      logId: '6f1e0c3a-9b2d-4e57-8a41-2c5d7e9f0b13',
      seq: 3,
      hash: 'b7277fbe3a9318a76a80c0d5b0df005711d5a963d2673645e82074d49004db0d',
    };
    const first = signCheckpoint({ ...head, time: '2026-11-26T09:16:00.000000Z', previous: null }, key);
    const second = signCheckpoint({ ...head, time: '2026-11-26T09:21:00.000000Z', previous: first.signature }, key);
    const events = doc.split('\n').filter((line) => line.startsWith('{"event":{"action":'));
    expect(events).toHaveLength(3);
    const lines = [exportHeaderLine(head.logId, key.publicKey.keyId), first, second].map((x) =>
      typeof x === 'string' ? x : checkpointToJson(x),
    );
    const text = `${[...lines, ...events].join('\n')}\n`;
    expect(doc).toContain(`\n${lines[0]}\n`);
    expect(Buffer.byteLength(text)).toBe(2128);
    expect(createHash('sha256').update(text).digest('hex')).toBe(
      'f7a3050c976272496517a5fcddfb3360bf399dc31c48da3d47edf6d29f55c692',
    );
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-example-'));
    const file = path.join(dir, 'audit-v2.jsonl');
    await fs.writeFile(file, text);
    const result = await verifyFileAnchored(file, { publicKey: key.publicKey });
    expect(result).toMatchObject({ ok: true, headSeq: 3, bundle: { checked: 2, latestSeq: 3 }, problems: [] });
    await fs.rm(dir, { recursive: true, force: true });
  });
});
