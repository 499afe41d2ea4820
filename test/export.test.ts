import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
      body: { reason: 'fix "invoice" \\ export — 日本 😀', n: 1e21 },
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
});
