import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { isDatabaseUnavailable } from '../src/db/errors.ts';
import { createLogger } from '../src/log.ts';
import { ACTION, DENY_MODAL, REQUEST_MODAL, VIEW } from '../src/slack/blocks/ids.ts';
import { PEOPLE } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { answersTo, cardFor, cardPostedTo, dmTo, fileRequest } from './support/slack-stories.ts';
import { TcpProxy } from './support/tcp-proxy.ts';
import { captureLog } from './support/log-capture.ts';

const { ana, bram, dana } = PEOPLE;

const NOTHING_RECORDED = '⚠️ Nothing was recorded: Gatehouse could not reach its database. Try again in a minute.';
/** Each answer must come within Slack's 3 s, as a person would wait for it. */
const WITHIN_3S = { timeoutMs: 3000 };

const requestForm = (reason: string) => ({
  [REQUEST_MODAL.resource.block]: {
    [REQUEST_MODAL.resource.action]: { type: 'static_select', selected_option: { value: 'staging-db' } },
  },
  [REQUEST_MODAL.duration.block]: { [REQUEST_MODAL.duration.action]: { type: 'plain_text_input', value: '1h' } },
  [REQUEST_MODAL.reason.block]: { [REQUEST_MODAL.reason.action]: { type: 'plain_text_input', value: reason } },
});

