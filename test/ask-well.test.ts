import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escalateWaiting } from '../src/access/escalation.ts';
import { PolicyError } from '../src/config/policy.ts';
import { parsePolicy } from '../src/provisioners/index.ts';
import { ACTION, REQUEST_MODAL, VIEW } from '../src/slack/blocks/ids.ts';
import { PEOPLE } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import {
  AUDIT_CHANNEL,
  answersTo,
  approveFromCard,
  cardFor,
  cardPostedTo,
  dmTo,
  fileRequest,
} from './support/slack-stories.ts';

// prod-db needs an incident or change ticket and two approvals; unanswered for 30m it goes to the fallback group (Fatima) too.
const { ana, bram, dana, emil, fatima } = PEOPLE;
const MINUTE = 60_000;

const POLICY = `
audit_channel: ${AUDIT_CHANNEL}
request_ttl: 2h
groups:
  contractors: [${ana}, ${bram}]
  db-owners: [${dana}, ${emil}]
  fallback: [${fatima}]
alerts: { rubber_stamps: false }
resources:
  - id: prod-db
    name: Production database
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    approvals_required: 2
    ticket: { pattern: "^(INC|CHG)-\\\\d+$", example: INC-123, url: "https://tracker.example/browse/{ticket}?a=1&b=2" }
    escalate_after: 30m
    escalate_to: fallback
    provisioner: { kind: none }
  - id: staging-db
    name: Staging database
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 30m
    max_duration: 2h
    provisioner: { kind: none }
`;

/** `/request-access <text>` as `userId`; resolves with the app's answer. */
async function command(bot: RunningBot, userId: string, text: string): Promise<string> {
  const reply = await bot.slack.command(userId, '/request-access', text);
  const answer = await bot.fake.waitForResponse(answersTo(reply.responseUrl));
  return String(answer.body.text);
}

async function events(bot: RunningBot, subject: string) {
  await bot.gatehouse.audit.flush();
  return bot.t.db
    .selectFrom('audit_log')
    .select(['actor', 'action', 'body'])
    .where('subject', '=', subject)
    .orderBy('seq')
    .execute();
}

