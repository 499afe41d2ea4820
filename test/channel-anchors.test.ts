import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnchorReadError } from '../src/audit/checkpoints/anchors.ts';
import { signCheckpoint } from '../src/audit/checkpoints/checkpoint.ts';
import {
  CHECKPOINT_EVENT_TYPE,
  checkpointMetadata,
  readChannelAnchors,
} from '../src/slack/outbound/channel-anchors.ts';
import { randomKey } from './support/checkpoints.ts';
import { FakeSlack } from '../src/sandbox/fake-slack/fake-slack.ts';
import { BOT_ID } from '../src/sandbox/fake-slack/protocol.ts';

describe('reading checkpoints back from the audit channel', () => {
  let fake: FakeSlack;
  let client: WebClient;
  const key = randomKey();
  const checkpoint = signCheckpoint(
    { logId: 'log-1', seq: 7, hash: 'a'.repeat(64), time: '2026-11-27T00:00:00.000000Z', previous: null },
    key,
  );

  beforeAll(async () => {
    fake = await FakeSlack.start();
    client = new WebClient('xoxb-test-token', { slackApiUrl: fake.apiUrl });
  });
  afterAll(async () => {
    await fake.stop();
  });

  it('finds a checkpoint behind pages of other posts, newest first, and only from this bot', async () => {
    await client.chat.postMessage({ channel: 'C0PAGED', text: 'checkpoint', metadata: checkpointMetadata(checkpoint) });
    for (let i = 0; i < 250; i++)
      await client.chat.postMessage({
        channel: 'C0PAGED',
        text: `event ${i}`,
        metadata: { event_type: 'gatehouse_audit_events', event_payload: { last_seq: i } },
      });
    const anchors = await readChannelAnchors(client, 'C0PAGED', { botId: BOT_ID });
    expect(anchors.map((a) => a.checkpoint)).toEqual([checkpoint]);
    expect(anchors[0]!.source).toMatch(/^audit channel C0PAGED message \d+\.\d+$/);
    expect(fake.callsTo('conversations.history').length).toBe(2);

    expect(await readChannelAnchors(client, 'C0PAGED', { botId: 'B0SOMEONEELSE' })).toEqual([]);
    expect(await readChannelAnchors(client, 'C0PAGED', { botId: BOT_ID, maxMessages: 100 })).toEqual([]);
  });

  it('refuses to drop a post of ours that claims to be a checkpoint but is not one', async () => {
    await client.chat.postMessage({
      channel: 'C0BROKEN',
      text: 'x',
      metadata: { event_type: CHECKPOINT_EVENT_TYPE, event_payload: { checkpoint: '{"v":1}' } },
    });
    const read = readChannelAnchors(client, 'C0BROKEN', { botId: BOT_ID });
    await expect(read).rejects.toBeInstanceOf(AnchorReadError);
    await expect(read).rejects.toThrow(
      /^audit channel C0BROKEN message \d+\.\d+ is not a checkpoint: must have exactly the fields/,
    );
  });
});
