import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, isValidSlackRequest, LogLevel, type Logger } from '@slack/bolt';
import {
  ErrorCode,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebClient,
  type WebClientOptions,
} from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockKitProblems, blockTexts } from '../src/sandbox/fake-slack/block-kit-limits.ts';
import { FakeSlack } from '../src/sandbox/fake-slack/fake-slack.ts';
import { SlackDriver, signSlackRequest } from '../src/sandbox/fake-slack/driver.ts';
import { SlackPayloads } from '../src/sandbox/fake-slack/payloads.ts';

/** Bolt's and the SDK's logger, silenced: rejected calls would otherwise print [ERROR] lines. */
const quiet: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};

const section = (text: string) => ({ type: 'section' as const, text: { type: 'mrkdwn' as const, text } });
const plain = (text: string) => ({ type: 'plain_text' as const, text });
const button = (actionId: string, text: string, value = 'v') => ({
  type: 'button' as const,
  action_id: actionId,
  text: plain(text),
  value,
});
const confirm = { title: plain('Sure?'), text: plain('Really?'), confirm: plain('Yes'), deny: plain('No') };

let fake: FakeSlack;
beforeAll(async () => {
  fake = await FakeSlack.start();
});
afterAll(async () => {
  await fake.stop();
});

function client(options: WebClientOptions = {}, token = 'xoxb-test'): WebClient {
  return new WebClient(token, { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 }, logger: quiet, ...options });
}

