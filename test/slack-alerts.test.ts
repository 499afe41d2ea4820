import { sql } from 'kysely';
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raiseAlert, type AlertInput } from '../src/access/alerts.ts';
import { asSlackUserId } from '../src/access/ids.ts';
import { silentLogger } from '../src/log.ts';
import { OutboxPump } from '../src/outbox/outbox-pump.ts';
import type { RecordedCall, SlackMessage } from '../src/sandbox/fake-slack/fake-slack.ts';
import { ACTION } from '../src/slack/blocks/ids.ts';
import { formatWhen } from '../src/slack/blocks/text.ts';
import { slackClient } from '../src/slack/client.ts';
import { slackNotifications } from '../src/slack/outbound/notifications.ts';
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
/** The last seq the audit feed has posted. */
async function feedPosition(bot: RunningBot): Promise<number> {
  const state = await bot.t.db.selectFrom('audit_channel_state').select('posted_seq').executeTakeFirstOrThrow();
  return state.posted_seq;
}

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

/** Waits until `check` gives something, a few milliseconds at a time. */
async function until<T>(check: () => Promise<T | null | undefined | false>): Promise<T> {
  for (;;) {
    const value = await check();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The looks at an alert's copies queued and not yet tried: when each was queued and when it is due. */
const waitingLooks = (bot: RunningBot, alertId: string) =>
  bot.t.db
    .selectFrom('outbox')
    .select(['id', 'created_at', 'next_attempt_at'])
    .where('kind', '=', 'notify_alert_changed')
    .where('done_at', 'is', null)
    .where('attempts', '=', 0)
    .where(sql`payload ->> 'alertId'`, '=', alertId)
    .orderBy('id')
    .execute();

/** The newest change queued for an alert, once it is delivered: the copies show it. */
async function latestChangeDelivered(bot: RunningBot, alertId: string): Promise<void> {
  const { id } = await bot.t.db
    .selectFrom('outbox')
    .select('id')
    .where('kind', '=', 'notify_alert_changed')
    .where(sql`payload ->> 'alertId'`, '=', alertId)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirstOrThrow();
  await until(() =>
    bot.t.db
      .selectFrom('outbox')
      .select('done_at')
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
      .then((r) => r.done_at),
  );
}

/** The grant a request became, once it is active. */
const activeGrantOf = (bot: RunningBot, requestId: string) =>
  until(() =>
    bot.t.db
      .selectFrom('grants')
      .select('id')
      .where('request_id', '=', requestId)
      .where('status', '=', 'active')
      .executeTakeFirst()
      .then((g) => g?.id),
  );

const grantStatus = async (bot: RunningBot, grantId: string) =>
  (await bot.t.db.selectFrom('grants').select('status').where('id', '=', grantId).executeTakeFirstOrThrow()).status;

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

  it('tells the person an alert is about that another owner or the security group acknowledges it, on the record, changing nothing', async () => {
    // Ana owns staging-db and uses it: an alert about her reaches her as an owner.
    const aboutAna = await raise(bot, {
      incidentKey: 'db_sensitive_table:ana:1',
      detector: 'db_sensitive_table',
      severity: 'warning',
      subject: ana,
      userId: ana,
      resourceId: 'staging-db',
      title: 'Ana read public.customers on Staging database',
      detail: 'Ana read 12 rows of public.customers.',
    });
    await delivered(bot, 'notify_alert', aboutAna);
    const before = destinations().map((channel) => JSON.stringify(copiesIn(bot, channel, aboutAna)));
    const copy = copiesIn(bot, dmChannel(ana), aboutAna)[0]!;
    const click = await bot.slack.clickButton({
      userId: ana,
      actionId: ACTION.acknowledgeAlert,
      message: { channel: copy.channel, ts: copy.ts },
    });
    const answer = await bot.fake.waitForResponse(answersTo(click.responseUrl));
    expect(answer.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(answer.body.text).toBe(
      "You cannot acknowledge an alert about yourself: acknowledging takes it off everyone's list, so another owner or a member of the policy's `security` group must. Nothing was changed, and your attempt has been recorded in the audit log. If there is an explanation, tell one of them.",
    );
    expect(await eventsOf(bot, 'alert.action_refused', aboutAna)).toEqual([
      { actor: ana, body: { action: 'acknowledge', reason: 'about-you' } },
    ]);
    expect((await bot.gatehouse.access.findAlert(aboutAna))?.acknowledged_at).toBeNull();
    expect(destinations().map((channel) => JSON.stringify(copiesIn(bot, channel, aboutAna)))).toEqual(before);

    const danaCopy = copiesIn(bot, dmChannel(dana), aboutAna)[0]!;
    const byDana = await bot.slack.clickButton({
      userId: dana,
      actionId: ACTION.acknowledgeAlert,
      message: { channel: danaCopy.channel, ts: danaCopy.ts },
    });
    expect((await bot.fake.waitForResponse(answersTo(byDana.responseUrl))).body.text).toBe('✅ Acknowledged.');
  });

  it("never ends an approver's own access: an alert about approving offers no End access now, and a rubber stamp's ends the grant it approved", async () => {
    // Ana holds staging-db herself, approved by Dana; then she approves Bram's request at once.
    const anasRequest = await fileRequest(bot, ana, 'staging-db 1h check the migration');
    await approveFromCard(bot, dana, anasRequest);
    const anasGrant = await activeGrantOf(bot, anasRequest);
    const bramsRequest = await fileRequest(bot, bram, 'staging-db 1h look at the invoices');
    await approveFromCard(bot, ana, bramsRequest);
    const bramsGrant = await activeGrantOf(bot, bramsRequest);

    const share = await raise(bot, {
      incidentKey: `approval_share:${ana}:1`,
      detector: 'approval_share',
      severity: 'warning',
      subject: ana,
      userId: ana,
      resourceId: 'staging-db',
      title: 'Ana approved 9 of the last 10 requests for Staging database',
      ends: 'none',
    });
    await delivered(bot, 'notify_alert', share);
    for (const channel of destinations())
      expect(
        buttonsIn(copiesIn(bot, channel, share)[0]!.blocks).map((b) => b.text),
        channel,
      ).toEqual(['Acknowledge']);
    // Pressed anyway (on a copy an older version posted), it ends nothing.
    expect(await bot.gatehouse.access.endAccessForAlert(share, emil)).toMatchObject({
      ok: false,
      refusal: { kind: 'alert-nothing-to-end' },
    });

    const stamp = await raise(bot, {
      incidentKey: `rubber_stamp:${bramsRequest}`,
      detector: 'rubber_stamp',
      severity: 'warning',
      subject: ana,
      userId: ana,
      resourceId: 'staging-db',
      grantId: bramsGrant,
      ends: 'grant',
      title: "Ana approved Bram's request for Staging database within a second",
    });
    await delivered(bot, 'notify_alert', stamp);
    const copy = copiesIn(bot, dmChannel(emil), stamp)[0]!;
    const click = await bot.slack.clickButton({
      userId: emil,
      actionId: ACTION.endAlertAccess,
      message: { channel: copy.channel, ts: copy.ts },
    });
    expect((await bot.fake.waitForResponse(answersTo(click.responseUrl))).body.text).toBe(
      '⚪ Access ended: 1 grant of Staging database. Its sessions are being closed.',
    );
    expect(await grantStatus(bot, bramsGrant)).not.toBe('active');
    expect(await grantStatus(bot, anasGrant)).toBe('active');
  });

  it('keeps one look for evidence links queued per alert, however often it is acknowledged or its access ended', async () => {
    const requestId = await fileRequest(bot, bram, 'prod-db 1h rerun the invoice export');
    await approveFromCard(bot, dana, requestId);
    await approveFromCard(bot, emil, requestId);
    const prodGrant = await activeGrantOf(bot, requestId);
    // Evidence the audit channel has not shown yet (a seq ahead of the feed, within its reach
    // of the 5 minutes, and past anything this test will chain): its copies are looked at again later.
    const unlinked = await raise(bot, {
      incidentKey: 'refusal_burst:bram:links',
      userId: bram,
      resourceId: 'prod-db',
      grantId: prodGrant,
      evidence: [(await feedPosition(bot)) + 20_000],
    });
    await delivered(bot, 'notify_alert', unlinked);
    expect(await waitingLooks(bot, unlinked)).toHaveLength(1);

    for (const [who, actionId] of [
      [dana, ACTION.acknowledgeAlert],
      [sam, ACTION.endAlertAccess],
    ] as const) {
      const copy = copiesIn(bot, dmChannel(who), unlinked)[0]!;
      const click = await bot.slack.clickButton({
        userId: who,
        actionId,
        message: { channel: copy.channel, ts: copy.ts },
      });
      expect((await bot.fake.waitForResponse(answersTo(click.responseUrl))).body.text).toMatch(/^(✅|⚪) /);
      await latestChangeDelivered(bot, unlinked);
      expect(await waitingLooks(bot, unlinked), who).toHaveLength(1);
    }
  });

  it('does not wait for evidence the audit feed cannot reach within the 5 minutes (a busy gateway leaves it far behind)', async () => {
    const far = await raise(bot, {
      incidentKey: 'refusal_burst:bram:far',
      userId: bram,
      resourceId: 'prod-db',
      evidence: [(await feedPosition(bot)) + 100_000],
    });
    await delivered(bot, 'notify_alert', far);
    expect(await waitingLooks(bot, far)).toEqual([]);
  });

  it('looks for evidence links 3 s after an alert is raised, then backing off to a minute apart, within 5 minutes', async () => {
    const unlinked = await raise(bot, {
      incidentKey: 'refusal_burst:bram:backoff',
      userId: bram,
      resourceId: 'staging-db',
      evidence: [(await feedPosition(bot)) + 20_001],
    });
    await delivered(bot, 'notify_alert', unlinked);
    /** The look queued after the one before (due now), once that one has been made: how long after it was queued it is due. */
    const nextLookAfter = async (secondsSinceRaised: number): Promise<number | null> => {
      const [look] = await waitingLooks(bot, unlinked);
      // As if the alert had been raised that long ago, and the look were due now.
      await bot.t.db
        .updateTable('alerts')
        .set({ raised_at: sql`now() - make_interval(secs => ${secondsSinceRaised})` })
        .where('id', '=', unlinked)
        .execute();
      await bot.t.db
        .updateTable('outbox')
        .set({ next_attempt_at: sql`now()` })
        .where('id', '=', look!.id)
        .execute();
      await until(() =>
        bot.t.db
          .selectFrom('outbox')
          .select('done_at')
          .where('id', '=', look!.id)
          .executeTakeFirstOrThrow()
          .then((r) => r.done_at),
      );
      const [next] = await waitingLooks(bot, unlinked);
      return next ? next.next_attempt_at.getTime() - next.created_at.getTime() : null;
    };
    const [first] = await waitingLooks(bot, unlinked);
    expect(first!.next_attempt_at.getTime() - first!.created_at.getTime()).toBeGreaterThan(2500);
    expect(first!.next_attempt_at.getTime() - first!.created_at.getTime()).toBeLessThanOrEqual(3000);
    // Looks at 3, 9, 21, 45 s…: 40 s in, the next is 48 s later; 200 s in, a minute later.
    const at40 = await nextLookAfter(40);
    expect(at40).toBeGreaterThan(47_000);
    expect(at40).toBeLessThanOrEqual(48_000);
    const at200 = await nextLookAfter(200);
    expect(at200).toBeGreaterThan(59_000);
    expect(at200).toBeLessThanOrEqual(60_000);
    // A minute after 250 s is past the 5 minutes: no more looks.
    expect(await nextLookAfter(250)).toBeNull();
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

  it('sets the copies posted before a retry to what happened in between: acknowledged while another replica had no copy to update', async () => {
    // Another replica's notifier, on the same database and Slack: it delivers the Acknowledge.
    const replica = new OutboxPump(
      bot.t.db,
      slackNotifications({
        client: slackClient('xoxb-test-token', bot.fake.apiUrl, silentLogger()),
        access: bot.gatehouse.access,
        policy: () => bot.gatehouse.policy,
        db: bot.t.db,
        log: silentLogger(),
        now: () => new Date(),
      }),
      { cue: new EventEmitter(), log: silentLogger(), now: () => new Date() },
    );
    let alertId = '';
    await bot.t.db.transaction().execute(async (feedHeld) => {
      // The audit feed waits (it would take the failure meant for the alert).
      await feedHeld.selectFrom('audit_channel_state').select('posted_seq').forUpdate().execute();
      await bot.t.db.transaction().execute(async (postsHeld) => {
        // The first copy is posted, and its delivery waits to record it.
        await sql`lock table alert_messages in exclusive mode`.execute(postsHeld);
        alertId = await raise(bot, {
          incidentKey: 'sprees:ana:3',
          detector: 'sprees',
          severity: 'warning',
          subject: ana,
          userId: ana,
          resourceId: 'prod-db',
          title: 'Ana asked for 5 resources within an hour',
        });
        await bot.fake.waitForCall(
          'chat.postMessage',
          (c) => answered(c) && c.args.channel === ALERTS_CHANNEL && postOf(alertId)(c),
        );
        // Dana acknowledges; the other replica finds no copy on record yet, so updates none.
        expect((await bot.gatehouse.access.acknowledgeAlert(alertId, dana)).ok).toBe(true);
        await replica.deliverDue();
        await delivered(bot, 'notify_alert_changed', alertId);
        // The next post fails: the copies posted before it, as they were rendered, wait for the retry.
        bot.fake.failNext('chat.postMessage', { status: 500 });
      });
      await delivered(bot, 'notify_alert', alertId);
    });
    expect(postsOf(alertId)).toEqual([
      `${ALERTS_CHANNEL} ok`,
      `${dmChannel(dana)} internal_error`,
      `${dmChannel(emil)} ok`,
      `${dmChannel(sam)} ok`,
      `${dmChannel(dana)} ok`,
    ]);
    await expectOneCopyEach(alertId);
    const alert = (await bot.gatehouse.access.findAlert(alertId))!;
    for (const channel of destinations) {
      const [copy] = copiesIn(bot, channel, alertId);
      expect(JSON.stringify(copy!.blocks), channel).toContain(
        `✅ Acknowledged by <@${dana}> at ${formatWhen(alert.acknowledged_at!)}`,
      );
      expect(
        buttonsIn(copy!.blocks).map((b) => b.text),
        channel,
      ).toEqual(['End access now']);
    }
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

describe('alerts when the policy names no security group', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot();
    await bot.settle();
  });
  afterAll(async () => bot.stop());

  it('sends an alert about no resource to the owners of every resource, who can act on it', async () => {
    const spree = await raise(bot, {
      incidentKey: `spree:${bram}:1`,
      detector: 'spree',
      severity: 'warning',
      subject: bram,
      userId: bram,
      title: 'Bram asked for 4 different resources within an hour',
    });
    const owners = [ana, dana, emil];
    for (const owner of owners)
      await bot.fake.waitForCall(
        'chat.postMessage',
        (c) => answered(c) && c.args.channel === dmChannel(owner) && postOf(spree)(c),
      );
    await delivered(bot, 'notify_alert', spree);
    for (const channel of [AUDIT_CHANNEL, ...owners.map(dmChannel)])
      expect(copiesIn(bot, channel, spree), channel).toHaveLength(1);

    const copy = copiesIn(bot, dmChannel(dana), spree)[0]!;
    const click = await bot.slack.clickButton({
      userId: dana,
      actionId: ACTION.acknowledgeAlert,
      message: { channel: copy.channel, ts: copy.ts },
    });
    expect((await bot.fake.waitForResponse(answersTo(click.responseUrl))).body.text).toBe('✅ Acknowledged.');
    await delivered(bot, 'notify_alert_changed', spree);
    for (const channel of [AUDIT_CHANNEL, ...owners.map(dmChannel)])
      expect(JSON.stringify(copiesIn(bot, channel, spree)[0]!.blocks), channel).toContain(
        `✅ Acknowledged by <@${dana}>`,
      );
  });
});
