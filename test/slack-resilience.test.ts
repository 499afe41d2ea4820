import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTION } from '../src/slack/blocks/ids.ts';
import { PEOPLE } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { FakeSlack } from '../src/sandbox/fake-slack/fake-slack.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import {
  AUDIT_CHANNEL,
  answered,
  answersTo,
  cardFor,
  cardPostedTo,
  dmTo,
  fileRequest,
  postedSeqs,
} from './support/slack-stories.ts';

const { ana, bram, dana, emil } = PEOPLE;

/** Every seq from 1 to the head, in order, once: what the audit channel must show. */
async function expectChannelShowsWholeLog(bot: RunningBot): Promise<void> {
  await bot.settle();
  const head = (await bot.gatehouse.audit.verify()).headSeq ?? 0;
  expect(head).toBeGreaterThan(0);
  expect(postedSeqs(bot.fake)).toEqual(Array.from({ length: head }, (_, i) => i + 1));
}

async function auditCount(bot: RunningBot, action: string, subject: string): Promise<number> {
  await bot.gatehouse.audit.flush();
  const rows = await bot.t.db
    .selectFrom('audit_log')
    .select('seq')
    .where('action', '=', action)
    .where('subject', '=', subject)
    .execute();
  return rows.length;
}

async function grantsOf(bot: RunningBot, requestId: string) {
  return bot.t.db.selectFrom('grants').selectAll().where('request_id', '=', requestId).execute();
}

/** Each pattern matches exactly one of the user's DMs, and there are no others. */
function expectDMs(fake: FakeSlack, userId: string, patterns: RegExp[]): void {
  const texts = fake.dmsTo(userId).map((m) => m.text);
  expect(texts, `DMs to ${userId}`).toHaveLength(patterns.length);
  for (const pattern of patterns)
    expect(
      texts.filter((text) => pattern.test(text)),
      `${userId}: ${pattern}`,
    ).toHaveLength(1);
}

describe('when Slack is down while things happen', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot();
    await bot.settle();
  });
  afterAll(async () => bot.stop());

  it(
    'delivers every DM and card once and posts every audit event once, in order, when Slack is back',
    { timeout: 60_000 },
    async () => {
      const { fake } = bot;
      fake.failNext('chat.postMessage', { status: 500 }, 2);
      fake.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
      fake.failNext('chat.postMessage', { status: 503 });
      fake.failNext('conversations.open', { status: 502 });
      fake.failNext('chat.update', { status: 500 });

      const staging = await fileRequest(bot, bram, 'staging-db 1h rebuild the search index');
      const prod = await fileRequest(bot, ana, 'prod-db 1h investigate slow checkout');

      // The cards get through once Slack answers again; the owners decide on them.
      await Promise.all(
        [dana, emil, ana].map((owner) =>
          fake.waitForCall('chat.postMessage', cardPostedTo(owner, staging), { timeoutMs: 25_000 }),
        ),
      );
      await Promise.all(
        [dana, emil].map((owner) =>
          fake.waitForCall('chat.postMessage', cardPostedTo(owner, prod), { timeoutMs: 25_000 }),
        ),
      );
      await bot.slack.clickButton({
        userId: dana,
        actionId: ACTION.approve,
        value: staging,
        message: cardFor(fake, dana, staging),
      });
      await bot.slack.clickButton({
        userId: dana,
        actionId: ACTION.approve,
        value: prod,
        message: cardFor(fake, dana, prod),
      });
      // Acked before it is handled, so Dana's and Emil's approvals of prod may commit in either order.
      await bot.slack.clickButton({
        userId: emil,
        actionId: ACTION.approve,
        value: prod,
        message: cardFor(fake, emil, prod),
      });

      await fake.waitForCall('chat.postMessage', dmTo(bram, /is active until/), { timeoutMs: 25_000 });
      await fake.waitForCall('chat.postMessage', dmTo(ana, /is active until/), { timeoutMs: 25_000 });
      const cards = [
        ...[dana, emil, ana].map((owner) => cardFor(fake, owner, staging)),
        ...[dana, emil].map((owner) => cardFor(fake, owner, prod)),
      ];
      await Promise.all(
        cards.map((card) =>
          fake.waitForCall(
            'chat.update',
            (c) => answered(c) && c.args.ts === card.ts && /Approved by/.test(String(c.args.text)),
          ),
        ),
      );

      // Deliveries retry on their own schedules: wait for each owed DM before counting them.
      const patient = { timeoutMs: 25_000 };
      await fake.waitForCall('chat.postMessage', dmTo(bram, /approved your request/), patient);
      await fake.waitForCall('chat.postMessage', dmTo(ana, /approved your request/), patient);
      await fake.waitForCall('chat.postMessage', dmTo(bram, /was sent to 3 approvers/), patient);
      await fake.waitForCall('chat.postMessage', dmTo(ana, /was sent to 2 approvers/), patient);

      // Slack really was down: every failure the fake was told to give, it gave.
      expect(fake.calls.filter((call) => call.failed)).toHaveLength(6);
      // Each card shows the outcome (the update that failed was redone from the current state).
      for (const card of cards) expect(fake.message(card.channel, card.ts)?.text).toMatch(/^✅ Approved by/);

      // The DM saying where the request went now says it was approved (it is updated, not sent again).
      expectDMs(fake, bram, [
        /Your request for .* was approved by <@U0DANA001>/,
        /<@U0DANA001> approved your request/,
        /is active until/,
      ]);
      const cardTexts = [
        /<@U0BRAM001>'s request for \*Staging database\*/,
        /<@U0ANA0001>'s request for \*Production database\*/,
      ];
      expectDMs(fake, ana, [
        /Your request for \*Production database\*.* was approved by/,
        /(<@U0DANA001> and <@U0EMIL001>|<@U0EMIL001> and <@U0DANA001>) approved your request/,
        /Your access to \*Production database\*.* is active until/,
        cardTexts[0]!,
      ]);
      expectDMs(fake, dana, cardTexts);
      expectDMs(fake, emil, cardTexts);

      await expectChannelShowsWholeLog(bot);
    },
  );
});

