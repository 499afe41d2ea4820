import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTION, EXTEND_MODAL, VIEW } from '../src/slack/blocks/ids.ts';
import { PEOPLE } from './support/access.ts';
import type { RecordedCall, SlackView } from '../src/sandbox/fake-slack/fake-slack.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { answered, answersTo, buttonsIn, cardFor, cardPostedTo, dmTo, fileRequest } from './support/slack-stories.ts';

const { ana, bram, dana, emil, fatima } = PEOPLE;

/** Somewhere `/access` was typed; its answer is ephemeral there. */
const GENERAL = 'C0GENERAL';

const textOfView = (view: unknown) => JSON.stringify(view);

describe('/access, the expiry warning and the App Home', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    // Short grants are warned about at once.
    bot = await startBot({ env: { EXPIRY_WARNING_MINUTES: '5' } });
  });
  afterAll(async () => bot.stop());

  /** The owner approves on their card; resolves once the requester is told the access is active. */
  async function approveOnCard(owner: string, requestId: string, requester: string): Promise<string> {
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(owner, requestId));
    await bot.slack.clickButton({
      userId: owner,
      actionId: ACTION.approve,
      value: requestId,
      message: cardFor(bot.fake, owner, requestId),
    });
    const since = bot.fake.calls.length;
    const active = dmTo(requester, /is active until/);
    await bot.fake.waitForCall('chat.postMessage', (c) => bot.fake.calls.indexOf(c) >= since && active(c));
    const grant = await bot.t.db
      .selectFrom('grants')
      .select('id')
      .where('request_id', '=', requestId)
      .executeTakeFirstOrThrow();
    return grant.id;
  }

  /** The form of `callbackId` opened for `userId` by a click made after call index `since`. */
  async function waitForView(userId: string, callbackId: string, since: number): Promise<SlackView> {
    await bot.fake.waitForCall(
      'views.open',
      (c) => bot.fake.calls.indexOf(c) >= since && answered(c) && JSON.stringify(c.args.view).includes(callbackId),
    );
    const view = bot.fake
      .openedViews(userId)
      .filter((v) => v.callback_id === callbackId)
      .at(-1);
    if (!view) throw new Error(`no ${callbackId} opened for ${userId}`);
    return view;
  }

  /** Resolves once the message at `where` (as updated since) satisfies `check` on its text and blocks. */
  async function waitForMessage(
    where: { channel: string; ts: string },
    check: (text: string, blocks: string) => boolean,
  ): Promise<void> {
    const holds = () => {
      const message = bot.fake.message(where.channel, where.ts);
      return message !== undefined && check(message.text, JSON.stringify(message.blocks));
    };
    if (holds()) return;
    await bot.fake.waitForCall('chat.update', (c) => answered(c) && c.args.ts === where.ts && holds(), {
      timeoutMs: 10_000,
    });
  }

  const extendValues = (duration: string, reason: string) => ({
    [EXTEND_MODAL.duration.block]: {
      [EXTEND_MODAL.duration.action]: { type: 'static_select', selected_option: { value: duration } },
    },
    [EXTEND_MODAL.reason.block]: { [EXTEND_MODAL.reason.action]: { type: 'plain_text_input', value: reason } },
  });

  /** `/access` as `userId`: the ephemeral answer. */
  async function access(userId: string, text = '') {
    const reply = await bot.slack.command(userId, '/access', text, { channelId: GENERAL });
    expect(reply.status).toBe(200);
    const answer = await bot.fake.waitForResponse(answersTo(reply.responseUrl));
    expect(answer.body.response_type).toBe('ephemeral');
    return { text: String(answer.body.text), blocks: answer.body.blocks };
  }

  /** A click on a button in an ephemeral answer (which the fake does not keep, so it is taken on trust). */
  async function clickIn(userId: string, actionId: string, value: string) {
    const click = await bot.slack.clickButton({
      userId,
      actionId,
      value,
      message: { channel: GENERAL, ts: `${Date.now() / 1000}` },
    });
    expect(click.status).toBe(200);
    const answer = await bot.fake.waitForResponse(answersTo(click.responseUrl));
    expect(answer.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    return String(answer.body.text);
  }

  it('/access lists what I hold and what I wait for, with buttons to give access back or cancel', async () => {
    const staging = await fileRequest(bot, bram, 'staging-db 1h rebuild the search index');
    const grantId = await approveOnCard(dana, staging, bram);
    const prod = await fileRequest(bot, bram, 'prod-db 2h read the invoices table');

    const list = await access(bram);
    expect(list.text).toBe('You hold 1 grant and have 1 pending request.');
    const shown = JSON.stringify(list.blocks);
    expect(shown).toMatch(/🟢 \*Staging database\* \(`staging-db`\): 59m left, until <!date\^/);
    expect(shown).toMatch(/⏳ \*Production database\* \(`prod-db`\) for 2h · 0 of 2 approvals · expires/);
    expect(buttonsIn(list.blocks)).toEqual([
      { actionId: ACTION.endGrant, text: "I'm done", value: grantId },
      { actionId: ACTION.cancelRequest, text: 'Cancel', value: prod },
    ]);

    expect(await clickIn(bram, ACTION.endGrant, grantId)).toBe(
      '⚪ Your access to Staging database is ending now. Thanks for giving it back.',
    );
    await bot.fake.waitForCall(
      'chat.postMessage',
      dmTo(bram, /Your access to \*Staging database\*.* ended at .*: you ended it\./),
    );
    expect(await bot.gatehouse.access.findGrant(grantId)).toMatchObject({ status: 'ended', endReason: 'released' });

    expect(await clickIn(bram, ACTION.cancelRequest, prod)).toBe(
      '✖️ Your request for Production database is cancelled.',
    );
    expect(await bot.gatehouse.access.findRequest(prod)).toMatchObject({ status: 'cancelled', decidedBy: bram });
    // The owners' cards say so, without buttons.
    for (const owner of [dana, emil]) {
      const card = cardFor(bot.fake, owner, prod);
      await bot.fake.waitForCall(
        'chat.update',
        (c) => answered(c) && c.args.ts === card.ts && /^✖️ Cancelled by the requester/.test(String(c.args.text)),
      );
      expect(buttonsIn(bot.fake.message(card.channel, card.ts)?.blocks)).toEqual([]);
    }

    // A second click on the same buttons changes nothing and says why.
    expect(await clickIn(bram, ACTION.cancelRequest, prod)).toMatch(
      /is no longer pending: ✖️ Cancelled by the requester/,
    );
    expect((await access(bram)).text).toMatch(/^You hold no access and have no pending requests\./);
  });

  it('/access help explains every command', async () => {
    const help = await access(bram, 'help');
    expect(help.text).toBe('Gatehouse commands: /request-access, /access, /access help, /access mfa, /verify-audit');
    const shown = JSON.stringify(help.blocks);
    for (const command of [
      // Escaped as Slack asks: a bare <resource> would be read as a link.
      '/request-access &lt;resource&gt; [duration] [reason…]',
      '/access',
      '/access help',
      '/verify-audit',
    ])
      expect(shown).toContain(`\`${command}\``);
    expect((await access(bram, 'hepl')).text).toMatch(/^`\/access hepl` is not something I know\. Gatehouse commands:/);
  });

  it('warns before a grant ends; Extend asks how much longer and why, and the approval moves the same grant’s end', async () => {
    const requestId = await fileRequest(bot, ana, 'staging-db 45s apply the hotfix');
    const grantId = await approveOnCard(dana, requestId, ana);

    await bot.fake.waitForCall(
      'chat.postMessage',
      dmTo(ana, /Your access to \*Staging database\*.* ends in less than a minute, at /),
    );
    const warning = bot.fake.dmsTo(ana).find((m) => / ends in /.test(m.text))!;
    expect(buttonsIn(warning.blocks)).toEqual([
      { actionId: ACTION.extendGrant, text: 'Extend', value: grantId },
      { actionId: ACTION.endGrant, text: "I'm done", value: grantId },
    ]);
    const before = (await bot.gatehouse.access.findGrant(grantId))!;

    // Extend opens a form: how much longer (the resource's default first, at most its maximum) and why.
    const clicked = bot.fake.calls.length;
    await bot.slack.clickButton({
      userId: ana,
      actionId: ACTION.extendGrant,
      value: grantId,
      message: { channel: warning.channel, ts: warning.ts },
    });
    const form = await waitForView(ana, VIEW.extendModal, clicked);
    const select = JSON.stringify(form.blocks);
    expect(select).toContain('"initial_option":{"text":{"type":"plain_text","text":"30m more"');
    expect(select).toContain('2h more');
    expect(select).not.toContain('4h more');
    expect(select).toContain('apply the hotfix');
    const submitted = await bot.slack.submitView({
      userId: ana,
      viewId: form.id,
      values: extendValues('1h', 'the hotfix needs a second run'),
    });
    expect(submitted.body).toBe('');

    const { requests } = await bot.gatehouse.access.holdingsOf(ana);
    const extension = requests.find((r) => r.extendsGrantId === grantId);
    expect(extension).toMatchObject({
      resourceId: 'staging-db',
      status: 'pending',
      durationMs: 3_600_000,
      reason: 'the hotfix needs a second run',
    });
    // The owners approve it again, on a card that says it is an extension.
    for (const owner of [dana, emil]) {
      const card = await bot.fake.waitForCall('chat.postMessage', cardPostedTo(owner, extension!.id));
      expect(String(card.args.text)).toContain('<@U0ANA0001> asks to extend access to *Staging database*');
    }
    // The warning no longer offers Extend while one waits.
    await waitForMessage(
      warning,
      (text, blocks) => /waiting for the owners/.test(blocks) && !blocks.includes(ACTION.extendGrant),
    );

    await bot.slack.clickButton({
      userId: dana,
      actionId: ACTION.approve,
      value: extension!.id,
      message: cardFor(bot.fake, dana, extension!.id),
    });
    await bot.fake.waitForCall(
      'chat.postMessage',
      dmTo(ana, /<@U0DANA001> approved your extension of \*Staging database\* .* by \*1h\*/),
    );
    // One grant, the same one, ending an hour later; Home lists it once.
    const after = (await bot.gatehouse.access.findGrant(grantId))!;
    expect(after).toMatchObject({ id: grantId, status: 'active' });
    expect(after.endsAt.getTime()).toBe(before.endsAt.getTime() + 3_600_000);
    expect((await bot.gatehouse.access.holdingsOf(ana)).grants.map((g) => g.id)).toEqual([grantId]);
    expect(
      await bot.t.db
        .selectFrom('grants')
        .select('id')
        .where('user_id', '=', ana)
        .where('status', '<>', 'ended')
        .execute(),
    ).toHaveLength(1);
    // The warning now says the new end, with Extend again.
    await waitForMessage(
      warning,
      (text, blocks) => /was extended: it now ends/.test(text) && blocks.includes(ACTION.extendGrant),
    );
    await bot.gatehouse.audit.flush();
    const events = await bot.t.db
      .selectFrom('audit_log')
      .select(['action', 'body'])
      .where('subject', '=', grantId)
      .where('action', 'in', ['grant.extending', 'grant.extended'])
      .orderBy('seq')
      .execute();
    expect(events.map((e) => e.action)).toEqual(['grant.extending', 'grant.extended']);
    expect(events[0]!.body).toMatchObject({
      request: extension!.id,
      previous_ends_at: before.endsAt.toISOString(),
      ends_at: after.endsAt.toISOString(),
    });

    // I'm done: every message about it drops its buttons and says it ended; a stale click is told so.
    await bot.gatehouse.access.release(grantId, ana);
    await waitForMessage(
      warning,
      (text, blocks) => /ended at .* \(you ended it\)/.test(text) && !blocks.includes('"actions"'),
    );
    const staleExtend = await bot.slack.clickButton({
      userId: ana,
      actionId: ACTION.extendGrant,
      value: grantId,
      message: { channel: warning.channel, ts: warning.ts },
      stale: true,
    });
    const extendAnswer = await bot.fake.waitForResponse(answersTo(staleExtend.responseUrl));
    expect(String(extendAnswer.body.text)).toMatch(/ended at .* \(you ended it\), so there is nothing to extend/);
    const staleDone = await bot.slack.clickButton({
      userId: ana,
      actionId: ACTION.endGrant,
      value: grantId,
      message: { channel: warning.channel, ts: warning.ts },
      stale: true,
    });
    const doneAnswer = await bot.fake.waitForResponse(answersTo(staleDone.responseUrl));
    expect(String(doneAnswer.body.text)).toMatch(/there is nothing to give back/);
  });

  it('the requester’s messages follow the request: Cancel goes once it is decided, and a stale Cancel is told what happened', async () => {
    const requestId = await fileRequest(bot, bram, 'prod-db 1h rotate the keys');
    const sent = await bot.fake.waitForCall(
      'chat.postMessage',
      (c) =>
        dmTo(bram, /Your request for \*Production database\*.* was sent to/)(c) &&
        JSON.stringify(c.args.blocks).includes(requestId),
    );
    const shown = bot.fake.dmsTo(bram).find((m) => m.text === String(sent.args.text) && m.blocks === sent.args.blocks);
    const message = shown ?? bot.fake.dmsTo(bram).find((m) => JSON.stringify(m.blocks).includes(requestId))!;
    const where = { channel: message.channel, ts: message.ts };
    // One of two approvals: the message says so, and still offers Cancel.
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(dana, requestId));
    await bot.slack.clickButton({
      userId: dana,
      actionId: ACTION.approve,
      value: requestId,
      message: cardFor(bot.fake, dana, requestId),
    });
    await waitForMessage(
      where,
      (_text, blocks) => blocks.includes('So far: 1 of 2 approvals') && blocks.includes(ACTION.cancelRequest),
    );
    const denying = bot.fake.calls.length;
    await bot.slack.clickButton({
      userId: emil,
      actionId: ACTION.deny,
      value: requestId,
      message: cardFor(bot.fake, emil, requestId),
    });
    const deny = await waitForView(emil, VIEW.denyModal, denying);
    await bot.slack.submitView({
      userId: emil,
      viewId: deny.id,
      values: {
        'gatehouse.deny.reason': { 'gatehouse.deny.reason_input': { type: 'plain_text_input', value: 'use staging' } },
      },
    });
    await waitForMessage(
      where,
      (text, blocks) => /was denied by <@U0EMIL001>/.test(text) && !blocks.includes(ACTION.cancelRequest),
    );
    // Pressed on a copy that was not updated (an ephemeral answer): told what happened.
    const stale = await bot.slack.clickButton({
      userId: bram,
      actionId: ACTION.cancelRequest,
      value: requestId,
      message: where,
      stale: true,
    });
    const answer = await bot.fake.waitForResponse(answersTo(stale.responseUrl));
    expect(String(answer.body.text)).toMatch(
      /Your request for Production database is no longer pending: ⛔ Denied by <@U0EMIL001>/,
    );
  });

  it('shows each person their access, their requests and what waits for their approval, and redraws it when that changes', async () => {
    const publishedFor = (userId: string, since: number, match: (view: SlackView) => boolean) =>
      bot.fake.waitForCall(
        'views.publish',
        (c: RecordedCall) =>
          answered(c) &&
          c.args.user_id === userId &&
          bot.fake.calls.indexOf(c) >= since &&
          match(c.args.view as SlackView),
      );

    // Someone with nothing going on sees that, as soon as they open the tab.
    expect((await bot.slack.homeOpened(fatima)).status).toBe(200);
    await publishedFor(fatima, 0, () => true);
    const empty = textOfView(bot.fake.homeOf(fatima));
    for (const line of ['You hold no access right now.', 'No requests waiting.', 'Nothing waits for you.'])
      expect(empty).toContain(line);

    const requestId = await fileRequest(bot, bram, 'prod-db 1h export the invoices');
    let since = bot.fake.calls.length;
    await bot.slack.homeOpened(bram);
    await bot.slack.homeOpened(dana);
    await publishedFor(bram, since, (view) => textOfView(view).includes(requestId));
    await publishedFor(dana, since, (view) => textOfView(view).includes(requestId));
    expect(buttonsIn(bot.fake.homeOf(bram)!.blocks).filter((b) => b.value === requestId)).toEqual([
      { actionId: ACTION.cancelRequest, text: 'Cancel', value: requestId },
    ]);
    const danaHome = bot.fake.homeOf(dana)!;
    expect(textOfView(danaHome)).toContain('<@U0BRAM001> asks for *Production database* (`prod-db`) for *1h*');
    expect(buttonsIn(danaHome.blocks).filter((b) => b.value === requestId)).toEqual([
      { actionId: ACTION.approve, text: 'Approve', value: requestId },
      { actionId: ACTION.deny, text: 'Deny', value: requestId },
    ]);

    // Dana approves from her Home tab: it no longer asks her, and Bram's shows the approval.
    since = bot.fake.calls.length;
    const click = await bot.slack.clickButton({
      userId: dana,
      actionId: ACTION.approve,
      value: requestId,
      view: { id: danaHome.id },
    });
    expect(click.status).toBe(200);
    await publishedFor(dana, since, (view) => !textOfView(view).includes(requestId));
    await publishedFor(bram, since, (view) => textOfView(view).includes('1 of 2 approvals: <@U0DANA001>'));
    // The tab just redraws without the request: what her click did is said in a small window.
    const notice = await bot.fake.waitForCall(
      'views.open',
      (c) => answered(c) && (c.args.view as SlackView).callback_id === VIEW.approvedNotice,
    );
    expect(JSON.stringify((notice.args.view as SlackView).blocks)).toContain(
      'Your approval is counted (1 of 2 approvals: <@U0DANA001>): it needs one more, from another owner.',
    );

    // Emil's approval completes it: Bram's tab shows the access with "I'm done", and Emil's no longer asks him.
    since = bot.fake.calls.length;
    await bot.slack.clickButton({
      userId: emil,
      actionId: ACTION.approve,
      value: requestId,
      message: cardFor(bot.fake, emil, requestId),
    });
    await publishedFor(bram, since, (view) => buttonsIn(view.blocks).some((b) => b.actionId === ACTION.endGrant));
    await publishedFor(emil, since, (view) => !textOfView(view).includes(requestId));
    const bramHome = bot.fake.homeOf(bram)!;
    expect(textOfView(bramHome)).toMatch(/🟢 \*Production database\* \(`prod-db`\): (59m|1h) left/);

    // Bram gives it back from his Home tab; the tab is redrawn without it.
    const grant = buttonsIn(bramHome.blocks).find((b) => b.actionId === ACTION.endGrant)!;
    since = bot.fake.calls.length;
    expect(
      (
        await bot.slack.clickButton({
          userId: bram,
          actionId: ACTION.endGrant,
          value: grant.value!,
          view: { id: bramHome.id },
        })
      ).status,
    ).toBe(200);
    await bot.fake.waitForCall(
      'chat.postMessage',
      dmTo(bram, /Your access to \*Production database\*.* ended at .*: you ended it\./),
    );
    await publishedFor(bram, since, (view) => textOfView(view).includes('You hold no access right now.'));
  });

  it('answers a click on an App Home that is out of date, in the Messages tab', async () => {
    const requestId = await fileRequest(bot, bram, 'staging-db 30m check the cron jobs');
    await bot.slack.homeOpened(emil);
    await bot.fake.waitForCall(
      'views.publish',
      (c) => answered(c) && c.args.user_id === emil && textOfView(c.args.view).includes(requestId),
    );
    const stale = bot.fake.homeOf(emil)!;

    // Dana decides first; Emil still clicks on the tab he had open before it was redrawn.
    await approveOnCard(dana, requestId, bram);
    await bot.fake.waitForCall(
      'views.publish',
      (c) => answered(c) && c.args.user_id === emil && !textOfView(c.args.view).includes(requestId),
    );
    const click = await bot.slack.clickButton({
      userId: emil,
      actionId: ACTION.approve,
      value: requestId,
      view: { ...stale },
    });
    expect(click.status).toBe(200);
    await bot.fake.waitForCall(
      'chat.postMessage',
      dmTo(emil, /'s request for \*Staging database\*.* is no longer pending: ✅ Approved by <@U0DANA001>/),
    );
    expect(await bot.t.db.selectFrom('grants').select('id').where('request_id', '=', requestId).execute()).toHaveLength(
      1,
    );
  });
});

