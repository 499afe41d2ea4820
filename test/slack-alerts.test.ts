import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raiseAlert, type AlertInput } from '../src/access/alerts.ts';
import { asSlackUserId } from '../src/access/ids.ts';
import type { RecordedCall, SlackMessage } from '../src/sandbox/fake-slack/fake-slack.ts';
import { ACTION } from '../src/slack/blocks/ids.ts';
import { formatWhen } from '../src/slack/blocks/text.ts';
import { PEOPLE, testPolicyWithAlerts } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import {
  AUDIT_CHANNEL,
  answered,
  answersTo,
  approveFromCard,
  buttonsIn,
  dmTo,
  fileRequest,
} from './support/slack-stories.ts';

// Staging database is owned by Dana, Emil and Ana; Sam is the security group; Bram holds a grant.
const { ana, bram, dana, emil, fatima, mallory } = PEOPLE;
const sam = asSlackUserId('U0SEC0001');
const ALERTS_CHANNEL = 'C0ALERTS1';

const withAlerts = testPolicyWithAlerts;

/** The Alert `alt_…` line every copy of an alert carries (the audit feed's line for alert.raised does not). */
const marker = (alertId: string) => `Alert \`${alertId}\``;
const isCopyOf = (alertId: string, blocks: unknown) => JSON.stringify(blocks ?? []).includes(marker(alertId));
const postOf = (alertId: string) => (call: RecordedCall) => isCopyOf(alertId, call.args.blocks);

/** The copies of an alert a channel (or a person's DM) holds now. */
const copiesIn = (bot: RunningBot, channel: string, alertId: string): SlackMessage[] =>
  bot.fake.messagesIn(channel).filter((m) => isCopyOf(alertId, m.blocks));

const dmChannel = (userId: string) => `D${userId}`;

async function raise(bot: RunningBot, input: Partial<AlertInput> & Pick<AlertInput, 'incidentKey'>): Promise<string> {
  const id = await bot.gatehouse.access.ctx.audit.transact((trx) =>
    raiseAlert(trx, {
      detector: 'refusal_burst',
      severity: 'high',
      subject: bram,
      title: 'Bram was refused 5 times in 10 minutes',
      detail: 'Five statements on staging-db were refused by the gateway rules.',
      evidence: [],
      ...input,
    }),
  );
  if (!id) throw new Error(`the alert ${input.incidentKey} was not raised`);
  return id;
}

/** Every queued notification of `kind` for the alert delivered (marked done a moment after Slack answered). */
async function delivered(bot: RunningBot, kind: string, alertId: string): Promise<void> {
  const waiting = () =>
    bot.t.db
      .selectFrom('outbox')
      .select('id')
      .where('kind', '=', kind)
      .where('done_at', 'is', null)
      .where(sql`payload ->> 'alertId'`, '=', alertId)
      .execute();
  while ((await waiting()).length > 0) await new Promise((resolve) => setImmediate(resolve));
}

async function eventsOf(bot: RunningBot, action: string, alertId: string) {
  await bot.gatehouse.audit.flush();
  return bot.t.db
    .selectFrom('audit_log')
    .select(['actor', 'body'])
    .where('action', '=', action)
    .where('subject', '=', alertId)
    .orderBy('seq')
    .execute();
}