describe('approvals that race', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot();
  });
  afterAll(async () => bot.stop());

  it('counts a double click on Approve once and tells the second click it is already decided', async () => {
    const requestId = await fileRequest(bot, bram, 'staging-db 1h rotate the API keys');
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(dana, requestId));
    const card = cardFor(bot.fake, dana, requestId);

    const clicks = await Promise.all(
      [1, 2].map(() =>
        bot.slack.clickButton({ userId: dana, actionId: ACTION.approve, value: requestId, message: card }),
      ),
    );
    expect(clicks.map((c) => c.status)).toEqual([200, 200]);

    const answer = await bot.fake.waitForResponse((r) => clicks.some((c) => answersTo(c.responseUrl)(r)));
    expect(answer.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(String(answer.body.text)).toMatch(/is no longer pending: ✅ Approved by <@U0DANA001>/);
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /is active until/));
    expect(await grantsOf(bot, requestId)).toHaveLength(1);
    expect(await auditCount(bot, 'approval.recorded', requestId)).toBe(1);
    expect(await auditCount(bot, 'request.approved', requestId)).toBe(1);
    // The winning click is answered by the cards, not by an ephemeral.
    expect(bot.fake.responses.filter((r) => clicks.some((c) => answersTo(c.responseUrl)(r)))).toHaveLength(1);
  });

  it('lets exactly one of two owners who click at once approve, and tells the other who did', async () => {
    const requestId = await fileRequest(bot, ana, 'staging-db 1h check the replica lag');
    await Promise.all(
      [dana, emil].map((owner) => bot.fake.waitForCall('chat.postMessage', cardPostedTo(owner, requestId))),
    );

    const clicks = await Promise.all(
      [dana, emil].map((owner) =>
        bot.slack.clickButton({
          userId: owner,
          actionId: ACTION.approve,
          value: requestId,
          message: cardFor(bot.fake, owner, requestId),
        }),
      ),
    );
    const answer = await bot.fake.waitForResponse((r) => clicks.some((c) => answersTo(c.responseUrl)(r)));
    const request = await bot.gatehouse.access.findRequest(requestId);
    expect(request).toMatchObject({ status: 'approved' });
    const winner = request!.decidedBy!;
    const loser = winner === dana ? emil : dana;
    expect([dana, emil]).toContain(winner);
    expect(answersTo(clicks[loser === dana ? 0 : 1]!.responseUrl)(answer)).toBe(true);
    expect(String(answer.body.text)).toContain(`is no longer pending: ✅ Approved by <@${winner}>`);
    expect(request!.approvals.map((a) => a.approver)).toEqual([winner]);

    expect(await grantsOf(bot, requestId)).toHaveLength(1);
    expect(await auditCount(bot, 'request.approved', requestId)).toBe(1);
    // Both owners' cards end up showing who decided.
    for (const owner of [dana, emil]) {
      const card = cardFor(bot.fake, owner, requestId);
      await bot.fake.waitForCall(
        'chat.update',
        (c) => answered(c) && c.args.ts === card.ts && String(c.args.text).includes(`Approved by <@${winner}>`),
      );
    }
  });

  it('counts one owner twice on a quorum of two only once', async () => {
    const requestId = await fileRequest(bot, bram, 'prod-db 30m export the invoices');
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(dana, requestId));
    const card = cardFor(bot.fake, dana, requestId);

    const clicks = await Promise.all(
      [1, 2].map(() =>
        bot.slack.clickButton({ userId: dana, actionId: ACTION.approve, value: requestId, message: card }),
      ),
    );
    const answer = await bot.fake.waitForResponse((r) => clicks.some((c) => answersTo(c.responseUrl)(r)));
    expect(String(answer.body.text)).toMatch(/You already approved .* It needs 1 more approval from another owner/);
    expect(await bot.gatehouse.access.findRequest(requestId)).toMatchObject({
      status: 'pending',
      approvals: [{ approver: dana }],
    });

    // Each owner's card is its own outbox delivery: Emil's may come after Dana's clicks.
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(emil, requestId));
    await bot.slack.clickButton({
      userId: emil,
      actionId: ACTION.approve,
      value: requestId,
      message: cardFor(bot.fake, emil, requestId),
    });
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /Production database.*is active until/));
    expect(await grantsOf(bot, requestId)).toHaveLength(1);
    expect(await auditCount(bot, 'approval.recorded', requestId)).toBe(2);
  });
});

