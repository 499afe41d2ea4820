import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModalView } from '@slack/types';
import { ACTION, REQUEST_MODAL } from '../src/slack/blocks/ids.ts';
import { PEOPLE } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { answersTo, approveFromCard, buttonsIn, dmTo, fileRequest } from './support/slack-stories.ts';

const { ana, bram } = PEOPLE;

/** The form a typed command opened: each field's block, by block id. */
interface OpenedForm {
  resource?: string;
  resourceHint?: string;
  duration?: string;
  durationHint?: string;
  reason?: string;
}

function readForm(view: ModalView): OpenedForm {
  const block = (id: string) =>
    view.blocks.find((b) => b.block_id === id) as
      | {
          hint?: { text: string };
          element: { initial_option?: { value: string }; initial_value?: string };
        }
      | undefined;
  const resource = block(REQUEST_MODAL.resource.block);
  const duration = block(REQUEST_MODAL.duration.block);
  const reason = block(REQUEST_MODAL.reason.block);
  return {
    resource: resource?.element.initial_option?.value,
    resourceHint: resource?.hint?.text,
    duration: duration?.element.initial_value,
    durationHint: duration?.hint?.text,
    reason: reason?.element.initial_value,
  };
}

describe('typed commands', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot();
  });
  afterAll(async () => bot.stop());

  /** `/request-access <text>` as `userId`: the form it opened, read field by field; no ephemeral answer. */
  async function formFor(userId: string, text: string): Promise<OpenedForm> {
    const reply = await bot.slack.command(userId, '/request-access', text);
    const opened = await bot.fake.waitForCall('views.open', (c) => c.args.trigger_id === reply.triggerId);
    expect(bot.fake.responses.filter(answersTo(reply.responseUrl))).toEqual([]);
    return readForm(opened.args.view as ModalView);
  }

  it('a duration that is not one opens the form with everything typed, saying what is allowed', async () => {
    expect(await formFor(bram, 'staging-db 5hours rebuild the search index')).toEqual({
      resource: 'staging-db',
      resourceHint: undefined,
      duration: '5hours',
      durationHint: expect.stringMatching(
        /^⚠️ "5hours" is not a duration: write it like 30m, 2h or 1h30m\. Staging database allows up to 2h\. Leave empty for 30m/,
      ),
      reason: 'rebuild the search index',
    });
  });

  it('a duration over the maximum opens the form keeping the reason, saying the maximum', async () => {
    expect(await formFor(bram, 'staging-db 3h load test the new index')).toEqual({
      resource: 'staging-db',
      resourceHint: undefined,
      duration: '3h',
      durationHint: expect.stringMatching(/^⚠️ "3h" is more than Staging database allows: at most 2h\./),
      reason: 'load test the new index',
    });
  });

  it("the help's example, a resource's first letters, opens the form with that resource chosen", async () => {
    expect(await formFor(bram, 'staging')).toEqual({
      resource: 'staging-db',
      resourceHint:
        '⚠️ "staging" is not a resource id: Staging database (staging-db) is the closest you may request. Choose another if that is not it.',
      duration: undefined,
      durationHint: expect.stringMatching(/^Leave empty for 30m; at most 2h\./),
      reason: undefined,
    });
  });

  it('a typo of a resource opens the form with it chosen and keeps the rest', async () => {
    expect(await formFor(bram, 'prod-dbb 1h read the invoices table')).toMatchObject({
      resource: 'prod-db',
      resourceHint: expect.stringContaining('"prod-dbb" is not a resource id: Production database (prod-db)'),
      duration: '1h',
      durationHint: expect.stringMatching(/^Leave empty for 1h; at most 4h\./),
      reason: 'read the invoices table',
    });
  });

  it('a name that matches nothing one may request marks the field and lists the choices', async () => {
    expect(await formFor(bram, 'mainframe')).toMatchObject({
      resource: undefined,
      resourceHint: '⚠️ "mainframe" is not a resource you may request: choose one of these.',
    });
  });

  it('typed in the bot’s DM, a request is answered once: by the DM, not also an ephemeral copy', async () => {
    const before = bot.fake.dmsTo(ana).filter((m) => /was sent to/.test(m.text)).length;
    const reply = await bot.slack.command(ana, '/request-access', 'prod-db 1h check the invoice export', {
      channelId: `D${ana}`,
    });
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /was sent to 2 approvers/), { count: before + 1 });
    await bot.settle();
    expect(bot.fake.responses.filter(answersTo(reply.responseUrl))).toEqual([]);
    expect(bot.fake.dmsTo(ana).filter((m) => /was sent to/.test(m.text))).toHaveLength(before + 1);
  });

  it("I'm done pressed in the bot's DM gives one confirmation: the DM saying the access ended", async () => {
    const requestId = await fileRequest(bot, ana, 'staging-db 1h rebuild the search index');
    await approveFromCard(bot, PEOPLE.dana, requestId);
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /is active until/));
    const active = bot.fake.dmsTo(ana).find((m) => buttonsIn(m.blocks).some((b) => b.actionId === ACTION.endGrant));
    const done = buttonsIn(active?.blocks).find((b) => b.actionId === ACTION.endGrant)!;

    const click = await bot.slack.clickButton({
      userId: ana,
      actionId: ACTION.endGrant,
      value: done.value,
      message: { channel: active!.channel, ts: active!.ts },
    });
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /ended at .*: you ended it\./));
    await bot.settle();
    expect(bot.fake.responses.filter(answersTo(click.responseUrl))).toEqual([]);
  });
});