describe('App Home refreshes that pile up', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot();
  });
  afterAll(async () => bot.stop());

  it('publishes a home once for a backlog of refreshes, and marks every one of them done', async () => {
    const busy = 'U0BUSYOWNER';
    // Fifty changes touched one person's home while the notifier was behind.
    await bot.t.db
      .insertInto('outbox')
      .values(Array.from({ length: 50 }, () => ({ kind: 'refresh_home', payload: { userId: busy } })))
      .execute();
    const published = await bot.fake.waitForCall(
      'views.publish',
      (call) => call.args.user_id === busy && answered(call),
      { timeoutMs: 10_000 },
    );
    expect(published.args.user_id).toBe(busy);
    // They are marked done once Slack has the view, a moment after it answered.
    const left = () =>
      bot.t.db
        .selectFrom('outbox')
        .select('id')
        .where('kind', '=', 'refresh_home')
        .where('done_at', 'is', null)
        .execute();
    while ((await left()).length > 0) await new Promise((resolve) => setImmediate(resolve));
    expect(bot.fake.callsTo('views.publish').filter((call) => call.args.user_id === busy)).toHaveLength(1);
  });
});

describe('an App Home refresh Slack refuses', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot();
  });
  afterAll(async () => bot.stop());

  it('stays queued and is published when Slack answers again', async () => {
    const waiting = 'U0WAITING1';
    bot.fake.failNext('views.publish', { status: 500 });
    await bot.t.db
      .insertInto('outbox')
      .values({ kind: 'refresh_home', payload: { userId: waiting } })
      .execute();
    await bot.fake.waitForCall('views.publish', (call) => call.args.user_id === waiting && call.failed, {
      timeoutMs: 10_000,
    });
    const row = () =>
      bot.t.db
        .selectFrom('outbox')
        .select(['done_at', 'last_error'])
        .where('kind', '=', 'refresh_home')
        .executeTakeFirstOrThrow();
    // Not lost: the next try gets through, and only then is it done.
    await bot.fake.waitForCall('views.publish', (call) => call.args.user_id === waiting && answered(call), {
      timeoutMs: 10_000,
    });
    while ((await row()).done_at === null) await new Promise((resolve) => setImmediate(resolve));
    expect(
      bot.fake
        .callsTo('views.publish')
        .filter((call) => call.args.user_id === waiting)
        .map((call) => call.failed),
    ).toEqual([true, false]);
  });
});
