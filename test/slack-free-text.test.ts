import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeTextLength, MAX_REASON_LENGTH } from '../src/access/free-text.ts';
import { createLogger } from '../src/log.ts';
import { DENY_MODAL, REQUEST_MODAL, VIEW } from '../src/slack/blocks/ids.ts';
import type { DriverReply } from '../src/sandbox/fake-slack/driver.ts';
import { PEOPLE } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { answersTo } from './support/slack-stories.ts';

const { dana } = PEOPLE;

/** What the access rules must make of each string: file it (cleaned), refuse it as too long, or find no reason in it. */
type Expected = 'filed' | 'too-long' | 'empty';

/** Hostile text, as a person (or someone forging Slack's requests) might send it. */
const HOSTILE: [string, string, Expected][] = [
  ['NUL', 'rebuild\u0000 the index\u0000', 'filed'],
  ['C0 and C1 controls', 'bell\u0007 escape\u001b[31mred\u001b[0m del\u007f next-line\u0085 vt\u000b', 'filed'],
  ['lone high surrogate', 'half an emoji \uD83D then text', 'filed'],
  ['lone low surrogate', 'a low half \uDE00 alone', 'filed'],
  ['reversed surrogate pair', 'pair backwards \uDC00\uD800', 'filed'],
  ['40 KB', 'x'.repeat(40 * 1024), 'too-long'],
  ['one over the limit, in emoji', '🙂'.repeat(MAX_REASON_LENGTH + 1), 'too-long'],
  ['the limit exactly, in emoji', '🙂'.repeat(MAX_REASON_LENGTH), 'filed'],
  ['RTL override', 'invoice \u202Egpj.exe\u202C and \u2066isolated\u2069', 'filed'],
  ['broadcast mentions', '<!channel> <!here> <!everyone> look now', 'filed'],
  ['user, group and channel mentions', '<@U0EVIL0001> <!subteam^S0EVIL01> <#C0EVIL001>', 'filed'],
  ['mrkdwn and links', '<https://evil.example|click here> *bold* _it_ ~gone~ `code` ```block``` > quoted', 'filed'],
  ['escaped entities', '&amp; &lt;!channel&gt; &#60;', 'filed'],
  ['SQL', "'); DROP TABLE access_requests; -- $1 $$ \\x00 E'\\\\'", 'filed'],
  ['YAML', 'key: !!python/object/apply:os.system ["id"]\n- &a [*a, *a]\n---\n{{ template }}', 'filed'],
  ['emoji ZWJ sequences', '👩‍👩‍👧‍👦 🏳️‍🌈 🇺🇦 e\u0301 \u200B\u200D', 'filed'],
  ['line breaks', 'one\r\ntwo\rthree\n\tfour', 'filed'],
  ['only whitespace', ' \t\r\n ', 'empty'],
  ['only NULs', '\u0000\u0000\u0000', 'empty'],
];

/** Text that must never reach Slack unescaped: each would ping, link or mention. */
const LIVE_MARKUP = [
  '<!channel>',
  '<!here>',
  '<!everyone>',
  '<@U0EVIL0001>',
  '<!subteam^S0EVIL01>',
  '<#C0EVIL001>',
  '<https://evil.example',
];

const FUZZERS = HOSTILE.map((_, i) => `U0FUZZ${String(i).padStart(3, '0')}`);

const resource = (id: string, name: string) => `
  - id: ${id}
    name: ${name}
    owners: [owners]
    requesters: [fuzzers]
    default_duration: 30m
    max_duration: 2h
    provisioner: { kind: none }`;

const POLICY = `
audit_channel: C0AUDIT01
request_ttl: 1h
groups:
  fuzzers: [${FUZZERS.join(', ')}]
  owners: [${dana}]
resources:${resource('cmd-db', 'Asked by command')}${resource('form-db', 'Asked in the form')}${resource('ext-db', 'Extended in the form')}${resource('deny-db', 'Denied in the form')}
`;

