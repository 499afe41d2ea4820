import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTEND_MODAL, REQUEST_MODAL, VIEW } from '../src/slack/blocks/ids.ts';
import { PEOPLE } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';

const { ana, bram, dana, emil } = PEOPLE;

const requestForm = (resourceId: string, reason: string) => ({
  [REQUEST_MODAL.resource.block]: {
    [REQUEST_MODAL.resource.action]: { type: 'static_select', selected_option: { value: resourceId } },
  },
  [REQUEST_MODAL.duration.block]: { [REQUEST_MODAL.duration.action]: { type: 'plain_text_input', value: '' } },
  [REQUEST_MODAL.reason.block]: { [REQUEST_MODAL.reason.action]: { type: 'plain_text_input', value: reason } },
});

describe('requests Slack would not send', () => {
  let bot: RunningBot;
  let anaGrant: string;
  beforeAll(async () => {
    bot = await startBot();
    const asked = await bot.gatehouse.access.request({
      requester: ana,
      resourceId: 'staging-db',
      reason: 'migrate the schema',
    });
    const approved = asked.ok ? await bot.gatehouse.access.approve(asked.request.id, dana) : null;
    anaGrant = approved?.ok && approved.grant ? approved.grant.id : '';
  });
  afterAll(async () => bot.stop());

  const requestCount = async () =>
    Number(
      (
        await bot.t.db
          .selectFrom('access_requests')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('refuses signed requests dated more than 5 minutes ahead on every kind of request, and takes a clock a little fast', async () => {
    const before = await requestCount();
    const now = Math.floor(Date.now() / 1000);
    for (const ahead of [301, 600, 86_400 * 365]) {
      const timestamp = now + ahead;
      const command = await bot.slack.command(bram, '/request-access', 'staging-db 1h from the future', { timestamp });
      const form = await bot.slack.submitView(
        { userId: bram, callbackId: VIEW.requestModal, values: requestForm('staging-db', 'from the future') },
        { timestamp },
      );
      const event = await bot.slack.homeOpened(bram, { timestamp });
      expect([command.status, form.status, event.status], `${ahead} s ahead`).toEqual([401, 401, 401]);
    }
    expect(await requestCount()).toBe(before);
    expect(bot.fake.callsTo('views.publish').filter((c) => c.args.user_id === bram)).toEqual([]);

    // Within Slack's five minutes either way, a fast clock is not a forgery.
    const skewed = await bot.slack.submitView(
      { userId: bram, callbackId: VIEW.requestModal, values: requestForm('staging-db', 'clock a little fast') },
      { timestamp: now + 240 },
    );
    expect(skewed).toEqual({ status: 200, body: '' });
    expect(await requestCount()).toBe(before + 1);
  });

  it("refuses a forged form that would extend someone else's grant, another resource's, or an ended one, filing nothing", async () => {
    const before = await requestCount();
    const forged = (userId: string, resourceId: string) =>
      bot.slack.submitView({
        userId,
        callbackId: VIEW.requestModal,
        privateMetadata: JSON.stringify({ extendsGrantId: anaGrant }),
        values: requestForm(resourceId, 'more time'),
      });

    // Emil may not request at all; Bram may, but the grant is Ana's.
    expect((await forged(bram, 'prod-db')).body).toEqual({
      response_action: 'errors',
      errors: { [REQUEST_MODAL.resource.block]: expect.stringMatching(/not yours/) },
    });
    expect((await forged(emil, 'staging-db')).body).toMatchObject({
      response_action: 'errors',
      errors: { [REQUEST_MODAL.resource.block]: expect.stringMatching(/not on the list/) },
    });
    // Ana's own grant does not stretch to another resource.
    expect((await forged(ana, 'prod-db')).body).toEqual({
      response_action: 'errors',
      errors: {
        [REQUEST_MODAL.resource.block]: expect.stringMatching(
          /extends your access to \*Staging database\*.*not \*Production database\*/,
        ),
      },
    });
    expect(await requestCount()).toBe(before);

    // Once it has ended there is nothing to extend, and the held-grant rule is not skipped.
    await bot.gatehouse.access.release(anaGrant, ana);
    expect((await forged(ana, 'staging-db')).body).toEqual({
      response_action: 'errors',
      errors: {
        [REQUEST_MODAL.resource.block]: expect.stringMatching(
          /ended at .* \(you ended it\), so there is nothing to extend/,
        ),
      },
    });
    expect(await requestCount()).toBe(before);
  });

  it("refuses a forged Extend form for someone else's grant, or one that ended, filing nothing", async () => {
    const before = await requestCount();
    const extendForm = (userId: string, grantId: string) =>
      bot.slack.submitView({
        userId,
        callbackId: VIEW.extendModal,
        privateMetadata: grantId,
        values: {
          [EXTEND_MODAL.duration.block]: {
            [EXTEND_MODAL.duration.action]: { type: 'static_select', selected_option: { value: '1h' } },
          },
          [EXTEND_MODAL.reason.block]: { [EXTEND_MODAL.reason.action]: { type: 'plain_text_input', value: 'more' } },
        },
      });
    expect((await extendForm(bram, anaGrant)).body).toEqual({
      response_action: 'errors',
      errors: { [EXTEND_MODAL.duration.block]: expect.stringMatching(/not yours/) },
    });
    expect((await extendForm(ana, 'grt_nosuchgrant')).body).toMatchObject({ response_action: 'errors' });
    // anaGrant ended in the test before.
    expect((await extendForm(ana, anaGrant)).body).toEqual({
      response_action: 'errors',
      errors: { [EXTEND_MODAL.duration.block]: expect.stringMatching(/nothing to extend/) },
    });
    expect(await requestCount()).toBe(before);
  });
});