/** The `error` of a rejected Web API call. */
async function slackError(call: Promise<unknown>): Promise<string> {
  const err = await call.then(
    () => expect.fail('the call succeeded'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WebAPIPlatformError);
  return (err as WebAPIPlatformError).data.error;
}

describe('signSlackRequest', () => {
  it("reproduces Slack's documented example", () => {
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(signSlackRequest('8f742231b10e8888abcd99yyyzzz85a5', 1531420618, body)).toBe(
      'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    );
  });
});

describe('FakeSlack, through @slack/web-api', () => {
  it('keeps posted messages, updates them, and pages history newest first', async () => {
    const web = client();
    const metadata = { event_type: 'access_request', event_payload: { requestId: 'r1' } };
    const first = await web.chat.postMessage({
      channel: 'C0FEED',
      text: 'Request r1: pending',
      blocks: [section('*r1* pending')],
      metadata,
    });
    const second = await web.chat.postMessage({ channel: 'C0FEED', text: 'Request r2: pending' });
    expect(first.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(Number(second.ts)).toBeGreaterThan(Number(first.ts));
    expect(first.message?.metadata).toEqual(metadata);

    await web.chat.update({
      channel: 'C0FEED',
      ts: first.ts!,
      text: 'Request r1: approved',
      blocks: [section('*r1* approved')],
    });
    expect(fake.messagesIn('C0FEED').map((m) => m.text)).toEqual(['Request r1: approved', 'Request r2: pending']);
    expect(fake.message('C0FEED', first.ts!)?.metadata).toEqual(metadata);

    const plain = await web.conversations.history({ channel: 'C0FEED', limit: 1 });
    expect(plain.messages?.map((m) => m.ts)).toEqual([second.ts]);
    expect(plain.has_more).toBe(true);
    const withMetadata = await web.conversations.history({
      channel: 'C0FEED',
      include_all_metadata: true,
      oldest: '0',
    });
    expect(withMetadata.messages?.map((m) => m.metadata?.event_type)).toEqual([undefined, 'access_request']);

    const posted = fake.callsTo('chat.postMessage')[0];
    expect(posted).toMatchObject({
      token: 'xoxb-test',
      failed: false,
      error: null,
      args: { channel: 'C0FEED', blocks: [section('*r1* pending')], metadata },
    });
    expect(await slackError(web.chat.update({ channel: 'C0FEED', ts: '1.000100', text: 'x' }))).toBe(
      'message_not_found',
    );
  });

  it("keeps a user's DMs together, whether posted to the DM or to the user id", async () => {
    const web = client();
    const opened = await web.conversations.open({ users: 'U0ALICE01' });
    expect(opened.channel?.id).toBe('DU0ALICE01');
    await web.chat.postMessage({ channel: opened.channel!.id!, text: 'one' });
    const byUser = await web.chat.postMessage({ channel: 'U0ALICE01', text: 'two' });
    expect(byUser.channel).toBe('DU0ALICE01');
    expect(fake.dmsTo('U0ALICE01').map((m) => m.text)).toEqual(['one', 'two']);

    await web.chat.postEphemeral({ channel: 'C0FEED', user: 'U0ALICE01', text: 'only you' });
    expect(fake.ephemerals('U0ALICE01')).toMatchObject([
      { channel: 'C0FEED', text: 'only you', via: 'chat.postEphemeral' },
    ]);
  });

  it('publishes one Home tab per user and refuses a stale hash', async () => {
    const web = client();
    const first = await web.views.publish({
      user_id: 'U0BOB01',
      view: { type: 'home', blocks: [section('No requests')] },
    });
    const second = await web.views.publish({
      user_id: 'U0BOB01',
      view: { type: 'home', blocks: [section('1 request')] },
      hash: first.view!.hash!,
    });
    expect(second.view?.id).toBe(first.view?.id);
    expect(fake.homeOf('U0BOB01')?.blocks).toEqual([section('1 request')]);
    expect(
      await slackError(
        web.views.publish({ user_id: 'U0BOB01', view: { type: 'home', blocks: [] }, hash: first.view!.hash! }),
      ),
    ).toBe('hash_conflict');
  });

  it('opens modals only with a fresh trigger id it issued', async () => {
    const web = client();
    const view = {
      type: 'modal' as const,
      title: { type: 'plain_text' as const, text: 'Request access' },
      blocks: [section('Why?')],
      external_id: 'request-form-1',
    };
    expect(await slackError(web.views.open({ trigger_id: '1.2.made-up', view }))).toBe('invalid_trigger_id');

    const triggerId = fake.issueTriggerId('U0CAROL01');
    const opened = await web.views.open({ trigger_id: triggerId, view });
    await web.views.update({ external_id: 'request-form-1', view: { ...view, blocks: [section('Why, really?')] } });
    expect(fake.openedViews('U0CAROL01')).toMatchObject([{ id: opened.view?.id, blocks: [section('Why, really?')] }]);
    const pushed = await web.views.push({
      trigger_id: fake.issueTriggerId('U0CAROL01'),
      view: { ...view, external_id: 'request-form-details' },
    });
    expect(pushed.view).toMatchObject({ previous_view_id: opened.view?.id, root_view_id: opened.view?.id });

    fake.advanceClock(3001);
    expect(
      await slackError(web.views.open({ trigger_id: triggerId, view: { ...view, external_id: 'request-form-2' } })),
    ).toBe('expired_trigger_id');
  });

  it("keeps each person's stack of open modals: push adds, open starts anew, close takes a view and those above it", async () => {
    const web = client();
    const modal = (text: string) => ({
      type: 'modal' as const,
      title: { type: 'plain_text' as const, text },
      blocks: [section(text)],
    });
    const first = await web.views.open({ trigger_id: fake.issueTriggerId('U0DAVE01'), view: modal('First') });
    const pushed = await web.views.push({ trigger_id: fake.issueTriggerId('U0DAVE01'), view: modal('Pushed') });
    expect(fake.openModals('U0DAVE01').map((v) => v.id)).toEqual([first.view?.id, pushed.view?.id]);
    expect(fake.openModals('U0ERIN01')).toEqual([]);

    fake.closeView('U0DAVE01', first.view!.id!);
    expect(fake.openModals('U0DAVE01')).toEqual([]);
    const again = await web.views.open({ trigger_id: fake.issueTriggerId('U0DAVE01'), view: modal('Again') });
    const fresh = await web.views.open({ trigger_id: fake.issueTriggerId('U0DAVE01'), view: modal('Fresh') });
    expect(fake.openModals('U0DAVE01').map((v) => v.id)).toEqual([fresh.view?.id]);
    // Tests still read every modal ever opened, in its latest version.
    expect(fake.openedViews('U0DAVE01').map((v) => v.id)).toEqual([
      first.view?.id,
      pushed.view?.id,
      again.view?.id,
      fresh.view?.id,
    ]);
  });

  it("applies a submission's response_action: update redraws the view in place, push opens one above it", async () => {
    const modal = (text: string) => ({
      type: 'modal' as const,
      title: { type: 'plain_text' as const, text },
      blocks: [section(text)],
    });
    const opened = await client().views.open({ trigger_id: fake.issueTriggerId('U0FRAN01'), view: modal('Step 1') });
    const id = opened.view!.id!;

    expect(
      fake.answerSubmission('U0FRAN01', id, { response_action: 'update', view: modal('Step 1, again') }),
    ).toMatchObject({ ok: true });
    expect(fake.openModals('U0FRAN01')).toMatchObject([{ id, blocks: [section('Step 1, again')] }]);
    expect(fake.openModals('U0FRAN01')[0]?.hash).not.toBe(opened.view?.hash);

    expect(fake.answerSubmission('U0FRAN01', id, { response_action: 'push', view: modal('Step 2') })).toMatchObject({
      ok: true,
    });
    expect(fake.openModals('U0FRAN01')).toMatchObject([
      { id },
      { previous_view_id: id, root_view_id: id, blocks: [section('Step 2')] },
    ]);

    expect(
      fake.answerSubmission('U0FRAN01', id, { response_action: 'update', view: { type: 'home', blocks: [] } }),
    ).toMatchObject({ ok: false, error: 'invalid_arguments' });
    expect(
      fake.answerSubmission('U0FRAN01', 'V0NOTOPEN', { response_action: 'update', view: modal('x') }),
    ).toMatchObject({ ok: false, error: 'not_found' });
  });

  it('tells listeners of every change, serves mounted routes beside the API, and restores messages with later ts', async () => {
    let changes = 0;
    const unsubscribe = fake.onChange(() => (changes += 1));
    const posted = await client().chat.postMessage({ channel: 'C0MOUNT01', text: 'hello' });
    expect(changes).toBeGreaterThan(0);
    unsubscribe();

    fake.mount('/extra', (_request, response, url) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end(`extra ${url.pathname}`);
    });
    expect(await (await fetch(`${fake.origin}/extra/page`)).text()).toBe('extra /extra/page');
    expect((await fetch(`${fake.origin}/extras`)).status).toBe(404);

    const other = await FakeSlack.start();
    try {
      other.restoreMessages(fake.allMessages().filter((m) => m.channel === 'C0MOUNT01'));
      expect(other.messagesIn('C0MOUNT01').map((m) => m.ts)).toEqual([posted.ts]);
      const next = await new WebClient('xoxb-test', {
        slackApiUrl: other.apiUrl,
        retryConfig: { retries: 0 },
        logger: quiet,
      }).chat.postMessage({ channel: 'C0MOUNT01', text: 'after' });
      expect(Number(next.ts)).toBeGreaterThan(Number(posted.ts));
    } finally {
      await other.stop();
    }
  });

  it('knows the bot, any user, and user groups a test sets up', async () => {
    const web = client();
    expect(await web.auth.test()).toMatchObject({ team_id: 'T0GATE', user_id: 'U0BOT', bot_id: 'B0BOT' });
    fake.setUser('U0DAVE01', { real_name: 'Dave Example' });
    expect((await web.users.info({ user: 'U0DAVE01' })).user).toMatchObject({
      id: 'U0DAVE01',
      real_name: 'Dave Example',
      tz: 'UTC',
    });

    expect(await slackError(web.usergroups.users.list({ usergroup: 'S0ONCALL' }))).toBe('no_such_subteam');
    fake.setUsergroup('S0ONCALL', ['U0ALICE01']);
    await web.usergroups.users.update({ usergroup: 'S0ONCALL', users: 'U0ALICE01,U0BOB01' });
    expect((await web.usergroups.users.list({ usergroup: 'S0ONCALL' })).users).toEqual(['U0ALICE01', 'U0BOB01']);
  });

  it('refuses calls without a bearer token, unknown methods, and the wrong kind of token', async () => {
    expect(await slackError(client({}, '').auth.test())).toBe('not_authed');
    expect(await slackError(client().apiCall('gatehouse.nothing'))).toBe('unknown_method');
    expect(await slackError(client().apps.connections.open({}))).toBe('not_allowed_token_type');
  });

  it('also takes JSON bodies', async () => {
    const response = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', authorization: 'Bearer xoxb-json' },
      body: JSON.stringify({ channel: 'C0JSON', text: 'hi', blocks: [section('hi')] }),
    });
    expect(await response.json()).toMatchObject({ ok: true, channel: 'C0JSON' });
    expect(fake.messagesIn('C0JSON')[0]?.blocks).toEqual([section('hi')]);
  });
});

