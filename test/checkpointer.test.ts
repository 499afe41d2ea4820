import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAnchorFile } from '../src/audit/checkpoints/anchors.ts';
import { parseCheckpoint, type Checkpoint } from '../src/audit/checkpoints/checkpoint.ts';
import { generateCheckpointKey } from '../src/audit/checkpoints/keys.ts';
import { latestCheckpoint } from '../src/audit/checkpoints/store.ts';
import { CHECKPOINT_EVENT_TYPE } from '../src/slack/outbound/channel-anchors.ts';
import { verifyAnchored } from '../src/audit/checkpoints/verify-anchored.ts';
import { PEOPLE, TEST_POLICY } from './support/access.ts';
import { tamper } from './support/audit.ts';
import { tamperCheckpoints } from './support/checkpoints.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { FakeSlack } from '../src/sandbox/fake-slack/fake-slack.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';

const AUDIT_CHANNEL = 'C0AUDIT01';

/** A checkpoint without the columns only the database has. */
function checkpointFields({
  id: _id,
  message: _message,
  note: _note,
  root: _root,
  ...checkpoint
}: Checkpoint & { id: number; message: string; note: string | null; root: string | null }): Checkpoint {
  return checkpoint;
}

/** Waits until the notifier has delivered everything queued so far. */
async function outboxDrained(bot: RunningBot): Promise<void> {
  const pending = async () =>
    Number(
      (
        await bot.t.db
          .selectFrom('outbox')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('done_at', 'is', null)
          .executeTakeFirstOrThrow()
      ).n,
    );
  while ((await pending()) > 0) await new Promise((resolve) => setImmediate(resolve));
}

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
      const result = await bot.gatehouse.access.request({
        requester: PEOPLE.bram,
        resourceId: 'staging-db',
        reason: `task ${n}`,
      });
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
    const head = await t.db
      .selectFrom('audit_events')
      .select('seq')
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
    expect(anchors.at(-1)?.checkpoint.seq).toBe(head.seq);
    expect(anchors.length).toBeGreaterThanOrEqual(2);

    const whole = await verifyAnchored(t.pool, { publicKey: key.publicKey, anchors });
    expect(whole.ok).toBe(true);
  });

  it('catches the newest events deleted together with their checkpoints, by the anchor file', async () => {
    const anchors = await readAnchorFile(anchorFile);
    const last = anchors.at(-1)!.checkpoint.seq;
    await tamper(t, `delete from audit_events where seq > ${last - 2}`);
    await tamperCheckpoints(t, `delete from audit_checkpoints where seq > ${last - 2}`);
    const result = await verifyAnchored(t.pool, { publicKey: key.publicKey, anchors });
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.source).join(' ')).toContain(anchorFile);
  });
});