function problemsOf(text: string): string[] {
  try {
    parsePolicy(text, 'gatehouse.yml');
  } catch (error) {
    if (error instanceof PolicyError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}

describe('the policy keys of asking well', () => {
  it('says which ticket pattern, example, link or escalation is wrong, and where', () => {
    const bad = POLICY.replace('"^(INC|CHG)-\\\\d+$"', '"^(INC|CHG-\\\\d+$"')
      .replace('escalate_to: fallback', 'escalate_to: nightwatch')
      .replace('https://tracker.example/browse/{ticket}?a=1&b=2', 'tracker/browse');
    const problems = problemsOf(bad);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(
      /^resources\[0\]\.ticket\.pattern: .* is not a regular expression \(Invalid regular expression/,
    );
    expect(problems[1]).toMatch(/^resources\[0\]\.ticket\.url: "tracker\/browse" is not a link template/);
    expect(problems[2]).toMatch(
      /^resources\[0\]\.escalate_to: "nightwatch" is not a defined group \(defined groups: contractors, db-owners, fallback\)/,
    );
    expect(problemsOf(POLICY.replace('example: INC-123', 'example: BUG-1'))).toEqual([
      'resources[0].ticket.example: "BUG-1" does not match the pattern ^(INC|CHG)-\\d+$: give an example it accepts',
    ]);
    expect(problemsOf(POLICY.replace('    escalate_to: fallback\n', ''))).toEqual([
      'resources[0].escalate_to: is required with the other: give both escalate_after (like 30m) and escalate_to (a group name)',
    ]);
    expect(problemsOf(POLICY.replace('request_ttl: 2h', 'request_ttl: 30m'))).toEqual([
      'resources[0].escalate_after: is 30m, but an unanswered request expires after 30m (request_ttl): it would never escalate. Make it shorter than request_ttl',
    ]);
    expect(problemsOf(POLICY.replace('ticket: {', 'ticket: { patern: x,'))[0]).toMatch(
      /^resources\[0\]\.ticket\.patern: unknown key "patern" \(did you mean pattern\?\)/,
    );
  });
});

describe('asking well through Slack', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot({ policy: POLICY });
  });
  afterAll(async () => bot.stop());

  it('refuses a request without a matching ticket, saying the pattern and an example, and records nothing', async () => {
    expect(await command(bot, ana, 'prod-db 1h failing over the primary')).toBe(
      '*Production database* (`prod-db`) needs a ticket reference matching `^(INC|CHG)-\\d+$`, like `INC-123`. Nothing was recorded. ' +
        'In a command, put it after the duration (`/request-access prod-db 1h INC-123 &lt;reason&gt;`) or give `--ticket INC-123`; in the form, in the Ticket field.',
    );
    expect(await command(bot, ana, 'prod-db 1h --ticket BUG-7 failing over')).toMatch(
      /^`BUG-7` is not a ticket \*Production database\* \(`prod-db`\) accepts: it needs one matching/,
    );
    const filed = await bot.t.db.selectFrom('access_requests').select('id').where('requester', '=', ana).execute();
    expect(filed).toEqual([]);
    await bot.gatehouse.audit.flush();
    const created = await bot.t.db
      .selectFrom('audit_log')
      .select('seq')
      .where('action', '=', 'request.created')
      .execute();
    expect(created).toEqual([]);
  });

  it('files the ticket, links it on the card and the DM, says it in the audit channel; escalates once to the fallback group, whose approval counts', async () => {
    const id = await fileRequest(bot, ana, 'prod-db 1h INC-4711 failing over the primary');
    const link = '<https://tracker.example/browse/INC-4711?a=1&amp;b=2|INC-4711>';
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(dana, id));
    const card = bot.fake.message(cardFor(bot.fake, dana, id).channel, cardFor(bot.fake, dana, id).ts)!;
    expect(JSON.stringify(card.blocks)).toContain(`🎫 *Ticket:* ${link}`);
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /was sent to 2 approvers/));
    const dm = bot.fake.dmsTo(ana).find((m) => JSON.stringify(m.blocks).includes(link));
    expect(dm).toBeDefined();
    // The ticket was the reason's first word: the reason is the rest.
    const request = await bot.gatehouse.access.findRequest(id as never);
    expect(request?.reason).toBe('failing over the primary');
    const [created] = await events(bot, id);
    expect(created?.action).toBe('request.created');
    expect(created?.body).toMatchObject({
      ticket: 'INC-4711',
      escalate_to: 'fallback',
      escalate_after_ms: 30 * MINUTE,
    });

    // Before the escalation, the fallback group may not decide.
    const early = await bot.slack.clickButton({
      userId: fatima,
      actionId: ACTION.approve,
      value: id,
      message: cardFor(bot.fake, dana, id),
    });
    expect(String((await bot.fake.waitForResponse(answersTo(early.responseUrl))).body.text)).toMatch(/only|owner/i);
    await approveFromCard(bot, dana, id);
    await bot.fake.waitForCall('chat.update', (c) =>
      JSON.stringify(c.args.blocks).includes(`1 of 2 approvals: <@${dana}>`),
    );

    // Thirty minutes on (a test clock), two replicas' sweeps at once: one escalation.
    const later = { ...bot.gatehouse.access.ctx, now: () => new Date(Date.now() + 31 * MINUTE) };
    const counts = await Promise.all([escalateWaiting(later), escalateWaiting(later)]);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
    expect(await escalateWaiting(later)).toBe(0);

    const escalated = /Escalated to \*@fallback\* after 30m with no answer/;
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(fatima, id));
    expect(
      JSON.stringify(bot.fake.message(cardFor(bot.fake, fatima, id).channel, cardFor(bot.fake, fatima, id).ts)!.blocks),
    ).toMatch(escalated);
    for (const owner of [dana, emil]) {
      const copy = cardFor(bot.fake, owner, id);
      await bot.fake.waitForCall(
        'chat.update',
        (c) => c.args.ts === copy.ts && escalated.test(JSON.stringify(c.args.blocks)),
      );
    }
    await approveFromCard(bot, fatima, id);
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /approved/));
    expect((await bot.gatehouse.access.findRequest(id as never))?.status).toBe('approved');

    const recorded = await events(bot, id);
    expect(recorded.map((e) => [e.actor, e.action])).toEqual([
      [ana, 'request.created'],
      [fatima, 'approval.refused'],
      [dana, 'approval.recorded'],
      ['system', 'request.escalated'],
      [fatima, 'approval.recorded'],
      [fatima, 'request.approved'],
    ]);
    expect(recorded[3]!.body).toEqual({
      resource: 'prod-db',
      to: 'fallback',
      after_ms: 30 * MINUTE,
      approvers: [dana, emil, fatima],
    });

    await bot.settle();
    const feed = JSON.stringify(bot.fake.messagesIn(AUDIT_CHANNEL).map((m) => m.blocks));
    expect(feed).toContain('for ticket `INC-4711`');
    expect(feed).toContain('Gatehouse sent a pending request to @fallback as well: nobody answered in 30 min.');
  });

  it('opens the form with a Ticket field when the command is incomplete, and files from it once the ticket matches', async () => {
    const reply = await bot.slack.command(bram, '/request-access', 'prod-db --ticket CHG-77');
    const opened = await bot.fake.waitForCall('views.open', (c) => c.args.trigger_id === reply.triggerId);
    const view = opened.args.view as { callback_id: string; blocks: { block_id?: string; hint?: { text: string } }[] };
    expect(view.callback_id).toBe(VIEW.requestModal);
    const field = view.blocks.find((b) => b.block_id === REQUEST_MODAL.ticket.block);
    expect(field?.hint?.text).toBe('A ticket reference is needed for prod-db: ^(INC|CHG)-\\d+$ (like INC-123).');
    expect(JSON.stringify(field)).toContain('"initial_value":"CHG-77"');
    const form = (ticket: string) => ({
      [REQUEST_MODAL.resource.block]: {
        [REQUEST_MODAL.resource.action]: { type: 'static_select', selected_option: { value: 'prod-db' } },
      },
      [REQUEST_MODAL.reason.block]: {
        [REQUEST_MODAL.reason.action]: { type: 'plain_text_input', value: 'rotate keys' },
      },
      [REQUEST_MODAL.ticket.block]: { [REQUEST_MODAL.ticket.action]: { type: 'plain_text_input', value: ticket } },
    });
    const wrong = await bot.slack.submitView({ userId: bram, callbackId: VIEW.requestModal, values: form('chg 77') });
    expect(wrong.body).toMatchObject({ response_action: 'errors' });
    expect(JSON.stringify(wrong.body)).toContain(REQUEST_MODAL.ticket.block);
    const right = await bot.slack.submitView({ userId: bram, callbackId: VIEW.requestModal, values: form('CHG-77') });
    expect(right.body).toBeFalsy();
    const filed = await bot.t.db
      .selectFrom('access_requests')
      .select(['ticket', 'reason'])
      .where('requester', '=', bram)
      .where('resource_id', '=', 'prod-db')
      .executeTakeFirstOrThrow();
    expect(filed).toEqual({ ticket: 'CHG-77', reason: 'rotate keys' });
  });

  it('asks no ticket of a resource without the rule', async () => {
    const id = await fileRequest(bot, bram, 'staging-db 30m INC-1 look at the slow query');
    expect((await bot.gatehouse.access.findRequest(id as never))?.reason).toBe('INC-1 look at the slow query');
  });
});
