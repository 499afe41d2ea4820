import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUEST_MODAL, VIEW } from '../src/slack/blocks/ids.ts';
import { PEOPLE } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';

const { bram } = PEOPLE;

const requestForm = (resourceId: string, reason: string) => ({
  [REQUEST_MODAL.resource.block]: { [REQUEST_MODAL.resource.action]: { type: 'static_select', selected_option: { value: resourceId } } },
  [REQUEST_MODAL.duration.block]: { [REQUEST_MODAL.duration.action]: { type: 'plain_text_input', value: '' } },
  [REQUEST_MODAL.reason.block]: { [REQUEST_MODAL.reason.action]: { type: 'plain_text_input', value: reason } },
});

describe('requests Slack would not send', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot();
  });
  afterAll(async () => bot.stop());

  const requestCount = async () => Number((await bot.t.db.selectFrom('access_requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

  it('refuses signed requests dated more than 5 minutes ahead on every kind of request, and takes a clock a little fast', async () => {
    const before = await requestCount();
    const now = Math.floor(Date.now() / 1000);
    for (const ahead of [301, 600, 86_400 * 365]) {
      const timestamp = now + ahead;
      const command = await bot.slack.command(bram, '/request-access', 'staging-db 1h from the future', { timestamp });
      const form = await bot.slack.submitView({ userId: bram, callbackId: VIEW.requestModal, values: requestForm('staging-db', 'from the future') }, { timestamp });
      const event = await bot.slack.homeOpened(bram, { timestamp });
      expect([command.status, form.status, event.status], `${ahead} s ahead`).toEqual([401, 401, 401]);
    }
    expect(await requestCount()).toBe(before);
    expect(bot.fake.callsTo('views.publish').filter((c) => c.args.user_id === bram)).toEqual([]);

    // Within Slack's five minutes either way, a fast clock is not a forgery.
    const skewed = await bot.slack.submitView({ userId: bram, callbackId: VIEW.requestModal, values: requestForm('staging-db', 'clock a little fast') }, { timestamp: now + 240 });
    expect(skewed).toEqual({ status: 200, body: '' });
    expect(await requestCount()).toBe(before + 1);
  });
});
