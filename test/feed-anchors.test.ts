/**
 * Anchors within seconds (issue 16, 3): each audit channel post of the feed carries a signed
 * checkpoint of the log's head (so of the last event it shows, at least): the log is anchored
 * outside the database within seconds; /verify-audit reads them back as anchors.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAnchorFile } from '../src/audit/checkpoints/anchors.ts';
import { checkpointSignedBy, parseCheckpoint } from '../src/audit/checkpoints/checkpoint.ts';
import { generateCheckpointKey } from '../src/audit/checkpoints/keys.ts';
import { FEED_EVENT_TYPE } from '../src/slack/outbound/audit-feed.ts';
import { readChannelAnchors } from '../src/slack/outbound/channel-anchors.ts';
import { BOT_ID } from '../src/sandbox/fake-slack/protocol.ts';
import { WebClient } from '@slack/web-api';
import { PEOPLE, TEST_POLICY } from './support/access.ts';
import { tamper } from './support/audit.ts';
import { tamperCheckpoints } from './support/checkpoints.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';

const AUDIT_CHANNEL = 'C0AUDIT01';

interface FeedPayload {
  first_seq: number;
  last_seq: number;
  last_hash: string;
  checkpoint?: string;
}

describe('the audit feed’s posts carry checkpoints', () => {
  const { key, pem } = generateCheckpointKey();
  let t: TestDatabase;
  let bot: RunningBot;
  let anchorFile: string;
  const feedPosts = () =>
    bot.fake
      .messagesIn(AUDIT_CHANNEL)
      .filter((m) => m.metadata?.event_type === FEED_EVENT_TYPE)
      .map((m) => ({ ts: m.ts, payload: m.metadata!.event_payload as unknown as FeedPayload }));

  beforeAll(async () => {
    t = await createTestDatabase({ migrate: false });
    anchorFile = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-feed-anchors-')), 'anchors.jsonl');
    // Regular checkpoints are rare here (1,000 events or an hour): what anchors the log is the feed.
    bot = await startBot({
      t,
      policy: `${TEST_POLICY}\ncheckpoint_every_events: 1000\ncheckpoint_every: 1h\n`,
      env: { GATEHOUSE_CHECKPOINT_KEY: pem, GATEHOUSE_FEED_CHECKPOINT_MS: '0', GATEHOUSE_ANCHOR_FILE: anchorFile },
    });
  });
  afterAll(async () => {
    await bot.stop();
    await t.destroy();
  });

  it('signs the head with each post, so the channel anchors everything it shows and more', async () => {
    await bot.gatehouse.access.request({ requester: PEOPLE.bram, resourceId: 'staging-db', reason: 'look at logs' });
    await bot.settle();
    const posts = feedPosts();
    expect(posts.length).toBeGreaterThanOrEqual(1);
    for (const { payload } of posts) {
      expect(payload.checkpoint).toBeDefined();
      const checkpoint = parseCheckpoint(payload.checkpoint!);
      expect(checkpointSignedBy(checkpoint, key.publicKey)).toBe(true);
      // Of the head when it was posted: its last event, at least (no throttle in this test).
      expect(checkpoint.seq).toBeGreaterThanOrEqual(payload.last_seq);
    }
    // Read back as anchors, newest first, each once.
    const client = new WebClient('xoxb-test-token', { slackApiUrl: bot.fake.apiUrl });
    const anchors = await readChannelAnchors(client, AUDIT_CHANNEL, { botId: BOT_ID });
    expect(anchors[0]!.checkpoint.seq).toBeGreaterThanOrEqual(posts.at(-1)!.payload.last_seq);
    expect(new Set(anchors.map((a) => a.checkpoint.signature)).size).toBe(anchors.length);
    // And the anchor file has the first of them (it gets one at most every 20 s).
    const inFile = await readAnchorFile(anchorFile);
    expect(inFile.length).toBeGreaterThanOrEqual(1);
  });

  it('catches the newest events deleted with their checkpoints, though no regular checkpoint was made since', async () => {
    await bot.gatehouse.access.request({ requester: PEOPLE.ana, resourceId: 'staging-db', reason: 'one more' });
    await bot.settle();
    const shown = feedPosts().at(-1)!.payload.last_seq;
    // Whoever can write the database removes the newest events and every checkpoint that covers them.
    await tamper(t, `delete from audit_events where seq > ${shown - 2}`);
    await tamperCheckpoints(t, `delete from audit_checkpoints where seq > ${shown - 2}`);
    await bot.slack.command(PEOPLE.fatima, '/verify-audit');
    const caught = await bot.fake.waitForResponse((r) => /NOT whole/.test(String(r.body.text)));
    expect(String(caught.body.text)).toMatch(
      new RegExp(`\`truncated\` at seq ${shown}, caught by audit channel ${AUDIT_CHANNEL} message \\d+\\.\\d+`),
    );
  });
});
