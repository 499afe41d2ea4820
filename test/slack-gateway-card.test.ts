import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSessionEnd, recordSessionStart } from '../src/access/gateway-sessions.ts';
import type { GrantId, RequestId, SlackUserId } from '../src/access/ids.ts';
import type { AccessRequest } from '../src/access/types.ts';
import { blockKitProblems, blockTexts } from '../src/sandbox/fake-slack/block-kit-limits.ts';
import type { RecordedCall } from '../src/sandbox/fake-slack/fake-slack.ts';
import { ACTION, approvalCard, formatWhen, outcomeLine } from '../src/slack/blocks/index.ts';
import { aShownSession } from './support/fixtures.ts';
import { PEOPLE } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import {
  AUDIT_CHANNEL,
  answered,
  answersTo,
  buttonsIn,
  cardFor,
  cardPostedTo,
  fileRequest,
} from './support/slack-stories.ts';

// Bram asks for the staging database; Dana approves on her card. Dana, Emil and Ana own it and each has a card.
const { ana, bram, dana, emil, mallory } = PEOPLE;
const OWNERS = [dana, emil, ana];

const LIVE_HEADING = '*Live database sessions* with this access';
const shownText = (blocks: unknown) => JSON.stringify(blocks);

describe("the owners' approval card of a request whose grant has live gateway sessions", () => {
  let bot: RunningBot;
  let requestId: RequestId;
  let grantId: GrantId;
  let cards: Map<SlackUserId, { channel: string; ts: string }>;
  let cancelPid = 200;

  beforeAll(async () => {
    bot = await startBot();
    requestId = (await fileRequest(bot, bram, 'staging-db 1h check the invoice totals')) as RequestId;
    for (const owner of OWNERS) await bot.fake.waitForCall('chat.postMessage', cardPostedTo(owner, requestId));
    cards = new Map(OWNERS.map((owner) => [owner, cardFor(bot.fake, owner, requestId)]));
    await bot.slack.clickButton({
      userId: dana,
      actionId: ACTION.approve,
      value: requestId,
      message: cards.get(dana)!,
    });
    for (const owner of OWNERS) await cardUpdated(owner, 0, (blocks) => shownText(blocks).includes('Approved by'));
    grantId = (
      await bot.t.db.selectFrom('grants').select('id').where('request_id', '=', requestId).executeTakeFirstOrThrow()
    ).id;
  });
  afterAll(async () => bot.stop());

  /** The update of `owner`'s card, after call number `since`, whose blocks `match` accepts. */
  const cardUpdated = (owner: SlackUserId, since: number, match: (blocks: unknown) => boolean) =>
    bot.fake.waitForCall(
      'chat.update',
      (c: RecordedCall) =>
        answered(c) &&
        c.args.channel === cards.get(owner)!.channel &&
        c.args.ts === cards.get(owner)!.ts &&
        bot.fake.calls.indexOf(c) >= since &&
        match(c.args.blocks),
    );

  async function sessionStarted(id: string, applicationName: string): Promise<void> {
    cancelPid += 1;
    await recordSessionStart(bot.t.db, {
      id,
      grantId,
      userId: bram,
      resourceId: 'staging-db',
      replica: 'gw-test',
      clientAddress: '10.0.0.7',
      applicationName,
      cancelKey: { pid: cancelPid, secret: 7 },
      upstreamKey: { pid: cancelPid, secret: 8 },
    });
  }

  const session = (id: string) =>
    bot.t.db.selectFrom('gateway_sessions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  const endRequestEvents = async (sessionId: string) => {
    await bot.gatehouse.audit.flush();
    return bot.t.db
      .selectFrom('audit_log')
      .select(['actor', 'subject'])
      .where('action', '=', 'gateway.end_requested')
      .where('subject', '=', sessionId)
      .execute();
  };

  const summariesOf = (sessionId: string) =>
    bot.fake.messagesIn(AUDIT_CHANNEL).filter((m) => shownText(m.blocks).includes(`Session \`${sessionId}\``));

  /** Every queued notification of `kind` delivered (marked done a moment after Slack answered). */
  async function delivered(kind: string): Promise<void> {
    const waiting = () =>
      bot.t.db.selectFrom('outbox').select('id').where('done_at', 'is', null).where('kind', '=', kind).execute();
    while ((await waiting()).length > 0) await new Promise((resolve) => setImmediate(resolve));
  }

  it("shows a session on every owner's card once it starts: holder, start, client, and End session", async () => {
    const since = bot.fake.calls.length;
    await sessionStarted('ses_card', 'psql');
    const started = (await session('ses_card')).started_at;

    for (const owner of OWNERS) {
      const update = await cardUpdated(owner, since, (blocks) => shownText(blocks).includes('ses_card'));
      const texts = blockTexts(update.args.blocks);
      expect(texts).toContain(`✅ Approved by <@U0DANA001> at ${formatWhen((await request()).decidedAt!)}`);
      expect(texts).toContain(LIVE_HEADING);
      expect(texts).toContain(
        `🟢 <@U0BRAM001> on *Staging database* (\`staging-db\`)\nStarted ${formatWhen(started)} · via psql from 10.0.0.7`,
      );
      expect(buttonsIn(update.args.blocks)).toEqual([
        { actionId: ACTION.endGatewaySession, text: 'End session', value: 'ses_card' },
      ]);
      expect(shownText(update.args.blocks)).toContain('End this session?');
    }
  });

  it('keeps the first session when the card is redrawn for a second, oldest first', async () => {
    const since = bot.fake.calls.length;
    await sessionStarted('ses_card_2', 'DBeaver 23.1');
    for (const owner of OWNERS) {
      const update = await cardUpdated(owner, since, (blocks) => shownText(blocks).includes('ses_card_2'));
      expect(buttonsIn(update.args.blocks).map((b) => b.value)).toEqual(['ses_card', 'ses_card_2']);
      expect(blockTexts(update.args.blocks).filter((t) => t === LIVE_HEADING)).toHaveLength(1);
    }
  });

  it('refuses End session on the card to a stranger and to the holder, changing nothing', async () => {
    for (const who of [mallory, bram]) {
      const click = await bot.slack.clickButton({
        userId: who,
        actionId: ACTION.endGatewaySession,
        value: 'ses_card',
        message: cards.get(dana)!,
      });
      expect(click.status).toBe(200);
      const answer = await bot.fake.waitForResponse(answersTo(click.responseUrl));
      expect(answer.body.text).toBe(
        '⛔ Only the owners of Staging database can end its sessions: <@U0ANA0001>, <@U0DANA001> and <@U0EMIL001>. If this one should end, ask one of them.',
      );
    }
    expect(await session('ses_card')).toMatchObject({ end_requested_at: null, end_requested_by: null });
    expect(await endRequestEvents('ses_card')).toEqual([]);
  });

  it('records the end when an owner presses End session on their card, and answers under it', async () => {
    const click = await bot.slack.clickButton({
      userId: emil,
      actionId: ACTION.endGatewaySession,
      value: 'ses_card',
      message: cards.get(emil)!,
    });
    expect(click.status).toBe(200);
    const answer = await bot.fake.waitForResponse(answersTo(click.responseUrl));
    expect(answer.body.text).toBe("⏳ Ending <@U0BRAM001>'s session on Staging database…");
    expect((await session('ses_card')).end_requested_by).toBe(emil);
    expect(await endRequestEvents('ses_card')).toEqual([{ actor: emil, subject: 'ses_card' }]);
  });

  it('takes an ended session off every card, retrying the cards before the one summary is posted', async () => {
    // The first card update fails: the delivery is tried again, and the summary is still posted once.
    bot.fake.failNext('chat.update', { status: 500 });
    const since = bot.fake.calls.length;
    await recordSessionEnd(bot.t.db, 'ses_card', { reason: 'ended_by_owner', statements: 12, rows: 3, refused: 0 });

    for (const owner of OWNERS) {
      const update = await cardUpdated(owner, since, (blocks) => !shownText(blocks).includes('"ses_card"'));
      expect(buttonsIn(update.args.blocks).map((b) => b.value)).toEqual(['ses_card_2']);
    }
    await delivered('notify_gateway_session_ended');
    expect(bot.fake.callsTo('chat.update').filter((c) => c.failed)).toHaveLength(1);
    expect(summariesOf('ses_card')).toHaveLength(1);
  });

  it('shows no live sessions once the last has ended, and a card deleted meanwhile holds nothing back', async () => {
    bot.fake.failNext('chat.update', { error: 'message_not_found' });
    const since = bot.fake.calls.length;
    await recordSessionEnd(bot.t.db, 'ses_card_2', { reason: 'client_closed', statements: 4, rows: 40, refused: 0 });

    const gone = await bot.fake.waitForCall(
      'chat.update',
      (c) => c.error === 'message_not_found' && bot.fake.calls.indexOf(c) >= since,
    );
    for (const owner of OWNERS.filter((o) => cards.get(o)!.ts !== gone.args.ts)) {
      const update = await cardUpdated(owner, since, (blocks) => !shownText(blocks).includes('ses_card_2'));
      expect(buttonsIn(update.args.blocks)).toEqual([]);
      expect(blockTexts(update.args.blocks)).not.toContain(LIVE_HEADING);
      // Nothing of sessions is left between the outcome and the request id that ends the card.
      expect(blockTexts(update.args.blocks).slice(-2)).toEqual([
        outcomeLine(await request()),
        `Request \`${requestId}\``,
      ]);
    }
    await delivered('notify_gateway_session_ended');
    expect(summariesOf('ses_card_2')).toHaveLength(1);
  });

  const request = async () => (await bot.gatehouse.access.findRequest(requestId))!;
});

