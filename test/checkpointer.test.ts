import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAnchorFile } from '../src/audit/anchors.ts';
import { generateCheckpointKey } from '../src/audit/checkpoint-keys.ts';
import { verifyAnchored } from '../src/audit/verify-anchored.ts';
import { PEOPLE, TEST_POLICY } from './support/access.ts';
import { tamper } from './support/audit.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';

/** The running app signs checkpoints as it goes and at shutdown, and they catch truncation. */
describe('checkpoints made by the running app', () => {
  const { key, pem } = generateCheckpointKey();
  let dir: string;
  let anchorFile: string;
  let t: TestDatabase;
  let bot: RunningBot;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-anchors-'));
    anchorFile = path.join(dir, 'anchors.jsonl');
    t = await createTestDatabase({ migrate: false });
    bot = await startBot({
      t,
      policy: `${TEST_POLICY}\ncheckpoint_every_events: 3\n`,
      env: { GATEHOUSE_CHECKPOINT_KEY: pem, GATEHOUSE_ANCHOR_FILE: anchorFile },
    });
  });
  afterAll(async () => {
    await t.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('signs a checkpoint once enough events happened, and a last one at shutdown', async () => {
    for (const n of [1, 2, 3]) {
      const result = await bot.gatehouse.access.request({ requester: PEOPLE.bram, resourceId: 'staging-db', reason: `task ${n}` });
      if (result.ok) await bot.gatehouse.access.cancel(result.request.id, PEOPLE.bram);
    }
    await bot.gatehouse.audit.flush();
    const signed = await bot.gatehouse.checkpointer!.maybeCheckpoint();
    expect(signed?.seq).toBeGreaterThanOrEqual(3);
    // Nothing new: no second checkpoint of the same head.
    expect(await bot.gatehouse.checkpointer!.maybeCheckpoint()).toBeNull();

    await bot.gatehouse.access.request({ requester: PEOPLE.ana, resourceId: 'staging-db', reason: 'one more' });
    await bot.stop();
    const anchors = await readAnchorFile(anchorFile);
    const head = await t.db.selectFrom('audit_events').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(anchors.at(-1)?.checkpoint.seq).toBe(head.seq);
    expect(anchors.length).toBeGreaterThanOrEqual(2);

    const whole = await verifyAnchored(t.pool, { publicKey: key.publicKey, anchors });
    expect(whole.ok).toBe(true);
  });

  it('catches the newest events deleted together with their checkpoints, by the anchor file', async () => {
    const anchors = await readAnchorFile(anchorFile);
    const last = anchors.at(-1)!.checkpoint.seq;
    await tamper(t, `delete from audit_events where seq > ${last - 2}`);
    await t.query('alter table audit_checkpoints disable trigger user');
    await t.query(`delete from audit_checkpoints where seq > ${last - 2}`);
    const result = await verifyAnchored(t.pool, { publicKey: key.publicKey, anchors });
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.source).join(' ')).toContain(anchorFile);
  });
});
