import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAnchorFile, type Anchor } from '../src/audit/checkpoints/anchors.ts';
import { checkpointToJson, signCheckpoint } from '../src/audit/checkpoints/checkpoint.ts';
import type { CheckpointKey } from '../src/audit/checkpoints/keys.ts';
import { ChainChecker } from '../src/audit/checker.ts';
import { copyOut } from '../src/audit/copy-out.ts';
import { verifyChain } from '../src/audit/verify.ts';
import { fillChain } from '../bench/verify.ts';
import { SinceRefusedError, verifySince, type SinceStart } from '../src/audit/verify-since.ts';
import { seedEvents, tamper } from './support/audit.ts';
import { eventsThenCheckpoint, randomKey, rewriteFrom, tamperCheckpoints } from './support/checkpoints.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { childEnv, killLeftoverChildren, runNode } from './support/process.ts';

let dir: string;
const databases: TestDatabase[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-verify-since-'));
});
afterAll(async () => {
  await killLeftoverChildren();
  for (const t of databases) await t.destroy();
  await rm(dir, { recursive: true, force: true });
});

interface World {
  t: TestDatabase;
  key: CheckpointKey;
  anchorFile: string;
  /** The anchor lines: checkpoint #1 at seq 5, #2 at seq 10. The log's head is seq 13. */
  anchors: Anchor[];
  /** The first checkpoint as a file the auditor kept. */
  keptFile: string;
}

let worlds = 0;

/** A log of 13 events with checkpoints at seq 5 and 10, both in the anchor file. */
async function world(): Promise<World> {
  const t = await createTestDatabase();
  databases.push(t);
  const key = randomKey();
  const anchorFile = join(dir, `anchors-${++worlds}.jsonl`);
  await eventsThenCheckpoint(t, 5, key, anchorFile);
  await eventsThenCheckpoint(t, 5, key, anchorFile);
  await seedEvents(t, 3);
  const anchors = await readAnchorFile(anchorFile);
  const keptFile = join(dir, `kept-${worlds}.json`);
  await writeFile(keptFile, `${checkpointToJson(anchors[0]!.checkpoint)}\n`);
  return { t, key, anchorFile, anchors, keptFile };
}

const sinceFirst = (w: World): SinceStart => ({
  anchor: { source: 'kept.json', checkpoint: w.anchors[0]!.checkpoint },
});