describe('Block Kit limits', () => {
  it('rejects what Slack rejects, naming the rule', async () => {
    const web = client();
    const tooMany = Array.from({ length: 51 }, (_, i) => section(`row ${i}`));
    const rejected = await web.chat
      .postMessage({ channel: 'C0LIMITS', text: 'x', blocks: tooMany })
      .catch((e: WebAPIPlatformError) => e.data);
    expect(rejected).toMatchObject({ ok: false, error: 'invalid_blocks' });
    expect(rejected.response_metadata?.messages).toEqual([
      '[ERROR] message blocks must have at most 50 items, has 51 [json-pointer:/blocks]',
    ]);

    expect(
      await slackError(web.chat.postMessage({ channel: 'C0LIMITS', text: 'x', blocks: [section('a'.repeat(3001))] })),
    ).toBe('invalid_blocks');
    await web.chat.postMessage({ channel: 'C0LIMITS', text: 'x', blocks: [section('a'.repeat(3000))] });
    const longButton = { type: 'actions', elements: [button('approve', 'b'.repeat(76))] };
    expect(await slackError(web.chat.postMessage({ channel: 'C0LIMITS', text: 'x', blocks: [longButton] }))).toBe(
      'invalid_blocks',
    );
    expect(await slackError(web.apiCall('chat.postMessage', { channel: 'C0LIMITS' }))).toBe('no_text');

    const longTitle = {
      type: 'modal' as const,
      title: { type: 'plain_text' as const, text: 't'.repeat(25) },
      blocks: [],
    };
    expect(await slackError(web.views.open({ trigger_id: fake.issueTriggerId('U0ALICE01'), view: longTitle }))).toBe(
      'invalid_arguments',
    );
    expect(fake.messagesIn('C0LIMITS')).toHaveLength(1);
  });

  it.each([
    [
      'header text',
      [{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }],
      'header text must be at most 150',
    ],
    [
      'section fields',
      [{ type: 'section', fields: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'f' })) }],
      'at most 10 items',
    ],
    ['empty section', [section('')], 'section text must not be empty'],
    [
      'button value',
      [{ type: 'actions', elements: [button('a', 'ok', 'v'.repeat(2001))] }],
      'button value must be at most 2000',
    ],
    ['action_id', [{ type: 'actions', elements: [button('a'.repeat(256), 'ok')] }], 'action_id must be at most 255'],
    ['block_id', [{ ...section('s'), block_id: 'b'.repeat(256) }], 'block_id must be at most 255'],
    [
      'actions elements',
      [{ type: 'actions', elements: Array.from({ length: 26 }, (_, i) => button(`a${i}`, 'ok')) }],
      'at most 25 items',
    ],
    [
      'context elements',
      [{ type: 'context', elements: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'c' })) }],
      'at most 10 items',
    ],
    [
      'confirm text',
      [
        {
          type: 'actions',
          elements: [
            { ...button('a', 'ok'), confirm: { ...confirm, text: { type: 'mrkdwn', text: 'c'.repeat(301) } } },
          ],
        },
      ],
      'confirm text must be at most 300',
    ],
    [
      'option value',
      [
        {
          type: 'actions',
          elements: [
            {
              type: 'static_select',
              action_id: 's',
              options: [{ text: { type: 'plain_text', text: 'o' }, value: 'v'.repeat(76) }],
            },
          ],
        },
      ],
      'option value must be at most 75',
    ],
  ])('%s', (_rule, blocks, problem) => {
    expect(blockKitProblems('message', blocks).join('\n')).toContain(problem);
  });

  it('checks views (block count, metadata, a submit button for inputs) and reads text back', () => {
    const input = {
      type: 'input',
      label: { type: 'plain_text', text: 'Reason' },
      element: { type: 'plain_text_input', action_id: 'reason' },
    };
    const title = { type: 'plain_text', text: 'Request access' };
    const modal = {
      type: 'modal',
      title,
      private_metadata: 'm'.repeat(3001),
      callback_id: 'c'.repeat(256),
      blocks: [input],
    };
    expect(blockKitProblems('modal', modal.blocks, modal)).toEqual([
      'modal with input blocks must have a submit button [json-pointer:/view/submit]',
      'private_metadata must be at most 3000 characters, has 3001 [json-pointer:/view/private_metadata]',
      'callback_id must be at most 255 characters, has 256 [json-pointer:/view/callback_id]',
    ]);
    expect(
      blockKitProblems(
        'home',
        Array.from({ length: 100 }, () => section('x')),
      ),
    ).toEqual([]);
    expect(blockTexts([section('Request r1'), { type: 'actions', elements: [button('approve', 'Approve')] }])).toEqual([
      'Request r1',
      'Approve',
    ]);
    expect(
      blockKitProblems(
        'home',
        Array.from({ length: 101 }, () => section('x')),
      ),
    ).toHaveLength(1);
  });
});

