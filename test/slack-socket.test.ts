import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTION } from '../src/slack/blocks/ids.ts';
import { PEOPLE } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { answered, answersTo, buttonsIn, cardPostedTo, dmTo } from './support/slack-stories.ts';

const { bram, dana, emil, ana } = PEOPLE;

describe('the Slack bot in Socket Mode', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    // An app-level token and no signing secret: Slack is reached over the fake's WebSocket.
    bot = await startBot({ env: { SLACK_APP_TOKEN: 'xapp-1-A0GATE-test', SLACK_SIGNING_SECRET: '' } });
  });
  afterAll(async () => bot.stop());

  it('takes /request-access over the socket, acks it, and sends the cards to the owners', async () => {
    const opened = bot.fake.callsTo('apps.connections.open');
    expect(opened.map((c) => c.token)).toEqual(['xapp-1-A0GATE-test']);

    const payload = bot.slack.payloads.command(bram, '/request-access', 'staging-db 1h rebuild the search index');
    const ack = await bot.fake.socketSend('slash_commands', payload);
    expect(ack.envelope_id).toEqual(expect.any(String));

    const answer = await bot.fake.waitForResponse(answersTo(payload.response_url));
    expect(answer.body).toMatchObject({ response_type: 'ephemeral' });
    expect(String(answer.body.text)).toMatch(
      /^⏳ Your request for \*Staging database\* \(`staging-db`\) for \*1h\* was sent to 3 approvers\./,
    );
    const requestId = buttonsIn(answer.body.blocks).find((b) => b.actionId === ACTION.cancelRequest)?.value;
    expect(requestId).toMatch(/^req/);

    for (const owner of [dana, emil, ana]) {
      const card = await bot.fake.waitForCall('chat.postMessage', cardPostedTo(owner, requestId!));
      expect(String(card.args.text)).toContain('<@U0BRAM001> asks for *Staging database* (`staging-db`) for *1h*');
    }
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /was sent to 3 approvers/));
    expect(bot.fake.calls.filter((c) => !answered(c))).toEqual([]);
  });
});