const CONTRACTORS = ['U0CON0001', 'U0CON0002', 'U0CON0003', 'U0CON0004', 'U0CON0005', 'U0CON0006'];

const SHARED_POLICY = `
audit_channel: C0AUDIT01
request_ttl: 1h
groups:
  contractors: [${CONTRACTORS.join(', ')}]
resources:
  - id: sandbox
    name: Sandbox
    owners: [${dana}]
    requesters: [contractors]
    default_duration: 30m
    max_duration: 1h
    provisioner: { kind: none }
`;

describe('two app processes on one database', () => {
  let fake: FakeSlack;
  let t: TestDatabase;
  let bots: RunningBot[];
  beforeAll(async () => {
    fake = await FakeSlack.start();
    t = await createTestDatabase({ migrate: false });
    // Expiry warnings off: a two-second grant may end before a sweep would warn about it.
    const options = { fake, t, policy: SHARED_POLICY, env: { EXPIRY_WARNING_MINUTES: '0' } };
    bots = [await startBot(options), await startBot(options)];
  });
  afterAll(async () => {
    for (const bot of bots ?? []) await bot.stop();
    await t?.destroy();
    await fake?.stop();
  });

  it('share the sweeps: each grant ends once, and each audit event is posted once', async () => {
    const via = (i: number) => bots[i % 2]!;
    const requestIds = await Promise.all(
      CONTRACTORS.map((user, i) => fileRequest(via(i), user, `sandbox 2s try build ${i}`)),
    );
    await Promise.all(requestIds.map((id) => fake.waitForCall('chat.postMessage', cardPostedTo(dana, id))));
    // Each approval goes to the other process than the request did.
    await Promise.all(
      requestIds.map((id, i) =>
        via(i + 1).slack.clickButton({
          userId: dana,
          actionId: ACTION.approve,
          value: id,
          message: cardFor(fake, dana, id),
        }),
      ),
    );

    await fake.waitForCall('chat.postMessage', (c) => answered(c) && /its time ran out/.test(String(c.args.text)), {
      count: CONTRACTORS.length,
    });
    const grants = await t.db.selectFrom('grants').select(['id', 'status', 'end_reason']).execute();
    expect(grants).toHaveLength(CONTRACTORS.length);
    expect(grants.every((g) => g.status === 'ended' && g.end_reason === 'expired')).toBe(true);
    for (const grant of grants) {
      expect(await auditCount(bots[0]!, 'grant.ending', grant.id)).toBe(1);
      expect(await auditCount(bots[0]!, 'grant.revoked', grant.id)).toBe(1);
    }
    for (const user of CONTRACTORS)
      // Each message follows the state: the request approved, the access ended, and the DM saying it ended.
      expectDMs(fake, user, [
        /^✅ Your request for .* was approved by/,
        /approved your request/,
        /^⚪ Access to .*: ended at .* \(its time ran out\)/,
        /^⚪ Your access to .* ended at .*: its time ran out/,
      ]);

    await bots[1]!.settle();
    await expectChannelShowsWholeLog(bots[0]!);
    expect(
      fake
        .messagesIn(AUDIT_CHANNEL)
        .map((m) => m.text)
        .join('\n')
        .match(/grant\.revoked/g),
    ).toHaveLength(CONTRACTORS.length);
  });
});