describe('verifySince', () => {
  it('verifies only the events after the trusted checkpoint, the checkpoints after it and the anchors', async () => {
    const w = await world();
    const result = await verifySince(w.t.pool, {
      since: sinceFirst(w),
      publicKey: w.key.publicKey,
      anchors: w.anchors,
    });
    expect(result.ok, JSON.stringify(result.problems)).toBe(true);
    expect(result.since).toMatchObject({ seq: 5, checkpointId: 1, newEvents: 8, anchorsBefore: 0 });
    expect(result.headSeq).toBe(13);
    expect(result.checkpoints).toMatchObject({ checked: 1, latestSeq: 10 });
    expect(result.since.consistency).toEqual({ status: 'checked', size1: 5, size2: 10, checkpointId: 2 });
    expect(result.problems).toEqual([]);
    const full = await verifyChain(w.t.pool);
    expect(result.headHash).toBe(full.headHash);

    // By id, trusted through the key; and from the newest checkpoint, anchors before it are not checked.
    const byId = await verifySince(w.t.pool, {
      since: { checkpointId: 2 },
      publicKey: w.key.publicKey,
      anchors: w.anchors,
    });
    expect(byId.ok).toBe(true);
    expect(byId.since).toMatchObject({ seq: 10, checkpointId: 2, newEvents: 3, anchorsBefore: 1 });
    expect(byId.since.consistency.status).toBe('no-tree');
  });

  it('does NOT detect a change before the checkpoint: the trade-off, which a full verify catches', async () => {
    const w = await world();
    await tamper(w.t, `update audit_events set canonical = replace(canonical, '"n":2', '"n":99') where seq = 2`);
    const full = await verifyChain(w.t.pool);
    expect(full.failure).toMatchObject({ seq: 2, reason: 'content-changed' });
    const since = await verifySince(w.t.pool, { since: sinceFirst(w), publicKey: w.key.publicKey });
    expect(since.ok).toBe(true);
  });

  it('catches a change at the checkpoint’s seq and after it', async () => {
    const w = await world();
    await tamper(w.t, `update audit_events set canonical = replace(canonical, '"n":5', '"n":55') where seq = 5`);
    const at = await verifySince(w.t.pool, { since: sinceFirst(w), publicKey: w.key.publicKey });
    expect(at.ok).toBe(false);
    expect(at.failure).toMatchObject({ seq: 5, reason: 'content-changed' });

    const v = await world();
    await tamper(v.t, `update audit_events set canonical = replace(canonical, '"n":2', '"n":22') where seq = 12`);
    const after = await verifySince(v.t.pool, { since: sinceFirst(v), publicKey: v.key.publicKey });
    expect(after.failure).toMatchObject({ seq: 12, reason: 'content-changed' });
  });

  it('catches a rewrite before the checkpoint that recomputed every later hash: the event at its seq no longer has its hash', async () => {
    const w = await world();
    await rewriteFrom(w.t, 3, (event) => ({ ...event, body: { n: 333 } }));
    expect((await verifyChain(w.t.pool)).ok).toBe(true);
    const result = await verifySince(w.t.pool, { since: sinceFirst(w), publicKey: w.key.publicKey });
    expect(result.ok).toBe(false);
    expect(result.failure).toBeNull();
    expect(result.problems[0]).toMatchObject({ reason: 'rewritten', seq: 5, source: 'kept.json' });
    // The trusted checkpoint, the one stored after it, and the consistency proof between the
    // trees they sign, which read from the rewritten log no longer leads to the signed roots.
    expect(result.problems.map((p) => `${p.reason} ${p.source}`)).toEqual([
      'rewritten kept.json',
      'rewritten database checkpoint #2',
      'rewritten database checkpoint #2',
    ]);
    expect(result.since.consistency.status).toBe('failed');
  });

  it('catches a truncation back past the checkpoint, and a deleted checkpoint after it', async () => {
    const w = await world();
    await tamper(w.t, 'delete from audit_events where seq > 3');
    const result = await verifySince(w.t.pool, { since: sinceFirst(w), publicKey: w.key.publicKey });
    expect(result.ok).toBe(false);
    expect(result.problems[0]).toMatchObject({ reason: 'truncated', seq: 5, source: 'kept.json' });
    expect(result.problems[0]!.message).toContain('ends at seq 3');

    const v = await world();
    await seedEvents(v.t, 1);
    await eventsThenCheckpoint(v.t, 1, v.key, v.anchorFile);
    await tamperCheckpoints(v.t, 'delete from audit_checkpoints where id = 2');
    const cut = await verifySince(v.t.pool, { since: sinceFirst(v), publicKey: v.key.publicKey });
    expect(cut.problems.map((p) => `${p.reason} ${p.source}`)).toEqual(['chain-broken database checkpoint #3']);
  });

  it('refuses a checkpoint of another log, or one the key did not sign, before reading anything', async () => {
    const w = await world();
    const cp = w.anchors[0]!.checkpoint;
    const otherLog = signCheckpoint({ ...cp, logId: 'staging-log' }, w.key);
    await expect(
      verifySince(w.t.pool, {
        since: { anchor: { source: 'other.json', checkpoint: otherLog } },
        publicKey: w.key.publicKey,
      }),
    ).rejects.toThrow(
      new SinceRefusedError(
        `--since: other.json is a checkpoint of log staging-log, but this database holds log ${cp.logId}. Give a checkpoint of this log.`,
      ),
    );
    const otherKey = signCheckpoint(cp, randomKey());
    await expect(
      verifySince(w.t.pool, {
        since: { anchor: { source: 'k.json', checkpoint: otherKey } },
        publicKey: w.key.publicKey,
      }),
    ).rejects.toThrow(/k\.json does not verify with key/);
    await expect(verifySince(w.t.pool, { since: { checkpointId: 9 }, publicKey: w.key.publicKey })).rejects.toThrow(
      /holds no checkpoint #9/,
    );
  });
});

