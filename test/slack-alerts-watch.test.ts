/**
 * The whole path in the running app: clicks a person may not make are refused and recorded,
 * the watcher in the background thread sees the burst on the chain, and the alert reaches
 * the audit channel and the security group, with the refusals as its evidence.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asSlackUserId } from '../src/access/ids.ts';
import { ACTION } from '../src/slack/blocks/ids.ts';
import { FEED_EVENT_TYPE } from '../src/slack/outbound/audit-feed.ts';
import { PEOPLE, testPolicyWithAlerts } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { AUDIT_CHANNEL, answered, answersTo, cardFor, cardPostedTo, fileRequest } from './support/slack-stories.ts';

const { ana, dana, mallory } = PEOPLE;
const sam = asSlackUserId('U0SEC0001');

describe('the watcher in the running app', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot({
      policy: testPolicyWithAlerts(`  security: [${sam}]\n  refusals: { count: 3, within: 10m }`),
    });
  });
  afterAll(async () => bot.stop());

  it("alerts the audit channel and the security group to a stranger's third refused Approve within ten minutes", async () => {
    const requestId = await fileRequest(bot, ana, 'prod-db 1h look at the slow invoices query');
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(dana, requestId));
    const card = cardFor(bot.fake, dana, requestId);
    for (let i = 0; i < 3; i++) {
      const click = await bot.slack.clickButton({
        userId: mallory,
        actionId: ACTION.approve,
        value: requestId,
        message: card,
      });
      const answer = await bot.fake.waitForResponse(answersTo(click.responseUrl));
      expect(String(answer.body.text)).toMatch(/only/i);
    }
    const isAlert = (channel: string) => (c: { args: Record<string, unknown> }) =>
      c.args.channel === channel && /Refused 3 times in 10 minutes/.test(String(c.args.text));
    const posted = await bot.fake.waitForCall('chat.postMessage', (c) => answered(c) && isAlert(AUDIT_CHANNEL)(c));
    await bot.fake.waitForCall('chat.postMessage', (c) => answered(c) && isAlert(`D${sam}`)(c));
    // About Mallory, on the resource of the last refusal: its owners are told too.
    expect(JSON.stringify(posted.args.blocks)).toContain(`<@${mallory}>`);
    await bot.fake.waitForCall('chat.postMessage', (c) => answered(c) && isAlert(`D${dana}`)(c));

    await bot.gatehouse.audit.flush();
    const refused = await bot.t.db
      .selectFrom('audit_log')
      .select('seq')
      .where('action', '=', 'approval.refused')
      .where('actor', '=', mallory)
      .orderBy('seq')
      .execute();
    const raised = await bot.t.db
      .selectFrom('audit_log')
      .select(['body', 'actor'])
      .where('action', '=', 'alert.raised')
      .execute();
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({
      actor: 'system',
      body: { detector: 'refusal_burst', user: mallory, resource: 'prod-db', evidence: refused.map((r) => r.seq) },
    });
    // Its evidence links to the audit channel's posts of the refusals, once the feed has posted
    // them (the alert is usually faster: its copies are set again when they are there).
    const linked = (blocks: unknown) =>
      refused.every((r) => new RegExp(`archives/${AUDIT_CHANNEL}/p\\d+\\|#${r.seq}>`).test(JSON.stringify(blocks)));
    if (!linked(posted.args.blocks))
      await bot.fake.waitForCall(
        'chat.update',
        (c) => answered(c) && c.args.channel === AUDIT_CHANNEL && linked(c.args.blocks),
      );

    // Once: the fourth refusal is the same burst.
    const click = await bot.slack.clickButton({
      userId: mallory,
      actionId: ACTION.approve,
      value: requestId,
      message: card,
    });
    await bot.fake.waitForResponse(answersTo(click.responseUrl));
    await bot.gatehouse.audit.flush();
    // Until the watcher has read past it (it runs in the app's background thread).
    const { rows: head } = await bot.t.query<{ seq: number }>(`select max(seq) as seq from audit_events`);
    const watchedPast = async () =>
      (await bot.t.query<{ cursor_seq: number }>(`select cursor_seq from watch_state`)).rows[0]!.cursor_seq >=
      head[0]!.seq;
    while (!(await watchedPast())) await new Promise((resolve) => setImmediate(resolve));
    const { rows } = await bot.t.query(`select 1 from alerts`);
    // The audit feed's sentences name the resource as the policy does.
    await bot.settle();
    const feedPosts = bot.fake.messagesIn(AUDIT_CHANNEL).filter((m) => m.metadata?.event_type === FEED_EVENT_TYPE);
    expect(JSON.stringify(feedPosts.map((m) => m.blocks))).toContain('Production database');
    expect(rows).toHaveLength(1);
  });
});