describe('failures on demand', () => {
  it('answers 429 with Retry-After, then serves the call again', async () => {
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 7 });
    const web = client({ rejectRateLimitedCalls: true });
    const err = await web.chat.postMessage({ channel: 'C0RATE', text: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebAPIRateLimitedError);
    expect((err as WebAPIRateLimitedError).retryAfter).toBe(7);
    await web.chat.postMessage({ channel: 'C0RATE', text: 'x' });
    expect(
      fake
        .callsTo('chat.postMessage')
        .filter((c) => c.args.channel === 'C0RATE')
        .map((c) => c.error),
    ).toEqual(['ratelimited', null]);
  });

  it("lets the SDK's own retry get through a 429", async () => {
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 0 });
    await client({ retryConfig: { retries: 1, minTimeout: 0, maxTimeout: 1 } }).chat.postMessage({
      channel: 'C0RETRY',
      text: 'x',
    });
    expect(fake.messagesIn('C0RETRY')).toHaveLength(1);
    expect(
      fake
        .callsTo('chat.postMessage')
        .filter((c) => c.args.channel === 'C0RETRY')
        .map((c) => c.failed),
    ).toEqual([true, false]);
  });

  it('answers 500s and ok:false errors', async () => {
    fake.failNext('chat.update', { status: 500 });
    fake.failNext('chat.update', { error: 'channel_not_found' });
    const web = client();
    const err = await web.chat.update({ channel: 'C0X', ts: '1.1', text: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebAPIHTTPError);
    expect((err as WebAPIHTTPError).statusCode).toBe(500);
    expect(await slackError(web.chat.update({ channel: 'C0X', ts: '1.1', text: 'x' }))).toBe('channel_not_found');
    expect(await slackError(web.chat.update({ channel: 'C0X', ts: '1.1', text: 'x' }))).toBe('message_not_found');
  });

  it('hangs until the client gives up', async () => {
    fake.failNext('views.publish', { hang: true });
    const err = await client({ timeout: 100 })
      .views.publish({ user_id: 'U0HANG01', view: { type: 'home', blocks: [] } })
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe(ErrorCode.RequestError);
    expect(fake.callsTo('views.publish').at(-1)).toMatchObject({ failed: true, args: { user_id: 'U0HANG01' } });
    expect(fake.homeOf('U0HANG01')).toBeUndefined();
  });
});