describe('gatehouse audit verify --since', () => {
  it('says what it verified and what it trusted, and exits 1 when a change after the checkpoint is found', async () => {
    const w = await world();
    const run = (...args: string[]) =>
      runNode(
        ['bin/gatehouse.js', 'audit', 'verify', '--public-key', w.key.publicKey.hex, '--no-slack', ...args],
        childEnv({ LOG_LEVEL: 'warn', DATABASE_URL: w.t.url }),
      );
    const cp = w.anchors[0]!.checkpoint;
    const ok = await run('--since', w.keptFile, '--anchors', w.anchorFile);
    expect(ok.code, ok.output).toBe(0);
    expect(ok.stdout).toContain(
      `✔ verified events 6 … 13 (8 events) since checkpoint #1 of ${cp.time}; everything before it is trusted from that checkpoint, not re-checked.`,
    );
    // The notes of the trusted checkpoint and those after it (seq 5 and 10), as a full verify checks them.
    expect(ok.stdout).toMatch(/✔ checkpoint notes: 2 signed and matching the Merkle tree; newest: 10 events/);
    const byId = await run('--since', '#2', '--json');
    expect(byId.code, byId.output).toBe(0);
    expect(JSON.parse(byId.stdout)).toMatchObject({ ok: true, since: { seq: 10, newEvents: 3 }, headSeq: 13 });
    expect(byId.stderr).toMatch(/✔ checkpoint notes: 1 signed and matching/);

    const other = join(dir, 'other-log.json');
    await writeFile(other, checkpointToJson(signCheckpoint({ ...cp, logId: 'staging-log' }, w.key)));
    const refused = await run('--since', other);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`is a checkpoint of log staging-log, but this database holds log ${cp.logId}`);

    // A note after the trusted checkpoint edited: its signature fails, and --since says so.
    await tamperCheckpoints(
      w.t,
      `update audit_checkpoints set note = replace(note, E'\\n10\\n', E'\\n9\\n') where seq = 10`,
    );
    const badNote = await run('--since', w.keptFile);
    expect(badNote.code, badNote.output).toBe(1);
    expect(badNote.stdout).toMatch(/✘ checkpoint notes: 1 do NOT hold, of 2/);

    await tamper(w.t, `update audit_events set canonical = replace(canonical, '"n":1', '"n":11') where seq = 11`);
    const broken = await run('--since', w.keptFile);
    expect(broken.code, broken.output).toBe(1);
    expect(broken.stdout).toContain(
      '✘ The audit log is NOT whole since checkpoint #1 (seq 5): content-changed at seq 11.',
    );
  });
});

describe('verify on a worker thread', () => {
  it('gives exactly the verdict, failure and checkpoint hashes of checking on one thread', async () => {
    const w = await world();
    const cases = [
      async () => undefined,
      () => tamper(w.t, `update audit_events set canonical = replace(canonical, '"n":4', '"n":44') where seq = 9`),
      () => tamper(w.t, `update audit_events set prev_hash = hash where seq = 7`),
      () => tamper(w.t, 'delete from audit_events where seq = 3'),
    ];
    const reasons: (string | null)[] = [];
    for (const damage of cases) {
      await damage();
      const [here, there] = [new ChainChecker([5, 10]), new ChainChecker([5, 10])];
      const result = await verifyChain(w.t.pool, { checker: here, worker: false });
      expect(JSON.stringify(await verifyChain(w.t.pool, { checker: there, worker: true }))).toBe(
        JSON.stringify(result),
      );
      expect([there.hashAt(5), there.hashAt(10)]).toEqual([here.hashAt(5), here.hashAt(10)]);
      reasons.push(result.failure?.reason ?? null);
      const since = { since: sinceFirst(w), publicKey: w.key.publicKey, anchors: w.anchors };
      expect(JSON.stringify(await verifySince(w.t.pool, { ...since, worker: true }))).toBe(
        JSON.stringify(await verifySince(w.t.pool, { ...since, worker: false })),
      );
    }
    expect(reasons).toEqual([null, 'content-changed', 'link-broken', 'gap']);
  });

  it('reads a log spread over many socket reads in place, and the worker agrees, whole or damaged', async () => {
    const t = await createTestDatabase();
    databases.push(t);
    await fillChain(t.url, 3000); // about 1.3 MB: rows split between reads
    const here = await verifyChain(t.pool, { worker: false });
    expect(here).toMatchObject({ ok: true, checked: 3000, headSeq: 3000 });
    expect(await verifyChain(t.pool, { worker: true })).toEqual(here);
    await tamper(t, `update audit_events set canonical = replace(canonical, 'readonly', 'readwrite') where seq = 2001`);
    const damaged = await verifyChain(t.pool, { worker: false });
    expect(damaged.failure).toMatchObject({ seq: 2001, reason: 'content-changed' });
    expect(await verifyChain(t.pool, { worker: true })).toEqual(damaged);
  });

  it('fails a COPY the server stops with an error, and leaves the connection usable', async () => {
    const t = await createTestDatabase();
    databases.push(t);
    const client = await t.pool.connect();
    try {
      await expect(
        copyOut(client, 'copy (select 1 / (3 - g) from generate_series(1, 5) g) to stdout (format binary)', () => {}),
      ).rejects.toThrow(/division by zero/);
      expect((await client.query<{ one: number }>('select 1 as one')).rows[0]?.one).toBe(1);
    } finally {
      client.release();
    }
  });
});