describe('with the database gone in the middle of a run', () => {
  let t: TestDatabase;
  let proxy: TcpProxy;
  let bot: RunningBot;
  const log = captureLog();
  beforeAll(async () => {
    t = await createTestDatabase({ migrate: false });
    const direct = new URL(t.url);
    // The bot reaches PostgreSQL only through a relay the test can cut; the test reads it directly.
    proxy = await TcpProxy.start({ host: direct.hostname, port: Number(direct.port) });
    bot = await startBot({
      t,
      env: { DATABASE_URL: proxy.urlFor(t.url) },
      log: createLogger({ destination: log.stream, level: 'info' }),
    });
  });
  afterAll(async () => {
    proxy.restore();
    await bot.stop();
    await proxy.stop();
    await t.destroy();
  });

  it(
    'answers each command, click, form and Home tab at once, stays up, records nothing, and works again when the database is back',
    { timeout: 60_000 },
    async () => {
      const { fake, slack } = bot;
      const pending = await fileRequest(bot, bram, 'staging-db 1h rebuild the search index');
      await fake.waitForCall('chat.postMessage', cardPostedTo(dana, pending));
      const card = cardFor(fake, dana, pending);
      await bot.settle();
      const eventsBefore = (await t.db.selectFrom('audit_log').select('seq').execute()).length;

      proxy.cut();

      const command = await slack.command(ana, '/request-access', 'staging-db 1h look at the slow query');
      expect(command.status).toBe(200);
      expect((await fake.waitForResponse(answersTo(command.responseUrl), WITHIN_3S)).body).toMatchObject({
        response_type: 'ephemeral',
        text: NOTHING_RECORDED,
      });

      const listing = await slack.command(bram, '/access');
      expect((await fake.waitForResponse(answersTo(listing.responseUrl), WITHIN_3S)).body).toMatchObject({
        text: NOTHING_RECORDED,
      });

      const click = await slack.clickButton({ userId: dana, actionId: ACTION.approve, value: pending, message: card });
      expect((await fake.waitForResponse(answersTo(click.responseUrl), WITHIN_3S)).body).toMatchObject({
        response_type: 'ephemeral',
        replace_original: false,
        text: NOTHING_RECORDED,
      });

      // Forms stay open with the failure on a field, so nothing typed is lost.
      const form = await slack.submitView({
        userId: ana,
        callbackId: VIEW.requestModal,
        values: requestForm('look at the slow query'),
      });
      expect(form.body).toEqual({
        response_action: 'errors',
        errors: { [REQUEST_MODAL.resource.block]: NOTHING_RECORDED },
      });
      const denial = await slack.submitView({
        userId: dana,
        callbackId: VIEW.denyModal,
        privateMetadata: pending,
        values: {
          [DENY_MODAL.reason.block]: {
            [DENY_MODAL.reason.action]: { type: 'plain_text_input', value: 'use the replica' },
          },
        },
      });
      expect(denial.body).toEqual({
        response_action: 'errors',
        errors: { [DENY_MODAL.reason.block]: NOTHING_RECORDED },
      });

      await slack.homeOpened(bram);
      await fake.waitForCall(
        'views.publish',
        (c) => c.args.user_id === bram && JSON.stringify(c.args.view).includes('could not reach its database'),
        WITHIN_3S,
      );

      // The process is up and says it is not ready, without the database's host or port.
      expect((await fetch(`http://127.0.0.1:${bot.gatehouse.port}/healthz`)).status).toBe(200);
      const ready = await fetch(`http://127.0.0.1:${bot.gatehouse.port}/readyz`);
      expect(ready.status).toBe(503);
      const readyText = await ready.text();
      expect(JSON.parse(readyText)).toEqual({ status: 'not ready', reason: 'database unreachable' });
      expect(readyText).not.toContain(String(proxy.port));
      expect(readyText).not.toContain('127.0.0.1');
      // The details are for the operator, in the log.
      expect(log.lines().find((line) => line.msg === 'readiness check: the database did not answer')).toMatchObject({
        level: 40,
        err: { code: 'ECONNRESET' },
      });
      // The background thread rode it out too (a connection that broke while checked out used to end it).
      expect(log.lines().filter((line) => /background thread (failed|stopped)/.test(String(line.msg)))).toEqual([]);

      // Each failure is logged once, with the error, the person and the kind of failure.
      const failures = log.lines().filter((line) => line.msg === 'a Slack listener failed; telling the person');
      expect(failures.map((line) => line.userId).sort()).toEqual([ana, ana, bram, bram, dana, dana].sort());
      for (const line of failures)
        expect(line).toMatchObject({
          level: 50,
          failure: 'database',
          err: expect.objectContaining({ message: expect.any(String) }),
        });

      proxy.restore();

      // The same asks work again, and the card from before the cut still decides.
      const filed = await fileRequest(bot, ana, 'staging-db 1h look at the slow query');
      await slack.clickButton({ userId: dana, actionId: ACTION.approve, value: pending, message: card });
      await fake.waitForCall('chat.postMessage', dmTo(bram, /approved your request/), { timeoutMs: 30_000 });

      // Nothing of the cut is on the record: one request more (the one filed after), each with
      // its request.created, one approval (after), and the chain whole.
      await bot.settle();
      const requests = await t.db
        .selectFrom('access_requests')
        .select(['id', 'requester'])
        .orderBy('created_at')
        .execute();
      expect(requests.map((r) => r.id)).toEqual([pending, filed]);
      const created = await t.db
        .selectFrom('audit_log')
        .select('subject')
        .where('action', '=', 'request.created')
        .execute();
      expect(created.map((e) => e.subject).sort()).toEqual([pending, filed].sort());
      expect(await t.db.selectFrom('approvals').select(['request_id', 'approver']).execute()).toEqual([
        { request_id: pending, approver: dana },
      ]);
      expect(
        await t.db.selectFrom('audit_log').select('action').where('action', '=', 'request.denied').execute(),
      ).toEqual([]);
      const after = await t.db
        .selectFrom('audit_log')
        .select(['seq', 'action'])
        .where('seq', '>', eventsBefore)
        .orderBy('seq')
        .execute();
      expect(after.map((e) => e.action)).not.toContain('approval.refused');
      expect(await bot.gatehouse.audit.verify()).toMatchObject({ ok: true });
    },
  );

  it('keeps running when the database goes in the middle of a transaction', async () => {
    // A connection checked out of the pool (here, inside a transaction) that breaks emits an
    // error with no pool listening: unhandled, it ended the process (or the background thread).
    const inFlight = bot.gatehouse.database.db.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx);
      proxy.cut();
      await sql`select 2`.execute(trx);
    });
    const failed = await inFlight.then(
      () => null,
      (err: unknown) => err,
    );
    expect(isDatabaseUnavailable(failed), String(failed)).toBe(true);
    proxy.restore();
    expect((await sql<{ one: number }>`select 1 as one`.execute(bot.gatehouse.database.db)).rows).toEqual([{ one: 1 }]);
  });
});