describe('the live sessions on an approval card, as built', () => {
  const T0 = new Date('2026-01-02T10:00:00Z');
  const approved: AccessRequest = {
    id: 'req-1' as RequestId,
    requester: 'U0ALICE' as SlackUserId,
    resourceId: 'prod-db',
    resourceName: 'Production database',
    durationMs: 3_600_000,
    reason: 'x'.repeat(5000),
    status: 'approved',
    approvalsRequired: 1,
    approvals: [{ approver: 'U0BOB' as SlackUserId, at: T0 }],
    createdAt: T0,
    expiresAt: T0,
    decidedAt: T0,
    decidedBy: 'U0BOB',
    denyReason: null,
    extendsGrantId: null,
  };
  const aSession = (n: number) =>
    aShownSession(n, { resource: { id: 'prod-db', name: 'Production database' }, userId: 'U0ALICE', t0: T0 });

  it("lists five with End session, then how many more, inside Slack's limits", () => {
    const card = approvalCard(approved, { liveSessions: Array.from({ length: 7 }, (_, i) => aSession(i + 1)) });
    expect(blockKitProblems('message', card.blocks)).toEqual([]);
    expect(buttonsIn(card.blocks).map((b) => b.value)).toEqual(['ses_1', 'ses_2', 'ses_3', 'ses_4', 'ses_5']);
    expect(blockTexts(card.blocks)).toContain('…and 2 more. The oldest are shown first; your Home tab lists more.');
  });

  it('shows nothing of sessions when there are none', () => {
    expect(approvalCard(approved, { liveSessions: [] })).toEqual(approvalCard(approved));
  });
});