describe('waitForCall', () => {
  it('resolves when a matching call arrives, or at once if it already did', async () => {
    const web = client();
    const second = fake.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0WAIT', { count: 2 });
    await web.chat.postMessage({ channel: 'C0WAIT', text: 'first wait' });
    await web.chat.postMessage({ channel: 'C0OTHER', text: 'other' });
    const posting = web.chat.postMessage({ channel: 'C0WAIT', text: 'second wait' });
    expect((await second).args.text).toBe('second wait');
    await posting;
    expect((await fake.waitForCall('chat.postMessage', (c) => c.args.text === 'first wait')).args.channel).toBe(
      'C0WAIT',
    );
  });

  it('says what did arrive when nothing matches in time', async () => {
    await client().auth.test();
    await expect(fake.waitForCall('chat.delete', undefined, { timeoutMs: 10 })).rejects.toThrow(
      /No chat.delete call \(match #1\) within 10 ms.*\n.*auth.test/s,
    );
  });
});

/** A stand-in app that keeps what the driver sent, to check it byte for byte. */
async function recordingServer(): Promise<{
  server: Server;
  url: string;
  requests: { headers: IncomingHttpHeaders; body: string }[];
}> {
  const requests: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      requests.push({ headers: req.headers, body });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`, requests };
}

describe('SlackDriver payloads', () => {
  const secret = 'driver-test-secret';
  let recorder: Awaited<ReturnType<typeof recordingServer>>;
  let driver: SlackDriver;
  beforeAll(async () => {
    recorder = await recordingServer();
    driver = new SlackDriver({ url: recorder.url, signingSecret: secret, fake });
  });
  afterAll(() => new Promise<void>((resolve) => recorder.server.close(() => resolve())));

  const last = () => recorder.requests.at(-1)!;
  const verified = () => {
    const { headers, body } = last();
    const signature = {
      'x-slack-signature': String(headers['x-slack-signature']),
      'x-slack-request-timestamp': Number(headers['x-slack-request-timestamp']),
    };
    return isValidSlackRequest({ signingSecret: secret, body, headers: signature });
  };

  it('sends slash commands as signed forms, with ids the fake accepts', async () => {
    const reply = await driver.command('U0ALICE01', '/access', 'prod-db 2h');
    const { headers, body } = last();
    expect(headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(verified()).toBe(true);
    expect(Object.fromEntries(new URLSearchParams(body))).toMatchObject({
      command: '/access',
      text: 'prod-db 2h',
      user_id: 'U0ALICE01',
      user_name: 'u0alice01',
      team_id: 'T0GATE',
      trigger_id: reply.triggerId,
      response_url: reply.responseUrl,
    });

    await client().views.open({
      trigger_id: reply.triggerId,
      view: { type: 'modal', title: { type: 'plain_text', text: 'Access' }, blocks: [] },
    });
    const said = JSON.stringify({ text: 'Working on it' });
    const posted = await fetch(reply.responseUrl!, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: said,
    });
    expect(posted.status).toBe(200);
    expect(await fake.waitForResponse()).toMatchObject({ status: 200, body: { text: 'Working on it' } });
    expect(fake.ephemerals('U0ALICE01').at(-1)).toMatchObject({ text: 'Working on it', via: 'response_url' });
  });

  it('clicks buttons that are on the message, as block_actions', async () => {
    const blocks = [
      section('Request r9'),
      {
        type: 'actions',
        block_id: 'decide',
        elements: [button('approve', 'Approve', 'r9'), button('deny', 'Deny', 'r9')],
      },
    ];
    const { channel, ts } = await client().chat.postMessage({ channel: 'C0APPROVERS', text: 'Request r9', blocks });
    const reply = await driver.clickButton({
      userId: 'U0BOB01',
      actionId: 'deny',
      message: { channel: channel!, ts: ts! },
    });
    const payload = JSON.parse(new URLSearchParams(last().body).get('payload')!);
    expect(verified()).toBe(true);
    expect(payload).toMatchObject({
      type: 'block_actions',
      user: { id: 'U0BOB01', username: 'u0bob01', team_id: 'T0GATE' },
      container: { type: 'message', channel_id: 'C0APPROVERS', message_ts: ts },
      channel: { id: 'C0APPROVERS' },
      message: { ts, text: 'Request r9', blocks },
      trigger_id: reply.triggerId,
      response_url: reply.responseUrl,
      actions: [
        {
          type: 'button',
          action_id: 'deny',
          block_id: 'decide',
          value: 'r9',
          text: { type: 'plain_text', text: 'Deny' },
        },
      ],
    });
    const missingButton = () =>
      driver.payloads.blockActions({ userId: 'U0BOB01', actionId: 'revoke', message: { channel: channel!, ts: ts! } });
    expect(missingButton).toThrow(/No button revoke.*approve=r9, deny=r9/);
    // An ephemeral message is not kept by Slack: its button is taken on trust, and the container says so.
    const onEphemeral = driver.payloads.blockActions({
      userId: 'U0BOB01',
      actionId: 'cancel',
      value: 'r9',
      message: { channel: channel!, ts: '1.000200', ephemeral: true },
    });
    expect(onEphemeral.container).toEqual({
      type: 'message',
      message_ts: '1.000200',
      channel_id: channel,
      is_ephemeral: true,
    });
  });

  it('submits views with state values and the stored view', async () => {
    const opened = await client().views.open({
      trigger_id: fake.issueTriggerId('U0ALICE01'),
      view: {
        type: 'modal',
        callback_id: 'request',
        private_metadata: '{"env":"prod"}',
        title: { type: 'plain_text', text: 'Access' },
        submit: { type: 'plain_text', text: 'Ask' },
        blocks: [],
      },
    });
    const values = { reason: { reason: { type: 'plain_text_input', value: 'incident 42' } } };
    await driver.submitView({ userId: 'U0ALICE01', viewId: opened.view!.id!, values });
    const payload = JSON.parse(new URLSearchParams(last().body).get('payload')!);
    expect(payload).toMatchObject({
      type: 'view_submission',
      user: { id: 'U0ALICE01' },
      view: { id: opened.view!.id, callback_id: 'request', private_metadata: '{"env":"prod"}', state: { values } },
    });
  });

  it('sends events as signed JSON, and tampers on request', async () => {
    await driver.event(
      { type: 'app_home_opened', user: 'U0ALICE01', channel: 'DU0ALICE01', tab: 'home' },
      { eventId: 'Ev0001', retryNum: 1 },
    );
    expect(last().headers).toMatchObject({
      'content-type': 'application/json',
      'x-slack-retry-num': '1',
      'x-slack-retry-reason': 'http_timeout',
    });
    const envelope: unknown = JSON.parse(last().body);
    expect(envelope).toMatchObject({
      type: 'event_callback',
      team_id: 'T0GATE',
      event_id: 'Ev0001',
      event: { type: 'app_home_opened', tab: 'home' },
    });
    expect(verified()).toBe(true);

    await driver.command('U0ALICE01', '/access', '', { signature: 'bad' });
    expect(verified()).toBe(false);
    await driver.command('U0ALICE01', '/access', '', { signature: 'missing' });
    expect(last().headers['x-slack-signature']).toBeUndefined();
    await driver.command('U0ALICE01', '/access', '', { timestamp: Math.floor(Date.now() / 1000) - 600 });
    expect(verified()).toBe(false);
  });
});

describe('SlackDriver against a real Bolt app', () => {
  const signingSecret = 'bolt-test-secret';
  let app: App;
  let driver: SlackDriver;
  beforeAll(async () => {
    app = new App({
      token: 'xoxb-test',
      signingSecret,
      logger: quiet,
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
    });
    app.command('/ping', async ({ ack, respond }) => {
      await ack('pong');
      await respond({ text: 'pong, later' });
    });
    app.command('/form', async ({ ack, body, client: web }) => {
      await ack();
      await web.views.open({
        trigger_id: body.trigger_id,
        view: { type: 'modal', callback_id: 'form', title: { type: 'plain_text', text: 'Form' }, blocks: [] },
      });
    });
    app.action('approve', async ({ ack, respond }) => {
      await ack();
      await respond({ replace_original: true, text: 'Approved' });
    });
    app.view('form', async ({ ack }) => {
      await ack({ response_action: 'errors', errors: { reason: 'Say why you need access.' } });
    });
    app.event('app_home_opened', async ({ event, client: web }) => {
      await web.views.publish({ user_id: event.user, view: { type: 'home', blocks: [section('Welcome')] } });
    });
    const server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
    driver = new SlackDriver({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`,
      signingSecret,
      fake,
    });
  });
  afterAll(() => app.stop());

  it('runs commands, clicks, submissions and events end to end', async () => {
    expect(await driver.command('U0ALICE01', '/ping')).toMatchObject({ status: 200, body: 'pong' });
    expect((await fake.waitForResponse((r) => r.body.text === 'pong, later')).status).toBe(200);

    const form = await driver.command('U0ALICE01', '/form');
    await fake.waitForCall('views.open', (c) => c.args.trigger_id === form.triggerId && c.error === null);

    const approvable = [{ type: 'actions' as const, elements: [button('approve', 'Approve', 'r1')] }];
    const { channel, ts } = await client().chat.postMessage({ channel: 'C0BOLT', text: 'r1', blocks: approvable });
    expect(
      (await driver.clickButton({ userId: 'U0BOB01', actionId: 'approve', message: { channel: channel!, ts: ts! } }))
        .status,
    ).toBe(200);
    await fake.waitForResponse((r) => r.body.replace_original === true);
    expect(fake.message(channel!, ts!)?.text).toBe('Approved');

    const submitted = await driver.submitView({ userId: 'U0ALICE01', callbackId: 'form', values: {} });
    expect(submitted.body).toEqual({ response_action: 'errors', errors: { reason: 'Say why you need access.' } });

    expect((await driver.homeOpened('U0CAROL01')).status).toBe(200);
    await fake.waitForCall('views.publish', (c) => c.args.user_id === 'U0CAROL01');
    expect(fake.homeOf('U0CAROL01')?.blocks).toEqual([section('Welcome')]);
  });

  it('is refused when the signature is wrong, missing or stale', async () => {
    expect((await driver.command('U0ALICE01', '/ping', '', { signature: 'bad' })).status).toBe(401);
    expect((await driver.command('U0ALICE01', '/ping', '', { signature: 'missing' })).status).toBe(401);
    expect(
      (await driver.command('U0ALICE01', '/ping', '', { timestamp: Math.floor(Date.now() / 1000) - 301 })).status,
    ).toBe(401);
  });
});

describe('Socket Mode', () => {
  it('greets a Bolt app, sends it a command and returns its ack', async () => {
    const app = new App({
      token: 'xoxb-test',
      appToken: 'xapp-test',
      socketMode: true,
      logger: quiet,
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
      installerOptions: { clientOptions: { slackApiUrl: fake.apiUrl } },
    });
    app.command('/ping', async ({ ack }) => {
      await ack('pong');
    });
    await app.start();
    try {
      const ack = await fake.socketSend('slash_commands', new SlackPayloads(fake).command('U0ALICE01', '/ping'));
      expect(ack.payload).toEqual({ text: 'pong' });
      expect(fake.callsTo('apps.connections.open').at(-1)?.token).toBe('xapp-test');
    } finally {
      await app.stop();
    }
  });
});
