import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTION, DENY_MODAL, REQUEST_MODAL, VIEW } from '../src/slack/blocks/ids.ts';
import { PEOPLE } from './support/access.ts';
import type { RecordedCall } from '../src/sandbox/fake-slack/fake-slack.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { postedSeqs } from './support/slack-stories.ts';

const { ana, bram, dana, emil, fatima, mallory } = PEOPLE;
const AUDIT_CHANNEL = 'C0AUDIT01';

const dmTo = (userId: string, pattern: RegExp) => (call: RecordedCall) =>
  call.args.channel === `D${userId}` && pattern.test(String(call.args.text ?? ''));

/** The approval card in an owner's DMs for a request, to click on. */
function cardFor(bot: RunningBot, owner: string, requestId: string): { channel: string; ts: string } {
  const card = bot.fake.dmsTo(owner).find((m) => JSON.stringify(m.blocks ?? []).includes(requestId));
  if (!card) throw new Error(`no card for ${requestId} in ${owner}'s DMs`);
  return { channel: card.channel, ts: card.ts };
}

async function pendingRequestOf(bot: RunningBot, userId: string): Promise<string> {
  const { requests } = await bot.gatehouse.access.holdingsOf(userId);
  const request = requests[0];
  if (!request) throw new Error(`${userId} has no pending request`);
  return request.id;
}