describe('alerts in Slack', () => {
  let bot: RunningBot;
  let grantId: string;
  let alertId: string;
  /** Where the alert went: the audit channel (no alerts channel in this policy), then each responder's DM. */
  const destinations = () => [AUDIT_CHANNEL, ...[ana, dana, emil, sam].map(dmChannel)];

  beforeAll(async () => {
    bot = await startBot({ policy: withAlerts(`  security: [${sam}]\n`) });
    const requestId = await fileRequest(bot, bram, 'staging-db 1h rebuild the search index');
    await approveFromCard(bot, dana, requestId);
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /is active until/));
    const grant = await bot.t.db
      .selectFrom('grants')
      .select(['id', 'status'])
      .where('request_id', '=', requestId)
      .executeTakeFirstOrThrow();
    expect(grant.status).toBe('active');
    grantId = grant.id;
  });
  afterAll(async () => bot.stop());

  it('posts an alert once to the audit channel and to each owner and the security group, its evidence linked to the audit channel, with End access now and Acknowledge', async () => {
    // The events it was raised from are in the audit channel already.
    await bot.settle();
    const evidence = await bot.t.db
      .selectFrom('audit_log')
      .select('seq')
      .where('subject', '=', grantId)
      .where('action', '=', 'grant.active')
      .execute();
    const seq = evidence[0]!.seq;
    alertId = await raise(bot, {
      incidentKey: 'refusal_burst:bram:1',
      userId: bram,
      resourceId: 'staging-db',
      grantId,
      evidence: [seq],
    });

    for (const channel of destinations())
      await bot.fake.waitForCall(
        'chat.postMessage',
        (c) => answered(c) && c.args.channel === channel && postOf(alertId)(c),
      );
    await delivered(bot, 'notify_alert', alertId);
    for (const channel of destinations()) expect(copiesIn(bot, channel, alertId), channel).toHaveLength(1);
    // The holder, an auditor and a stranger are not responders.
    for (const other of [bram, fatima, mallory]) expect(copiesIn(bot, dmChannel(other), alertId), other).toEqual([]);
    const recorded = await bot.t.db
      .selectFrom('alert_messages')
      .select('channel')
      .where('alert_id', '=', alertId)
      .orderBy('channel')
      .execute();
    expect(recorded.map((r) => r.channel)).toEqual([...destinations()].sort());

    const copy = copiesIn(bot, AUDIT_CHANNEL, alertId)[0]!;
    expect(copy.text).toBe('⚠️ High: Bram was refused 5 times in 10 minutes');
    expect(buttonsIn(copy.blocks)).toEqual([
      { actionId: ACTION.endAlertAccess, text: 'End access now', value: alertId },
      { actionId: ACTION.acknowledgeAlert, text: 'Acknowledge', value: alertId },
    ]);
    const feedPost = bot.fake.messagesIn(AUDIT_CHANNEL).find((m) => {
      const range = m.metadata?.event_payload as { first_seq: number; last_seq: number } | undefined;
      return range !== undefined && range.first_seq <= seq && seq <= range.last_seq;
    })!;
    const shown = JSON.stringify(copy.blocks);
    expect(shown).toContain('*About:* <@U0BRAM001> on *Staging database* (`staging-db`)');
    expect(shown).toContain(
      `*Evidence:* 1 audit event: <https://slack.com/archives/${AUDIT_CHANNEL}/p${feedPost.ts.replace('.', '')}|#${seq}>`,
    );
  });

  it("refuses a stranger's End access now and an auditor's Acknowledge with words, on the record, changing nothing", async () => {
    const before = destinations().map((channel) => JSON.stringify(copiesIn(bot, channel, alertId)));
    const copy = copiesIn(bot, AUDIT_CHANNEL, alertId)[0]!;
    for (const [who, actionId] of [
      [mallory, ACTION.endAlertAccess],
      [fatima, ACTION.acknowledgeAlert],
    ] as const) {
      const click = await bot.slack.clickButton({
        userId: who,
        actionId,
        message: { channel: AUDIT_CHANNEL, ts: copy.ts },
      });
      expect(click.status).toBe(200);
      const answer = await bot.fake.waitForResponse(answersTo(click.responseUrl));
      expect(answer.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
      expect(answer.body.text).toMatch(
        /^Only the owners of the resource this alert is about and the policy's `security` group can (end access from it|acknowledge it)\. Nothing was changed, and your attempt has been recorded in the audit log\./,
      );
    }
    expect(await eventsOf(bot, 'alert.action_refused', alertId)).toEqual([
      { actor: mallory, body: { action: 'end_access', reason: 'not-responder' } },
      { actor: fatima, body: { action: 'acknowledge', reason: 'not-responder' } },
    ]);
    const grant = await bot.t.db
      .selectFrom('grants')
      .select('status')
      .where('id', '=', grantId)
      .executeTakeFirstOrThrow();
    expect(grant.status).toBe('active');
    const alert = await bot.gatehouse.access.findAlert(alertId);
    expect(alert).toMatchObject({ acknowledged_at: null, access_ended_at: null });
    // Nothing queued to change the copies, and none changed.
    const changes = await bot.t.db
      .selectFrom('outbox')
      .select('id')
      .where('kind', '=', 'notify_alert_changed')
      .where(sql`payload ->> 'alertId'`, '=', alertId)
      .execute();
    expect(changes).toEqual([]);
    expect(destinations().map((channel) => JSON.stringify(copiesIn(bot, channel, alertId)))).toEqual(before);
  });

  it('takes the first of two owners pressing Acknowledge at once, tells the second who did, and updates every copy', async () => {
    const clicks = await Promise.all(
      [dana, emil].map((owner) =>
        bot.slack.clickButton({
          userId: owner,
          actionId: ACTION.acknowledgeAlert,
          message: { channel: dmChannel(owner), ts: copiesIn(bot, dmChannel(owner), alertId)[0]!.ts },
        }),
      ),
    );
    const answers = await Promise.all(clicks.map((click) => bot.fake.waitForResponse(answersTo(click.responseUrl))));
    const alert = (await bot.gatehouse.access.findAlert(alertId))!;
    const first = alert.acknowledged_by!;
    expect([dana, emil]).toContain(first);
    const firstAnswer = answers[first === dana ? 0 : 1]!;
    const secondAnswer = answers[first === dana ? 1 : 0]!;
    expect(firstAnswer.body.text).toBe('✅ Acknowledged.');
    expect(secondAnswer.body.text).toBe(
      `<@${first}> already acknowledged this alert at ${formatWhen(alert.acknowledged_at!)}. Nothing more to do here; talk to them if it needs more.`,
    );
    expect(await eventsOf(bot, 'alert.acknowledged', alertId)).toEqual([
      { actor: first, body: { detector: 'refusal_burst', severity: 'high' } },
    ]);

    const line = `✅ Acknowledged by <@${first}> at ${formatWhen(alert.acknowledged_at!)}`;
    await delivered(bot, 'notify_alert_changed', alertId);
    for (const channel of destinations()) {
      const [copy] = copiesIn(bot, channel, alertId);
      expect(JSON.stringify(copy!.blocks), channel).toContain(line);
      expect(
        buttonsIn(copy!.blocks).map((b) => b.text),
        channel,
      ).toEqual(['End access now']);
    }
  });

  it('ends the access when an owner presses End access now: the grant ends, it is recorded, every copy says who', async () => {
    const copy = copiesIn(bot, dmChannel(ana), alertId)[0]!;
    const click = await bot.slack.clickButton({
      userId: ana,
      actionId: ACTION.endAlertAccess,
      message: { channel: copy.channel, ts: copy.ts },
    });
    const answer = await bot.fake.waitForResponse(answersTo(click.responseUrl));
    expect(answer.body.text).toBe('⚪ Access ended: 1 grant of Staging database. Its sessions are being closed.');
    const grant = await bot.t.db
      .selectFrom('grants')
      .select(['status', 'end_reason'])
      .where('id', '=', grantId)
      .executeTakeFirstOrThrow();
    expect(grant).toEqual({ status: 'ended', end_reason: 'revoked' });
    expect(await eventsOf(bot, 'alert.access_ended', alertId)).toEqual([
      { actor: ana, body: { detector: 'refusal_burst', grants: [grantId] } },
    ]);
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /Staging database.* ended at/));

    const alert = (await bot.gatehouse.access.findAlert(alertId))!;
    const line = `⚪ Access ended by <@${ana}> at ${formatWhen(alert.access_ended_at!)}`;
    await delivered(bot, 'notify_alert_changed', alertId);
    for (const channel of destinations()) {
      const [copy] = copiesIn(bot, channel, alertId);
      expect(JSON.stringify(copy!.blocks), channel).toContain(line);
      // Acknowledged and ended: nothing is left to press.
      expect(buttonsIn(copy!.blocks), channel).toEqual([]);
    }
  });

  it('tells the security group when there is no access left to end', async () => {
    const later = await raise(bot, {
      incidentKey: 'refusal_burst:bram:2',
      userId: bram,
      resourceId: 'staging-db',
      grantId,
      title: 'Bram was refused again',
    });
    const copy = await bot.fake.waitForCall(
      'chat.postMessage',
      (c) => answered(c) && c.args.channel === dmChannel(sam) && postOf(later)(c),
    );
    const click = await bot.slack.clickButton({
      userId: sam,
      actionId: ACTION.endAlertAccess,
      message: { channel: dmChannel(sam), ts: copiesIn(bot, dmChannel(sam), later)[0]!.ts },
    });
    const answer = await bot.fake.waitForResponse(answersTo(click.responseUrl));
    expect(answer.body.text).toBe(
      `There is no access left to end for *Bram was refused again* (\`${later}\`): it has already ended or is being taken away, or it is not yours to end (an owner ends access to what they own; the \`security\` group, to anything). \`/access\` and your Home tab show what is still live.`,
    );
    expect(copy.args.channel).toBe(dmChannel(sam));
    expect((await bot.gatehouse.access.findAlert(later))?.access_ended_at).toBeNull();
  });
});