describe('a bot token Slack refuses', () => {
  it('stops the start with what to do, before anything tries to deliver with it', async () => {
    const fake = await FakeSlack.start();
    const t = await createTestDatabase({ migrate: false });
    try {
      // The audit feed would read the channel and post policy.loaded at once: with a bad token, nothing may try.
      fake.failNext('auth.test', { error: 'invalid_auth' });
      await expect(startBot({ fake, t })).rejects.toThrow(
        /Slack refused SLACK_BOT_TOKEN \(invalid_auth\): copy the Bot User OAuth Token again/,
      );
      expect(fake.calls.map((call) => call.method)).toEqual(['auth.test']);
    } finally {
      await fake.stop();
      await t.destroy();
    }
  });
});

describe('when the background thread dies', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot();
    await bot.settle();
  });
  afterAll(async () => bot.stop());

  it('starts it again, and what was committed meanwhile is chained, delivered and posted', async () => {
    // As if the thread crashed: end it from outside, as an uncaught error would.
    const { worker } = bot.gatehouse.background as unknown as { worker: Worker };
    await worker.terminate();
    // Until it is back, the app says it is not ready, and why.
    const readyz = async () => {
      const response = await fetch(`http://127.0.0.1:${bot.gatehouse.port}/readyz`);
      return { status: response.status, body: (await response.json()) as { reason?: string } };
    };
    expect(await readyz()).toMatchObject({
      status: 503,
      body: { reason: expect.stringContaining('background thread not running') },
    });
    // /verify-audit, which runs in the thread, runs here meanwhile.
    await expect(bot.gatehouse.background.verify({ publicKeyHex: null, anchors: [] })).rejects.toThrow('not running');
    const verify = await bot.slack.command(PEOPLE.fatima, '/verify-audit');
    await bot.fake.waitForResponse((r) => answersTo(verify.responseUrl)(r) && /whole/.test(String(r.body.text)));

    const request = await fileRequest(bot, bram, 'staging-db 1h while the thread restarts');
    await Promise.all(
      [dana, emil, ana].map((owner) =>
        bot.fake.waitForCall('chat.postMessage', cardPostedTo(owner, request), { timeoutMs: 15_000 }),
      ),
    );
    await bot.settle();
    await expectChannelShowsWholeLog(bot);
    expect((bot.gatehouse.background as unknown as { worker: Worker }).worker).not.toBe(worker);
    expect((await readyz()).status).toBe(200);
  });
});

describe('the background thread on Linux', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot();
  });
  afterAll(async () => bot.stop());

  it.runIf(process.platform === 'linux')('runs at nice 10, below the thread that answers Slack', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    /** Field 19 of /proc/…/stat, counted after the command name, which may hold spaces. */
    const niceOf = async (task: string) =>
      Number((await readFile(`/proc/self/task/${task}/stat`, 'utf8')).split(') ')[1]!.split(' ')[16]);
    const tasks = await readdir('/proc/self/task');
    const nices = await Promise.all(tasks.map(async (task) => ({ task, nice: await niceOf(task).catch(() => null) })));
    expect(await niceOf(String(process.pid))).toBe(0);
    expect(nices.some((t) => t.nice === 10)).toBe(true);
  });
});
