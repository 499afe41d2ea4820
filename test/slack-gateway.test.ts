import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noteRefusal, recordSessionEnd, recordSessionStart, touchSessions } from '../src/access/gateway-sessions.ts';
import type { GrantId } from '../src/access/ids.ts';
import { formatDuration } from '../src/config/duration.ts';
import type { RecordedCall, SlackView } from '../src/sandbox/fake-slack/fake-slack.ts';
import { ACTION } from '../src/slack/blocks/ids.ts';
import { formatWhen } from '../src/slack/blocks/text.ts';
import { PEOPLE } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { AUDIT_CHANNEL, answered, buttonsIn, dmTo } from './support/slack-stories.ts';

// Staging database: owned by Dana, Emil and Ana; Bram holds a grant and connects through the gateway.
const { ana, bram, dana, emil, fatima, mallory } = PEOPLE;

const textOfView = (view: unknown) => JSON.stringify(view);
const sectionTexts = (blocks: unknown) =>
  (blocks as { type: string; text?: { text: string } }[]).flatMap((b) =>
    b.type === 'section' && b.text ? [b.text.text] : [],
  );

describe('database sessions through the gateway, in Slack', () => {
  let bot: RunningBot;
  let grantId: GrantId;
  let cancelPid = 100;

  beforeAll(async () => {
    bot = await startBot();
    const asked = await bot.gatehouse.access.request({
      requester: bram,
      resourceId: 'staging-db',
      reason: 'check the invoice totals',
    });
    const approved = asked.ok ? await bot.gatehouse.access.approve(asked.request.id, dana) : null;
    if (!approved?.ok || !approved.grant) throw new Error('the grant for the gateway sessions was not made');
    grantId = approved.grant.id;
    // Its DMs and Home refreshes are out of the way before the stories look at Home tabs.
    await outboxDelivered();
  });
  afterAll(async () => bot.stop());

  /** A session the gateway opened for Bram on staging-db, as a replica records it. */
  async function sessionStarted(id: string): Promise<void> {
    cancelPid += 1;
    await recordSessionStart(bot.t.db, {
      id,
      grantId,
      userId: bram,
      resourceId: 'staging-db',
      replica: 'gw-test',
      clientAddress: '10.0.0.7',
      applicationName: 'psql',
      cancelKey: { pid: cancelPid, secret: 7 },
      upstreamKey: { pid: cancelPid, secret: 8 },
    });
  }

  /** Every queued notification delivered (marked done a moment after Slack answered). */
  async function outboxDelivered(kind?: string): Promise<void> {
    const waiting = () => {
      let query = bot.t.db.selectFrom('outbox').select('id').where('done_at', 'is', null);
      if (kind) query = query.where('kind', '=', kind);
      return query.execute();
    };
    while ((await waiting()).length > 0) await new Promise((resolve) => setImmediate(resolve));
  }

  const session = (id: string) =>
    bot.t.db.selectFrom('gateway_sessions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  /** The Home tab published for `userId` after call number `since` that `match` accepts. */
  const publishedFor = (userId: string, since: number, match: (view: SlackView) => boolean) =>
    bot.fake.waitForCall(
      'views.publish',
      (c: RecordedCall) =>
        answered(c) &&
        c.args.user_id === userId &&
        bot.fake.calls.indexOf(c) >= since &&
        match(c.args.view as SlackView),
    );

  async function openHome(userId: string): Promise<SlackView> {
    const since = bot.fake.calls.length;
    expect((await bot.slack.homeOpened(userId)).status).toBe(200);
    await publishedFor(userId, since, () => true);
    return bot.fake.homeOf(userId)!;
  }

  const endRequestEvents = async (sessionId: string) => {
    await bot.gatehouse.audit.flush();
    return bot.t.db
      .selectFrom('audit_log')
      .select(['actor', 'subject', 'body'])
      .where('action', '=', 'gateway.end_requested')
      .where('subject', '=', sessionId)
      .execute();
  };

  it("shows an owner the live sessions on what they own, with End session, and no one else's Home shows them", async () => {
    await sessionStarted('ses_home');
    await touchSessions(bot.t.db, [{ id: 'ses_home', statements: 0, rows: 0, refused: 0 }]);
    const started = (await session('ses_home')).started_at;

    for (const owner of [dana, emil]) {
      const home = await openHome(owner);
      expect(sectionTexts(home.blocks)).toContain(
        `🟢 <@U0BRAM001> on *Staging database* (\`staging-db\`)\nStarted ${formatWhen(started)} · via psql from 10.0.0.7`,
      );
      expect(buttonsIn(home.blocks).filter((b) => b.actionId === ACTION.endGatewaySession)).toEqual([
        { actionId: ACTION.endGatewaySession, text: 'End session', value: 'ses_home' },
      ]);
    }
    // The holder, an auditor and a stranger own nothing here: no section, no button.
    for (const other of [bram, fatima, mallory]) {
      const home = await openHome(other);
      expect(textOfView(home)).not.toContain('ses_home');
      expect(textOfView(home)).not.toContain('Live database sessions');
    }
  });

  it("refuses a stranger's forged End session, and the holder's own, changing nothing", async () => {
    const danaHome = bot.fake.homeOf(dana)!;
    for (const who of [mallory, bram]) {
      const click = await bot.slack.clickButton({
        userId: who,
        actionId: ACTION.endGatewaySession,
        value: 'ses_home',
        view: { id: danaHome.id },
      });
      expect(click.status).toBe(200);
      const answer = await bot.fake.waitForCall('chat.postMessage', dmTo(who, /Only the owners/));
      expect(answer.args.text).toBe(
        '⛔ Only the owners of Staging database can end its sessions: <@U0ANA0001>, <@U0DANA001> and <@U0EMIL001>. If this one should end, ask one of them.',
      );
    }
    expect(await session('ses_home')).toMatchObject({ end_requested_at: null, end_requested_by: null, ended_at: null });
    expect(await endRequestEvents('ses_home')).toEqual([]);
  });

  it("ends a session when an owner presses End session: recorded, shown as ending, and a second owner's click is told so", async () => {
    await touchSessions(bot.t.db, [{ id: 'ses_home', statements: 0, rows: 0, refused: 0 }]);
    const danaHome = await openHome(dana);
    const emilStale = await openHome(emil);

    const since = bot.fake.calls.length;
    const click = await bot.slack.clickButton({
      userId: dana,
      actionId: ACTION.endGatewaySession,
      value: 'ses_home',
      view: { id: danaHome.id },
    });
    expect(click.status).toBe(200);
    const redrawn = await publishedFor(dana, since, (view) => textOfView(view).includes('Ending'));
    const ending = await session('ses_home');
    expect(ending.end_requested_by).toBe(dana);
    expect(ending.end_requested_at).toBeInstanceOf(Date);
    expect(sectionTexts((redrawn.args.view as SlackView).blocks)).toContain(
      `⏳ Ending <@U0BRAM001>'s session on *Staging database* (\`staging-db\`)… asked by <@U0DANA001> ${formatWhen(ending.end_requested_at!)}\n` +
        `Started ${formatWhen(ending.started_at)} · via psql from 10.0.0.7`,
    );
    expect(buttonsIn((redrawn.args.view as SlackView).blocks).map((b) => b.actionId)).not.toContain(
      ACTION.endGatewaySession,
    );
    expect(await endRequestEvents('ses_home')).toEqual([
      { actor: dana, subject: 'ses_home', body: { grant: grantId, resource: 'staging-db', user: bram } },
    ]);

    // Emil still has the tab from before: his click changes nothing and says who asked.
    await bot.slack.clickButton({
      userId: emil,
      actionId: ACTION.endGatewaySession,
      value: 'ses_home',
      view: { id: emilStale.id },
    });
    const told = await bot.fake.waitForCall('chat.postMessage', dmTo(emil, /already ending/));
    expect(told.args.text).toBe(
      `⏳ <@U0BRAM001>'s session on Staging database is already ending: <@U0DANA001> asked ${formatWhen(ending.end_requested_at!)}.`,
    );
    expect(await session('ses_home')).toMatchObject({
      end_requested_by: dana,
      end_requested_at: ending.end_requested_at,
    });
    expect(await endRequestEvents('ses_home')).toHaveLength(1);
    // Dana was answered by her redrawn tab, not by a message.
    expect(bot.fake.dmsTo(dana).filter((m) => /Ending/.test(m.text))).toEqual([]);
  });

  it("posts one summary to the audit channel when the session ends, and redraws the owners' Home tabs without it", async () => {
    await bot.t.db
      .updateTable('gateway_sessions')
      .set((eb) => ({ started_at: eb.val(new Date(Date.now() - (12 * 60 + 3) * 1000)) }))
      .where('id', '=', 'ses_home')
      .execute();
    const since = bot.fake.calls.length;
    const end = { reason: 'ended_by_owner', statements: 14, rows: 1203, refused: 1 } as const;
    await recordSessionEnd(bot.t.db, 'ses_home', end);
    // The replica reporting the end twice changes nothing.
    await recordSessionEnd(bot.t.db, 'ses_home', end);

    const post = await bot.fake.waitForCall(
      'chat.postMessage',
      (c) => answered(c) && c.args.channel === AUDIT_CHANNEL && /^⚪ Database session of/.test(String(c.args.text)),
    );
    const ended = await session('ses_home');
    const duration = formatDuration(ended.ended_at!.getTime() - ended.started_at.getTime());
    expect(duration).toMatch(/^12m\ds$/);
    expect(post.args.text).toBe(
      `⚪ Database session of <@U0BRAM001> on Staging database ended (ended by <@U0DANA001>): ${duration}, 14 statements, 1,203 rows, 1 refused.`,
    );
    expect(sectionTexts(post.args.blocks)).toEqual([
      '⚪ *Database session ended*: <@U0BRAM001> on *Staging database* (`staging-db`)\n' +
        '*How it ended:* ended by <@U0DANA001>\n' +
        `*Duration:* ${duration}, from ${formatWhen(ended.started_at)} to ${formatWhen(ended.ended_at!)}\n` +
        '*Statements:* 14 · *Rows:* 1,203 · *Refused:* 1',
    ]);
    expect(JSON.stringify(post.args.blocks)).toContain(
      `Session \`ses_home\` · grant \`${grantId}\` · via psql from 10.0.0.7`,
    );

    for (const owner of [ana, dana, emil])
      await publishedFor(owner, since, (view) => !textOfView(view).includes('ses_home'));

    // One summary for the session, whatever its statements: one outbox row, delivered once.
    const queued = await bot.t.db
      .selectFrom('outbox')
      .select('id')
      .where('kind', '=', 'notify_gateway_session_ended')
      .execute();
    expect(queued).toHaveLength(1);
    await outboxDelivered('notify_gateway_session_ended');
    expect(bot.fake.messagesIn(AUDIT_CHANNEL).filter((m) => /^⚪ Database session of/.test(m.text))).toHaveLength(1);
  });

  it('posts a refused statement to the audit channel at once: who, where, the statement, the rule and why', async () => {
    await sessionStarted('ses_refused');
    await noteRefusal(bot.t.db, {
      sessionId: 'ses_refused',
      n: 3,
      rule: 'read_only',
      reason: 'cannot execute UPDATE in a read-only transaction',
      sql: "update invoices set total = 0 where note = '<!channel> & ```'",
    });
    const post = await bot.fake.waitForCall(
      'chat.postMessage',
      (c) => answered(c) && c.args.channel === AUDIT_CHANNEL && /^⛔ Statement refused/.test(String(c.args.text)),
    );
    expect(post.args.text).toBe('⛔ Statement refused for <@U0BRAM001> on Staging database (rule read_only).');
    expect(sectionTexts(post.args.blocks)).toEqual([
      '⛔ *Statement refused* for <@U0BRAM001> on *Staging database* (`staging-db`): it never reached the database.\n' +
        '*Why:* cannot execute UPDATE in a read-only transaction (rule `read_only`)',
      "```\nupdate invoices set total = 0 where note = '&lt;!channel&gt; &amp; `\u200b`\u200b`'\n```",
    ]);
    expect(JSON.stringify(post.args.blocks)).toContain('Statement 3 of session `ses_refused`');
    // The session goes on: a refusal ends nothing.
    expect(await session('ses_refused')).toMatchObject({ ended_at: null });
  });
});