describe('alerts with a channel of their own, while Slack fails', () => {
  let bot: RunningBot;
  const destinations = [ALERTS_CHANNEL, ...[dana, emil, sam].map(dmChannel)];

  beforeAll(async () => {
    bot = await startBot({ policy: withAlerts(`  channel: ${ALERTS_CHANNEL}\n  security: [${sam}]\n`) });
    await bot.settle();
  });
  afterAll(async () => bot.stop());

  /**
   * Raises an alert and waits for its delivery while the test holds the audit feed's row, so
   * that the feed (which would post alert.raised) takes none of the failures meant for the alert.
   */
  function raisedWhileFeedWaits(input: Partial<AlertInput> & Pick<AlertInput, 'incidentKey'>): Promise<string> {
    return bot.t.db.transaction().execute(async (trx) => {
      await trx.selectFrom('audit_channel_state').select('posted_seq').forUpdate().execute();
      const alertId = await raise(bot, input);
      await delivered(bot, 'notify_alert', alertId);
      return alertId;
    });
  }

  /** Each post of the alert Slack was asked for, in order: where, and what Slack answered. */
  const postsOf = (alertId: string) =>
    bot.fake
      .callsTo('chat.postMessage')
      .filter(postOf(alertId))
      .map((c) => `${String(c.args.channel)} ${c.error ?? 'ok'}`);

  async function expectOneCopyEach(alertId: string): Promise<void> {
    for (const channel of destinations) expect(copiesIn(bot, channel, alertId), channel).toHaveLength(1);
    expect(copiesIn(bot, AUDIT_CHANNEL, alertId)).toEqual([]);
    const recorded = await bot.t.db
      .selectFrom('alert_messages')
      .select('channel')
      .where('alert_id', '=', alertId)
      .execute();
    expect(recorded.map((r) => r.channel).sort()).toEqual([...destinations].sort());
  }

  it('posts to the alerts channel and each responder; a post Slack failed is retried alone, the others not posted twice', async () => {
    bot.fake.failNext('chat.postMessage', { status: 500 });
    const alertId = await raisedWhileFeedWaits({
      incidentKey: 'sprees:ana:1',
      detector: 'sprees',
      severity: 'warning',
      subject: ana,
      userId: ana,
      resourceId: 'prod-db',
      title: 'Ana asked for 4 resources within an hour',
    });
    expect(postsOf(alertId)).toEqual([
      `${ALERTS_CHANNEL} internal_error`,
      `${dmChannel(dana)} ok`,
      `${dmChannel(emil)} ok`,
      `${dmChannel(sam)} ok`,
      `${ALERTS_CHANNEL} ok`,
    ]);
    await expectOneCopyEach(alertId);
  });

  it("stops at a rate limit and posts the rest after Slack's Retry-After", async () => {
    bot.fake.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    const alertId = await raisedWhileFeedWaits({
      incidentKey: 'sprees:ana:2',
      detector: 'sprees',
      severity: 'critical',
      subject: ana,
      userId: ana,
      resourceId: 'prod-db',
      title: 'Ana asked for prod-db for its longest, a fourth time this week',
    });
    expect(postsOf(alertId)).toEqual([
      `${ALERTS_CHANNEL} ratelimited`,
      `${ALERTS_CHANNEL} ok`,
      `${dmChannel(dana)} ok`,
      `${dmChannel(emil)} ok`,
      `${dmChannel(sam)} ok`,
    ]);
    await expectOneCopyEach(alertId);
  });
});