/** Slack's bound: each answer within 3 s of sending. A bound on waiting, not a sleep. */
const ANSWER_MS = 3000;

function within3s<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ANSWER_MS} ms`)), ANSWER_MS);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

const requestForm = (resourceId: string, reason: string) => ({
  [REQUEST_MODAL.resource.block]: {
    [REQUEST_MODAL.resource.action]: { type: 'static_select', selected_option: { value: resourceId } },
  },
  [REQUEST_MODAL.duration.block]: { [REQUEST_MODAL.duration.action]: { type: 'plain_text_input', value: '' } },
  [REQUEST_MODAL.reason.block]: { [REQUEST_MODAL.reason.action]: { type: 'plain_text_input', value: reason } },
});

const denyForm = (reason: string) => ({
  [DENY_MODAL.reason.block]: { [DENY_MODAL.reason.action]: { type: 'plain_text_input', value: reason } },
});

/** A form's ack, as each expectation wants it: closed, or the refusal on the reason field. */
function expectFormAnswer(reply: DriverReply, expected: Expected, field: string, label: string): void {
  expect(reply.status, label).toBe(200);
  if (expected === 'filed') return void expect(reply.body, label).toBe('');
  const error = expected === 'too-long' ? /at most 2,000/ : /needs a reason|Say why/;
  expect(reply.body, label).toEqual({ response_action: 'errors', errors: { [field]: expect.stringMatching(error) } });
}

describe('hostile text through every free-text input', () => {
  let bot: RunningBot;
  let logText = '';
  beforeAll(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logText += chunk.toString();
        done();
      },
    });
    bot = await startBot({ policy: POLICY, log: createLogger({ destination: stream, level: 'info' }) });
  });
  afterAll(async () => bot.stop());

  it(
    'answers each within 3 s, stays up, records whole cleaned text or nothing, and never lets it ping',
    { timeout: 120_000 },
    async () => {
      const { slack, fake, gatehouse } = bot;
      const access = gatehouse.access;

      for (const [i, [label, text, expected]] of HOSTILE.entries()) {
        const fuzzer = FUZZERS[i]!;
        // What each path needs first: a live grant to extend, and a pending request to deny.
        const asked = await access.request({ requester: fuzzer, resourceId: 'ext-db', reason: 'setup' });
        const approved = asked.ok ? await access.approve(asked.request.id, dana) : null;
        const grantId = approved?.ok && approved.grant ? approved.grant.id : '';
        expect(grantId, label).not.toBe('');
        const toDeny = await access.request({ requester: fuzzer, resourceId: 'deny-db', reason: 'setup' });
        if (!toDeny.ok) throw new Error(`setup for ${label}: ${toDeny.refusal.kind}`);

        // The slash command: an ephemeral answer, or (with no reason left) the form.
        const started = performance.now();
        const command = await slack.command(fuzzer, '/request-access', `cmd-db 1h ${text}`);
        expect(command.status, label).toBe(200);
        const answer = await Promise.any([
          fake
            .waitForResponse(answersTo(command.responseUrl), { timeoutMs: ANSWER_MS })
            .then((r) => String(r.body.text)),
          fake
            .waitForCall('views.open', (c) => c.args.trigger_id === command.triggerId, { timeoutMs: ANSWER_MS })
            .then(() => 'the form opened'),
        ]);
        expect(performance.now() - started, label).toBeLessThan(ANSWER_MS);
        const said = { filed: /was sent to 1 approver/, 'too-long': /at most 2,000/, empty: /the form opened/ }[
          expected
        ];
        expect(answer, label).toMatch(said);

        const form = await within3s(
          `${label}, request form`,
          slack.submitView({ userId: fuzzer, callbackId: VIEW.requestModal, values: requestForm('form-db', text) }),
        );
        expectFormAnswer(form, expected, REQUEST_MODAL.reason.block, `${label}, request form`);

        const extension = await within3s(
          `${label}, extension form`,
          slack.submitView({
            userId: fuzzer,
            callbackId: VIEW.requestModal,
            privateMetadata: JSON.stringify({ extendsGrantId: grantId }),
            values: requestForm('ext-db', text),
          }),
        );
        expectFormAnswer(extension, expected, REQUEST_MODAL.reason.block, `${label}, extension form`);

        const denial = await within3s(
          `${label}, deny form`,
          slack.submitView({
            userId: dana,
            callbackId: VIEW.denyModal,
            privateMetadata: toDeny.request.id,
            values: denyForm(text),
          }),
        );
        expectFormAnswer(denial, expected, DENY_MODAL.reason.block, `${label}, deny form`);
      }

      // Up, and no listener failed along the way.
      expect((await fetch(`http://127.0.0.1:${gatehouse.port}/healthz`)).status).toBe(200);
      expect(logText).not.toContain('a Slack listener failed');

      // On the record: exactly what was accepted, each request with its request.created, whole and clean.
      await bot.settle();
      const filedCount = HOSTILE.filter(([, , expected]) => expected === 'filed').length;
      const requests = await gatehouse.database.db.selectFrom('access_requests').selectAll().execute();
      const byResource = (id: string) => requests.filter((r) => r.resource_id === id && r.reason !== 'setup');
      expect(byResource('cmd-db')).toHaveLength(filedCount);
      expect(byResource('form-db')).toHaveLength(filedCount);
      expect(byResource('ext-db').map((r) => r.extends_grant_id !== null)).toEqual(Array(filedCount).fill(true));
      const denied = requests.filter((r) => r.resource_id === 'deny-db' && r.status === 'denied');
      expect(denied).toHaveLength(filedCount);

      const created = await gatehouse.database.db
        .selectFrom('audit_log')
        .select(['subject', 'body'])
        .where('action', '=', 'request.created')
        .execute();
      const deniedEvents = await gatehouse.database.db
        .selectFrom('audit_log')
        .select(['subject', 'body'])
        .where('action', '=', 'request.denied')
        .execute();
      const reasonOf = (events: typeof created) =>
        new Map(events.map((e) => [e.subject, (e.body as { reason: string }).reason]));
      expect(created).toHaveLength(requests.length);
      const createdReasons = reasonOf(created);
      const deniedReasons = reasonOf(deniedEvents);
      // eslint-disable-next-line no-control-regex -- looking for control characters is the point
      const CONTROLS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;
      const isClean = (text: string) =>
        text === text.toWellFormed() && !CONTROLS.test(text) && freeTextLength(text) <= MAX_REASON_LENGTH;
      for (const request of requests) {
        expect(createdReasons.get(request.id), request.id).toBe(request.reason);
        expect(isClean(request.reason), request.id).toBe(true);
      }
      for (const request of denied) {
        expect(deniedReasons.get(request.id), request.id).toBe(request.deny_reason);
        expect(isClean(request.deny_reason ?? ''), request.id).toBe(true);
      }
      // The longest one accepted is kept whole, not cut.
      expect(byResource('cmd-db').some((r) => r.reason === '🙂'.repeat(MAX_REASON_LENGTH))).toBe(true);

      // Whatever the bot showed (cards, DMs, ephemerals, Home tabs, the audit channel), user text was escaped.
      const shown = [
        ...fake.calls.filter((c) => /^(chat\.|views\.)/.test(c.method)).map((c) => JSON.stringify(c.args)),
        ...fake.responses.map((r) => JSON.stringify(r.body)),
      ].join('\n');
      expect(shown).toContain('&lt;!channel&gt;');
      for (const markup of LIVE_MARKUP) expect(shown, markup).not.toContain(markup);
      expect(await gatehouse.audit.verify()).toMatchObject({ ok: true });
    },
  );
});
