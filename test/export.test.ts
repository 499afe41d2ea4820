import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainHash } from '../src/audit/chain.ts';
import { canonicalJson } from '../src/audit/event.ts';
import { verifyExportFile } from '../src/audit/verify-file.ts';
import { seedEvents } from './support/audit.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

describe('exporting the log and verifying the file offline', () => {
  let t: TestDatabase;
  let dir: string;
  let file: string;
  let header: string;
  /** The event lines alone: on their own they are a format 1 export, which is still read. */
  let lines: string[];

  beforeAll(async () => {
    t = await createTestDatabase();
    await seedEvents(t, 6);
    // Text that canonical JSON must escape or keep as is: quotes, backslash, non-ASCII, emoji.
    await t.audit.record({
      actor: 'U0ALICE01',
      action: 'request.created',
      subject: 'req-ü',
      body: { reason: 'fix "invoice" \\ export — 日本 😀 \uFFFD', n: 1e21 },
    });
    await t.audit.flush();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-export-'));
    file = path.join(dir, 'audit.jsonl');
    expect(await t.audit.export(file)).toEqual({ events: 7, checkpoints: 0 });
    [header = '', ...lines] = (await fs.readFile(file, 'utf8')).trimEnd().split('\n');
  });
  afterAll(async () => {
    await t.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const variant = async (name: string, content: string[]): Promise<string> => {
    const target = path.join(dir, name);
    await fs.writeFile(target, `${content.join('\n')}\n`);
    return target;
  };

  it('writes a header naming the log, then one event a line, in seq order, with the exact hashed text', async () => {
    const { rows: meta } = await t.query<{ value: string }>(`select value from gatehouse_meta where key = 'log_id'`);
    expect(header).toBe(`{"format":"gatehouse audit export","key_id":null,"log_id":"${meta[0]!.value}","v":2}`);
    expect(lines).toHaveLength(7);
    const { rows } = await t.query<{ canonical: string; hash: Buffer }>(
      'select canonical, hash from audit_events order by seq',
    );
    lines.forEach((line, i) => {
      const parsed = JSON.parse(line) as { event: { seq: number }; hash: string };
      expect(parsed.event.seq).toBe(i + 1);
      expect(line.startsWith(`{"event":${rows[i]!.canonical},`)).toBe(true);
      expect(parsed.hash).toBe(rows[i]!.hash.toString('hex'));
    });
  });

  it('verifies the round trip, with the same head as the database', async () => {
    const fromFile = await verifyExportFile(file);
    const fromDb = await t.audit.verify();
    expect(fromFile).toMatchObject({ ok: true, checked: 7 });
    expect(fromFile.headHash).toBe(fromDb.headHash);
  });

  it('catches a one-byte edit anywhere in an event', async () => {
    const line = lines[2]!;
    const at = line.indexOf('"n":3');
    const edited = `${line.slice(0, at + 4)}4${line.slice(at + 5)}`;
    expect(edited.length).toBe(line.length);
    const result = await verifyExportFile(
      await variant('edited.jsonl', [lines[0]!, lines[1]!, edited, ...lines.slice(3)]),
    );
    expect(result.failure).toMatchObject({ seq: 3, reason: 'content-changed', line: 3 });
  });

  it('catches an edit that leaves every value the same (hex case), because lines must be exact', async () => {
    const line = lines[4]!;
    const hashAt = line.indexOf('"hash":"') + 8;
    const upper = `${line.slice(0, hashAt)}${line.slice(hashAt, hashAt + 64).toUpperCase()}${line.slice(hashAt + 64)}`;
    expect(upper).not.toBe(line);
    const result = await verifyExportFile(
      await variant('upper.jsonl', [...lines.slice(0, 4), upper, ...lines.slice(5)]),
    );
    expect(result.failure).toMatchObject({ seq: 5, reason: 'malformed', line: 5 });
  });

  it('catches a removed line, swapped lines, a repeated line and a broken line', async () => {
    const removed = await verifyExportFile(await variant('removed.jsonl', [...lines.slice(0, 3), ...lines.slice(4)]));
    expect(removed.failure).toMatchObject({ seq: 4, reason: 'gap' });

    const swapped = await verifyExportFile(
      await variant('swapped.jsonl', [lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)]),
    );
    expect(swapped.failure).toMatchObject({ seq: 2, reason: 'gap' });

    const back = await verifyExportFile(await variant('back.jsonl', [lines[0]!, lines[1]!, lines[2]!, lines[1]!]));
    expect(back.failure).toMatchObject({ seq: 2, reason: 'out-of-order', line: 4 });

    const repeated = await verifyExportFile(
      await variant('repeated.jsonl', [lines[0]!, lines[1]!, lines[1]!, ...lines.slice(2)]),
    );
    expect(repeated.failure).toMatchObject({ seq: 2, reason: 'duplicate', line: 3 });

    const broken = await verifyExportFile(
      await variant('broken.jsonl', [lines[0]!, lines[1]!.slice(0, -1), ...lines.slice(2)]),
    );
    expect(broken.failure).toMatchObject({ seq: 2, reason: 'malformed', line: 2 });
  });

  it('fails an empty file', async () => {
    const empty = path.join(dir, 'empty.jsonl');
    await fs.writeFile(empty, '');
    const result = await verifyExportFile(empty);
    expect(result.failure).toMatchObject({ reason: 'empty' });
  });
  /** The line with its event edited and its hash recomputed, so only the rules on the line's form can catch it. */
  const rehashed = (line: string, edit: (event: Record<string, unknown>) => void): string => {
    const record = JSON.parse(line) as { event: Record<string, unknown>; prev_hash: string };
    edit(record.event);
    const hash = chainHash(Buffer.from(record.prev_hash, 'hex'), canonicalJson(record.event)).toString('hex');
    return canonicalJson({ event: record.event, hash, prev_hash: record.prev_hash });
  };
  const raw = async (name: string, bytes: Buffer): Promise<string> => {
    const target = path.join(dir, name);
    await fs.writeFile(target, bytes);
    return target;
  };
  const whole = (): Buffer => Buffer.from(`${lines.join('\n')}\n`, 'utf8');

  it('refuses invalid UTF-8, even where a lenient decoder would read the same text (U+FFFD)', async () => {
    const bytes = whole();
    const replacement = Buffer.from('\uFFFD', 'utf8');
    const at = bytes.indexOf(replacement);
    expect(at).toBeGreaterThan(0);
    // One invalid byte in place of U+FFFD's three: decoded leniently, the text and its hash are the same.
    const invalid = Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff]), bytes.subarray(at + 3)]);
    const result = await verifyExportFile(await raw('invalid-utf8.jsonl', invalid));
    expect(result.failure).toMatchObject({ seq: 7, reason: 'malformed', line: 7 });
    expect(result.failure?.message).toContain('is not valid UTF-8');
  });

  it('refuses CR LF line endings, a last line without LF and a byte order mark', async () => {
    const crlf = await verifyExportFile(await raw('crlf.jsonl', Buffer.from(`${lines.join('\r\n')}\r\n`)));
    expect(crlf.failure).toMatchObject({ seq: 1, reason: 'malformed', line: 1 });
    expect(crlf.failure?.message).toContain('CR LF');

    const unended = await verifyExportFile(await raw('no-final-lf.jsonl', Buffer.from(lines.join('\n'))));
    expect(unended.failure).toMatchObject({ seq: 7, reason: 'malformed', line: 7 });
    expect(unended.failure?.message).toContain('does not end with LF');
    expect(unended.checked).toBe(6);

    const bom = await verifyExportFile(
      await raw('bom.jsonl', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), whole()])),
    );
    expect(bom.failure).toMatchObject({ seq: 1, reason: 'malformed', line: 1 });
  });

  it('reads patterns as ECMAScript does: no trailing newline, no digits other than 0-9', async () => {
    const last = lines[6]!;
    const newline = rehashed(last, (event) => {
      event.actor = `${event.actor as string}\n`;
    });
    const withNewline = await verifyExportFile(await variant('actor-newline.jsonl', [...lines.slice(0, 6), newline]));
    expect(withNewline.failure).toMatchObject({ seq: 7, reason: 'malformed', line: 7 });
    expect(withNewline.failure?.message).toContain('event.actor');

    // U+0667, ARABIC-INDIC DIGIT SEVEN: a digit to Python's \d, not to ECMAScript's.
    const digits = rehashed(last, (event) => {
      event.time = (event.time as string).replace(/\d(?=Z$)/, '\u0667');
    });
    const withDigit = await verifyExportFile(await variant('arabic-digit.jsonl', [...lines.slice(0, 6), digits]));
    expect(withDigit.failure).toMatchObject({ seq: 7, reason: 'malformed', line: 7 });
    expect(withDigit.failure?.message).toContain('event.time');
  });

  it('reads numbers as doubles, then demands the bytes: 7.0 and 7e0 are not 7', async () => {
    for (const seq of ['7.0', '7e0']) {
      const edited = lines[6]!.replace('"seq":7,', `"seq":${seq},`);
      const result = await verifyExportFile(await variant(`seq-${seq}.jsonl`, [...lines.slice(0, 6), edited]));
      expect(result.failure).toMatchObject({ seq: 7, reason: 'malformed', line: 7 });
      expect(result.failure?.message).toContain('not in the exported form');
    }
  });

  it('refuses an extra member, on the line or in the event, even with its hash recomputed', async () => {
    const onLine = lines[1]!.replace(/\}$/, ',"x":1}');
    const line = await verifyExportFile(await variant('extra-line.jsonl', [lines[0]!, onLine, ...lines.slice(2)]));
    expect(line.failure).toMatchObject({ seq: 2, reason: 'malformed', line: 2 });

    const inEvent = rehashed(lines[6]!, (event) => {
      event.x = 1;
    });
    const event = await verifyExportFile(await variant('extra-event.jsonl', [...lines.slice(0, 6), inEvent]));
    expect(event.failure).toMatchObject({ seq: 7, reason: 'malformed', line: 7 });
    expect(event.failure?.message).toContain('exactly the fields');
  });

  it('refuses a lone surrogate as malformed, not as an error', async () => {
    const edited = lines[6]!.replace('"reason":"fix', '"reason":"\\ud800fix');
    const result = await verifyExportFile(await variant('surrogate.jsonl', [...lines.slice(0, 6), edited]));
    expect(result.failure).toMatchObject({ seq: 7, reason: 'malformed', line: 7 });
    expect(result.failure?.message).toContain('no canonical JSON form');
  });
});