describe('the Slack bot, end to end', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot();
  });
  afterAll(async () => bot.stop());

  it('takes a request, gets it approved, grants access, ends it on time, and posts every event to the audit channel', async () => {
    const reply = await bot.slack.command(bram, '/request-access', 'staging-db 2s fix invoice export');
    expect(reply.status).toBe(200);
    const confirmation = await bot.fake.waitForResponse((r) => /was sent to 3 approvers/.test(String(r.body.text)));
    expect(confirmation.body.response_type).toBe('ephemeral');

    // Every owner but the requester gets a card: Dana, Emil and Ana (an owner of staging-db).
    await bot.fake.waitForCall(
      'chat.postMessage',
      (c) => JSON.stringify(c.args.blocks ?? []).includes(ACTION.approve),
      { count: 3 },
    );
    const requestId = await pendingRequestOf(bot, bram);
    const card = cardFor(bot, dana, requestId);
    const shown = bot.fake.message(card.channel, card.ts);
    expect(shown?.text).toContain('Staging database');
    expect(JSON.stringify(shown?.blocks)).toContain('fix invoice export');

    await bot.slack.clickButton({ userId: dana, actionId: ACTION.approve, value: requestId, message: card });
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /approved your request/));
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /is active until/));
    // Every owner's card now shows the outcome, without buttons.
    await bot.fake.waitForCall(
      'chat.update',
      (c) => c.args.ts === card.ts && /Approved by/.test(JSON.stringify(c.args.blocks)),
    );

    // The grant ends by itself two seconds after approval, at the next sweep.
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /ended at .*its time ran out/));
    const grant = await bot.t.db
      .selectFrom('grants')
      .selectAll()
      .where('request_id', '=', requestId)
      .executeTakeFirstOrThrow();
    expect(grant).toMatchObject({ status: 'ended', end_reason: 'expired' });

    await bot.settle();
    // The feed's posts (alerts go to the audit channel too: Dana approved within seconds, a rubber stamp).
    const posted = postedSeqs(bot.fake);
    expect(posted).toEqual(posted.map((_, i) => i + 1)); // every seq, in order, once
    const channelText = bot.fake
      .messagesIn(AUDIT_CHANNEL)
      .map((m) => m.text)
      .join('\n');
    for (const action of [
      'policy.loaded',
      'request.created',
      'approval.recorded',
      'request.approved',
      'grant.active',
      'grant.ending',
      'grant.revoked',
    ]) {
      expect(channelText).toContain(action);
    }
    expect(await bot.gatehouse.audit.verify()).toMatchObject({ ok: true });
  });

  it('needs two distinct owners where the policy says so', async () => {
    await bot.slack.command(ana, '/request-access', 'prod-db 1h investigate slow checkout');
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /was sent to 2 approvers/));
    const requestId = await pendingRequestOf(bot, ana);
    await bot.fake.waitForCall(
      'chat.postMessage',
      (c) => c.args.channel === `D${emil}` && JSON.stringify(c.args.blocks ?? []).includes(requestId),
    );
    await bot.slack.clickButton({
      userId: dana,
      actionId: ACTION.approve,
      value: requestId,
      message: cardFor(bot, dana, requestId),
    });
    await bot.fake.waitForCall('chat.update', (c) => /1 of 2/.test(JSON.stringify(c.args.blocks)));
    expect((await bot.gatehouse.access.findRequest(requestId))?.status).toBe('pending');
    await bot.slack.clickButton({
      userId: emil,
      actionId: ACTION.approve,
      value: requestId,
      message: cardFor(bot, emil, requestId),
    });
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /is active until/));
  });

  it('tells a stranger who clicks Approve that they are not an approver, and records the attempt', async () => {
    await bot.slack.command(bram, '/request-access', 'prod-db 30m read the invoices table');
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /prod-db|Production database/));
    const requestId = await pendingRequestOf(bot, bram);
    const card = cardFor(bot, dana, requestId);
    await bot.slack.clickButton({ userId: mallory, actionId: ACTION.approve, value: requestId, message: card });
    const answer = await bot.fake.waitForResponse((r) => /not an approver/i.test(String(r.body.text)));
    expect(answer.body.response_type).toBe('ephemeral');
    await bot.gatehouse.audit.flush();
    const refused = await bot.t.db
      .selectFrom('audit_log')
      .select(['actor', 'body'])
      .where('action', '=', 'approval.refused')
      .where('subject', '=', requestId)
      .execute();
    expect(refused).toEqual([{ actor: mallory, body: expect.objectContaining({ reason: 'not-approver' }) }]);
    expect((await bot.gatehouse.access.findRequest(requestId))?.status).toBe('pending');
  });

  it('lets an owner deny with a reason the requester reads', async () => {
    const requestId = await pendingRequestOf(bot, bram);
    const click = await bot.slack.clickButton({
      userId: emil,
      actionId: ACTION.deny,
      value: requestId,
      message: cardFor(bot, emil, requestId),
    });
    const opened = await bot.fake.waitForCall('views.open', (c) => c.args.trigger_id === click.triggerId);
    expect((opened.args.view as { callback_id: string }).callback_id).toBe(VIEW.denyModal);
    const empty = await bot.slack.submitView({
      userId: emil,
      callbackId: VIEW.denyModal,
      privateMetadata: requestId,
      values: { [DENY_MODAL.reason.block]: { [DENY_MODAL.reason.action]: { type: 'plain_text_input', value: '  ' } } },
    });
    expect(empty.body).toMatchObject({ response_action: 'errors' });
    await bot.slack.submitView({
      userId: emil,
      callbackId: VIEW.denyModal,
      privateMetadata: requestId,
      values: {
        [DENY_MODAL.reason.block]: {
          [DENY_MODAL.reason.action]: { type: 'plain_text_input', value: 'use the read replica' },
        },
      },
    });
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /denied your request .*use the read replica/));
  });

  it('opens the form when parts are missing, and files the request from it', async () => {
    const reply = await bot.slack.command(bram, '/request-access', 'staging-db');
    const opened = await bot.fake.waitForCall('views.open', (c) => c.args.trigger_id === reply.triggerId);
    expect((opened.args.view as { callback_id: string }).callback_id).toBe(VIEW.requestModal);
    const tooLong = await bot.slack.submitView({
      userId: bram,
      callbackId: VIEW.requestModal,
      values: {
        [REQUEST_MODAL.resource.block]: {
          [REQUEST_MODAL.resource.action]: { type: 'static_select', selected_option: { value: 'staging-db' } },
        },
        [REQUEST_MODAL.duration.block]: { [REQUEST_MODAL.duration.action]: { type: 'plain_text_input', value: '9h' } },
        [REQUEST_MODAL.reason.block]: {
          [REQUEST_MODAL.reason.action]: { type: 'plain_text_input', value: 'load test' },
        },
      },
    });
    expect(tooLong.body).toMatchObject({
      response_action: 'errors',
      errors: { [REQUEST_MODAL.duration.block]: expect.stringContaining('2h') },
    });
    const ok = await bot.slack.submitView({
      userId: bram,
      callbackId: VIEW.requestModal,
      values: {
        [REQUEST_MODAL.resource.block]: {
          [REQUEST_MODAL.resource.action]: { type: 'static_select', selected_option: { value: 'staging-db' } },
        },
        [REQUEST_MODAL.duration.block]: { [REQUEST_MODAL.duration.action]: { type: 'plain_text_input', value: '' } },
        [REQUEST_MODAL.reason.block]: {
          [REQUEST_MODAL.reason.action]: { type: 'plain_text_input', value: 'load test' },
        },
      },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toBeFalsy();
    const { requests } = await bot.gatehouse.access.holdingsOf(bram);
    expect(requests.find((r) => r.resourceId === 'staging-db')).toMatchObject({
      durationMs: 30 * 60_000,
      reason: 'load test',
    });
  });

  it('answers requests outside policy at once, saying what is allowed', async () => {
    await bot.slack.command(bram, '/request-access', 'mainframe 1h typo');
    const unknown = await bot.fake.waitForResponse((r) => /mainframe/.test(String(r.body.text)));
    expect(String(unknown.body.text)).toMatch(/prod-db/);
    // Over the maximum, the form opens instead, keeping the reason (test/slack-commands.test.ts).
    const tooLong = await bot.slack.command(ana, '/request-access', 'staging-db 3h too long');
    const opened = await bot.fake.waitForCall('views.open', (c) => c.args.trigger_id === tooLong.triggerId);
    expect(JSON.stringify(opened.args.view)).toContain('at most 2h');
  });

  it('rejects unsigned, badly signed and stale requests with 401, changing nothing', async () => {
    const before = await bot.t.db
      .selectFrom('access_requests')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const bad = await bot.slack.command(ana, '/request-access', 'staging-db 1h sneaky', { signature: 'bad' });
    const missing = await bot.slack.command(ana, '/request-access', 'staging-db 1h sneaky', { signature: 'missing' });
    const stale = await bot.slack.command(ana, '/request-access', 'staging-db 1h sneaky', {
      timestamp: Math.floor(Date.now() / 1000) - 600,
    });
    expect([bad.status, missing.status, stale.status]).toEqual([401, 401, 401]);
    const after = await bot.t.db
      .selectFrom('access_requests')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });

  it('lets auditors verify the log from Slack, and no one else', async () => {
    await bot.slack.command(mallory, '/verify-audit');
    await bot.fake.waitForResponse((r) => /auditor/i.test(String(r.body.text)));
    await bot.slack.command(fatima, '/verify-audit');
    const result = await bot.fake.waitForResponse((r) => /whole/i.test(String(r.body.text)));
    expect(String(result.body.text)).toMatch(/events/);
    await bot.gatehouse.audit.flush();
    const verified = await bot.t.db
      .selectFrom('audit_log')
      .select(['actor', 'body'])
      .where('action', '=', 'audit.verified')
      .execute();
    expect(verified).toEqual([{ actor: fatima, body: expect.objectContaining({ ok: true }) }]);
  });
});