/** Checkpoints are posted to the audit channel through the outbox, and read back as anchors. */
describe('checkpoints in the audit channel', () => {
  const { key, pem } = generateCheckpointKey();
  let t: TestDatabase;
  let bot: RunningBot;
  const postsOf = (bot: RunningBot) =>
    bot.fake.messagesIn(AUDIT_CHANNEL).filter((m) => m.metadata?.event_type === CHECKPOINT_EVENT_TYPE);

  beforeAll(async () => {
    t = await createTestDatabase({ migrate: false });
    // No anchor file: the channel is the only copy outside the database.
    bot = await startBot({
      t,
      policy: `${TEST_POLICY}\ncheckpoint_every_events: 1000\n`,
      env: { GATEHOUSE_CHECKPOINT_KEY: pem },
    });
  });
  afterAll(async () => {
    await bot.stop();
    await t.destroy();
  });

  it('posts each checkpoint with the checkpoint in its metadata, retrying when Slack fails', async () => {
    await bot.gatehouse.access.request({ requester: PEOPLE.bram, resourceId: 'staging-db', reason: 'look at logs' });
    await bot.settle();
    await outboxDrained(bot);
    // The next post is the checkpoint's: it fails once and is retried from the outbox.
    bot.fake.failNext('chat.postMessage', { status: 500 });
    // The app's own checkpoint job may have signed this head a moment earlier; either way it is posted.
    const signed = (await bot.gatehouse.checkpointer!.checkpointNow()) ?? (await latestCheckpoint(t.pool));
    const call = await bot.fake.waitForCall(
      'chat.postMessage',
      (c) =>
        (c.args.metadata as { event_payload?: { seq?: number } } | undefined)?.event_payload?.seq === signed!.seq &&
        !c.failed,
    );
    expect(call.args.channel).toBe(AUDIT_CHANNEL);
    const posts = postsOf(bot).filter((m) => m.metadata!.event_payload.seq === signed!.seq);
    expect(posts).toHaveLength(1);
    expect(parseCheckpoint(posts[0]!.metadata!.event_payload.checkpoint)).toEqual(checkpointFields(signed!));
    expect(posts[0]!.text).toContain(`seq ${signed!.seq}`);
    const attempts = bot.fake
      .callsTo('chat.postMessage')
      .filter(
        (c) =>
          (c.args.metadata as { event_payload?: { seq?: number } } | undefined)?.event_payload?.seq === signed!.seq,
      );
    expect(attempts.map((c) => c.failed)).toEqual([true, false]);
  });

  it('verifies in the background thread, off the thread that acks Slack, with the same result as in this one', async () => {
    await bot.gatehouse.audit.flush();
    const newest = (await bot.gatehouse.checkpointer!.checkpointNow()) ?? (await latestCheckpoint(t.pool))!;
    const anchors = [{ source: 'a checkpoint kept by the test', checkpoint: checkpointFields(newest) }];
    const there = await bot.gatehouse.background.verify({ publicKeyHex: key.publicKey.hex, anchors });
    const here = await bot.gatehouse.audit.verifyAnchored({ publicKey: key.publicKey, anchors });
    expect(there).toEqual(here);
    expect(there).toMatchObject({ ok: true, signed: true, anchors: { checked: 1, latestSeq: newest.seq } });
  });

  /** The newest `audit.verified` record's body, once what is queued is chained. */
  async function latestVerification(): Promise<unknown> {
    await bot.gatehouse.audit.flush();
    const record = await t.db
      .selectFrom('audit_log')
      .select('body')
      .where('action', '=', 'audit.verified')
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
    return record.body;
  }

  it("checks every checkpoint's signed note against the Merkle tree in /verify-audit, as `audit verify` does", async () => {
    await bot.gatehouse.audit.flush();
    const newest = (await bot.gatehouse.checkpointer!.checkpointNow()) ?? (await latestCheckpoint(t.pool))!;
    const { rows } = await t.query<{ id: number; note: string }>(
      'select id, note from audit_checkpoints where note is not null order by id',
    );
    expect(rows.length).toBeGreaterThan(0);
    // Only this test's answers are waited for, here and in the next test.
    bot.fake.reset();
    await bot.slack.command(PEOPLE.fatima, '/verify-audit');
    const whole = await bot.fake.waitForResponse(
      (r) => /whole/.test(String(r.body.text)) && JSON.stringify(r.body.blocks).includes('Merkle tree'),
    );
    expect(JSON.stringify(whole.body.blocks)).toContain(`✔ ${rows.length} checkpoint`);

    // The newest note's root line changed in place: its signature no longer holds.
    const target = rows.at(-1)!;
    const lines = target.note.split('\n');
    lines[2] = Buffer.alloc(32, 7).toString('base64');
    await tamperCheckpoints(t, `update audit_checkpoints set note = '${lines.join('\n')}' where id = ${target.id}`);
    try {
      await bot.slack.command(PEOPLE.fatima, '/verify-audit');
      const caught = await bot.fake.waitForResponse((r) => /NOT whole/.test(String(r.body.text)));
      expect(String(caught.body.text)).toContain(
        `\`bad-note\` at seq ${newest.seq}, caught by database checkpoint #${target.id}`,
      );
      expect(String(caught.body.text)).toContain("the Merkle tree's signed roots do not hold");
      expect(await latestVerification()).toMatchObject({
        ok: false,
        tree_notes: rows.length - 1,
        problems: [expect.objectContaining({ reason: 'bad-note', seq: newest.seq })],
      });
    } finally {
      await tamperCheckpoints(t, `update audit_checkpoints set note = '${target.note}' where id = ${target.id}`);
      bot.fake.reset();
    }
  });

  it('catches the newest events deleted with their checkpoints, by the channel, in /verify-audit', async () => {
    await bot.gatehouse.access.request({ requester: PEOPLE.ana, resourceId: 'staging-db', reason: 'one more' });
    await bot.gatehouse.audit.flush();
    const newest = (await bot.gatehouse.checkpointer!.checkpointNow()) ?? (await latestCheckpoint(t.pool))!;
    await bot.fake.waitForCall(
      'chat.postMessage',
      (c) => (c.args.metadata as { event_payload?: { seq?: number } } | undefined)?.event_payload?.seq === newest.seq,
    );
    await bot.settle();

    await bot.slack.command(PEOPLE.fatima, '/verify-audit');
    const whole = await bot.fake.waitForResponse((r) => /whole/.test(String(r.body.text)));
    // The checkpoint posts, and the checkpoints the feed's posts carry (issue 16: anchors within seconds), each once.
    const carried = bot.fake
      .messagesIn(AUDIT_CHANNEL)
      .map((m) => (m.metadata?.event_payload as { checkpoint?: string } | undefined)?.checkpoint)
      .filter((text): text is string => typeof text === 'string');
    const anchors = new Set(carried.map((text) => parseCheckpoint(text).signature)).size;
    expect(anchors).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(whole.body.blocks)).toContain(
      `${anchors} anchors kept outside the database checked; newest: seq ${newest.seq}`,
    );
    // Its own record (audit.verified) reaches the chain before the tampering starts.
    await bot.gatehouse.audit.flush();

    // Whoever can write the database removes the newest events and the checkpoint that covers them.
    await tamper(t, `delete from audit_events where seq > ${newest.seq - 2}`);
    await tamperCheckpoints(t, `delete from audit_checkpoints where seq > ${newest.seq - 2}`);
    await bot.slack.command(PEOPLE.fatima, '/verify-audit');
    const caught = await bot.fake.waitForResponse((r) => /NOT whole/.test(String(r.body.text)));
    expect(String(caught.body.text)).toMatch(
      new RegExp(`\`truncated\` at seq ${newest.seq}, caught by audit channel ${AUDIT_CHANNEL} message \\d+\\.\\d+`),
    );
    expect(String(caught.body.text)).not.toContain('database checkpoint');
    expect(await latestVerification()).toMatchObject({
      ok: false,
      problems: expect.arrayContaining([expect.objectContaining({ reason: 'truncated', seq: newest.seq })]),
    });
  });
});

describe('the checkpoint made at shutdown', () => {
  it('is posted to the audit channel before the app has stopped', async () => {
    const { pem } = generateCheckpointKey();
    const fake = await FakeSlack.start();
    const t = await createTestDatabase({ migrate: false });
    try {
      const bot = await startBot({ t, fake, env: { GATEHOUSE_CHECKPOINT_KEY: pem } });
      await bot.gatehouse.access.request({
        requester: PEOPLE.bram,
        resourceId: 'staging-db',
        reason: 'last thing before the stop',
      });
      await bot.stop();
      const head = await t.db
        .selectFrom('audit_events')
        .select('seq')
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirstOrThrow();
      const posted = fake
        .messagesIn(AUDIT_CHANNEL)
        .filter((m) => m.metadata?.event_type === CHECKPOINT_EVENT_TYPE)
        .map((m) => m.metadata!.event_payload.seq);
      expect(posted).toContain(head.seq);
    } finally {
      await fake.stop();
      await t.destroy();
    }
  });
});
