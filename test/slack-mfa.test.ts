import { Writable } from 'node:stream';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.ts';
import { ACTION, MFA_MODAL, REQUEST_MODAL, VIEW } from '../src/slack/blocks/ids.ts';
import { PEOPLE, TEST_POLICY } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { answersTo, dmTo } from './support/slack-stories.ts';

const { ana, dana, emil, mallory } = PEOPLE;
const STEP_SECONDS = 30;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** prod-db needs a code from the requester and from the approver; one approval is enough. */
const POLICY = TEST_POLICY.replace(
  '    approvals_required: 2\n',
  '    approvals_required: 1\n    require_mfa: true\n    approver_mfa: true\n',
);

/** The code an authenticator shows now, or `steps` time steps from now. */
function codeNow(secret: string, steps = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * STEP_SECONDS });
}

/** Six digits that are no code of `secret` from two steps ago to two ahead. */
async function wrongCode(secret: string): Promise<string> {
  const near = new Set(await Promise.all([-2, -1, 0, 1, 2].map((steps) => codeNow(secret, steps))));
  for (let n = 0; ; n++) if (!near.has(String(n).padStart(6, '0'))) return String(n).padStart(6, '0');
}

const codeValues = (code: string) => ({
  [MFA_MODAL.code.block]: { [MFA_MODAL.code.action]: { type: 'plain_text_input', value: code } },
});

describe('step-up MFA in Slack', () => {
  let bot: RunningBot;
  let logText = '';
  const secrets: string[] = [];
  const codes: string[] = [];

  /** The code form most recently opened for `userId`. */
  function lastForm(userId: string) {
    const view = bot.fake.openedViews(userId).at(-1);
    if (!view) throw new Error(`no view opened for ${userId}`);
    return view;
  }

  async function submitCode(userId: string, code: string) {
    codes.push(code);
    return bot.slack.submitView({ userId, viewId: lastForm(userId).id, values: codeValues(code) });
  }

  /**
   * `/access mfa`, the QR code by DM, then Enter a code with a current code: MFA on.
   * Returns the secret, read from the link in the DM as an authenticator app would.
   */
  async function enrol(userId: string): Promise<string> {
    const reply = await bot.slack.command(userId, '/access', 'mfa');
    const answer = await bot.fake.waitForResponse(answersTo(reply.responseUrl));
    expect(String(answer.body.text)).toMatch(/I sent you a direct message with your QR code/);
    const upload = await bot.fake.waitForCall(
      'files.completeUploadExternal',
      (c) => c.args.channel_id === `D${userId}`,
    );
    const posted = await bot.fake.waitForCall('chat.postMessage', dmTo(userId, /Setting up MFA/));
    const secret = /secret=([A-Z2-7]+)/.exec(JSON.stringify(posted.args.blocks))?.[1];
    if (!secret) throw new Error('no otpauth link in the enrolment message');
    secrets.push(secret);
    const fileId = (JSON.parse(String(upload.args.files)) as { id: string }[])[0]!.id;
    const message = bot.fake.dmsTo(userId).find((m) => m.text.includes('Setting up MFA'))!;
    await bot.slack.clickButton({
      userId,
      actionId: ACTION.mfaConfirm,
      message: { channel: message.channel, ts: message.ts },
    });
    await bot.fake.waitForCall(
      'views.open',
      (c) =>
        (c.args.view as { callback_id?: string }).callback_id === VIEW.mfaModal &&
        bot.fake.openedViews(userId).length > 0,
    );
    const confirmed = await submitCode(userId, await codeNow(secret));
    expect(confirmed.status).toBe(200);
    await bot.fake.waitForCall('chat.postMessage', dmTo(userId, /MFA is on/));
    // The QR code and the key leave the conversation once used.
    expect(bot.fake.file(fileId)?.deleted).toBe(true);
    expect(bot.fake.dmsTo(userId).some((m) => JSON.stringify(m).includes(secret))).toBe(false);
    return secret;
  }

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logText += chunk.toString();
        done();
      },
    });
    bot = await startBot({
      policy: POLICY,
      env: { GATEHOUSE_SECRETS_KEY: 'b'.repeat(64) },
      log: createLogger({ destination: stream, level: 'debug' }),
    });
  });
  afterAll(async () => bot.stop());

  it('enrols by a QR code in a direct message, confirmed in a form; a wrong code is refused on the field', async () => {
    const reply = await bot.slack.command(dana, '/access', 'mfa');
    await bot.fake.waitForResponse(answersTo(reply.responseUrl));
    const upload = await bot.fake.waitForCall('files.completeUploadExternal', (c) => c.args.channel_id === `D${dana}`);
    const fileId = (JSON.parse(String(upload.args.files)) as { id: string }[])[0]!.id;
    const file = bot.fake.file(fileId);
    expect(file?.bytes?.subarray(0, 8)).toEqual(PNG_SIGNATURE);
    expect(file?.bytes?.length).toBeGreaterThan(500);
    const shared = bot.fake.dmsTo(dana).find((m) => m.files?.[0]?.id === fileId);
    expect(shared?.text).toMatch(/scan it with an authenticator app/);
    const posted = await bot.fake.waitForCall('chat.postMessage', dmTo(dana, /Setting up MFA/));
    const secret = /secret=([A-Z2-7]+)/.exec(JSON.stringify(posted.args.blocks))?.[1] ?? '';
    secrets.push(secret);
    // The authenticator's label is the person's name from Slack.
    expect(JSON.stringify(posted.args.blocks)).toMatch(/otpauth:\/\/totp\/Gatehouse:[^?]+\?secret=/);

    const message = bot.fake.dmsTo(dana).find((m) => m.text.includes('Setting up MFA'))!;
    const click = await bot.slack.clickButton({
      userId: dana,
      actionId: ACTION.mfaConfirm,
      message: { channel: message.channel, ts: message.ts },
    });
    const opened = await bot.fake.waitForCall('views.open', (c) => c.args.trigger_id === click.triggerId);
    expect((opened.args.view as { callback_id: string }).callback_id).toBe(VIEW.mfaModal);

    const wrong = await submitCode(dana, await wrongCode(secret));
    expect(wrong.body).toMatchObject({
      response_action: 'errors',
      errors: { [MFA_MODAL.code.block]: expect.stringMatching(/not right.*4 more wrong codes/) },
    });
    expect((await bot.gatehouse.access.mfa.status(dana)).state).toBe('pending');

    const right = await submitCode(dana, await codeNow(secret));
    expect(right.status).toBe(200);
    expect(right.body).toBe('');
    await bot.fake.waitForCall('chat.postMessage', dmTo(dana, /MFA is on/));
    expect(bot.fake.file(fileId)?.deleted).toBe(true);
    expect(bot.fake.dmsTo(dana).some((m) => m.ts === message.ts || m.files !== undefined)).toBe(false);
    expect((await bot.gatehouse.access.mfa.status(dana)).state).toBe('on');
    // The Home tab is redrawn with it.
    await bot.fake.waitForCall(
      'views.publish',
      (c) => c.args.user_id === dana && JSON.stringify(c.args.view).includes('MFA is on'),
    );
    // /access mfa now shows it, with Re-enrol and Turn off.
    const status = await bot.slack.command(dana, '/access', 'mfa');
    const shown = await bot.fake.waitForResponse(answersTo(status.responseUrl));
    expect(String(shown.body.text)).toMatch(/MFA is \*on\*/);
    expect(JSON.stringify(shown.body.blocks)).toContain(ACTION.mfaRemove);
  });

  it('asks for a code in the form for a require_mfa resource, and sends nothing to owners without a right one', async () => {
    const secret = await enrol(ana);
    const reply = await bot.slack.command(ana, '/request-access', 'prod-db 2h fix invoice export');
    const opened = await bot.fake.waitForCall('views.open', (c) => c.args.trigger_id === reply.triggerId);
    const blocks = (opened.args.view as { blocks: { block_id?: string; optional?: boolean }[] }).blocks;
    const codeBlock = blocks.find((block) => block.block_id === REQUEST_MODAL.mfaCode.block);
    expect(codeBlock).toBeDefined();
    expect(codeBlock?.optional).toBeUndefined();

    const form = (mfaCode: string) => ({
      [REQUEST_MODAL.resource.block]: {
        [REQUEST_MODAL.resource.action]: { type: 'static_select', selected_option: { value: 'prod-db' } },
      },
      [REQUEST_MODAL.duration.block]: { [REQUEST_MODAL.duration.action]: { type: 'plain_text_input', value: '2h' } },
      [REQUEST_MODAL.reason.block]: {
        [REQUEST_MODAL.reason.action]: { type: 'plain_text_input', value: 'fix invoice export' },
      },
      [REQUEST_MODAL.mfaCode.block]: { [REQUEST_MODAL.mfaCode.action]: { type: 'plain_text_input', value: mfaCode } },
    });
    const viewId = lastForm(ana).id;
    const empty = await bot.slack.submitView({ userId: ana, viewId, values: form('') });
    expect(empty.body).toMatchObject({
      response_action: 'errors',
      errors: { [REQUEST_MODAL.mfaCode.block]: expect.stringMatching(/needs a current code/) },
    });
    const bad = await wrongCode(secret);
    codes.push(bad);
    const wrong = await bot.slack.submitView({ userId: ana, viewId, values: form(bad) });
    expect(wrong.body).toMatchObject({
      response_action: 'errors',
      errors: { [REQUEST_MODAL.mfaCode.block]: expect.stringMatching(/not right/) },
    });
    expect((await bot.gatehouse.access.holdingsOf(ana)).requests).toEqual([]);

    // The confirmation used this time step's code: the next step's is the one to give now.
    const code = await codeNow(secret, 1);
    codes.push(code);
    const filed = await bot.slack.submitView({ userId: ana, viewId, values: form(code) });
    expect(filed.body).toBe('');
    await bot.fake.waitForCall(
      'chat.postMessage',
      (c) => c.args.channel === `D${dana}` && JSON.stringify(c.args.blocks ?? []).includes(ACTION.approve),
    );
  });

  it('opens a code form from Approve with approver_mfa; a stranger gets no form, and a right code approves', async () => {
    const request = (await bot.gatehouse.access.holdingsOf(ana)).requests[0]!;
    const card = bot.fake.dmsTo(dana).find((m) => JSON.stringify(m.blocks ?? []).includes(request.id))!;
    const stranger = await bot.slack.clickButton({
      userId: mallory,
      actionId: ACTION.approve,
      value: request.id,
      message: { channel: card.channel, ts: card.ts },
    });
    await bot.fake.waitForResponse(
      (r) => answersTo(stranger.responseUrl)(r) && /not an approver/.test(String(r.body.text)),
    );
    expect(bot.fake.openedViews(mallory)).toEqual([]);

    const click = await bot.slack.clickButton({
      userId: dana,
      actionId: ACTION.approve,
      value: request.id,
      message: { channel: card.channel, ts: card.ts },
    });
    const opened = await bot.fake.waitForCall('views.open', (c) => c.args.trigger_id === click.triggerId);
    const view = opened.args.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe(VIEW.mfaModal);
    expect(JSON.parse(view.private_metadata)).toEqual({ purpose: 'approve', requestId: request.id });
    expect((await bot.gatehouse.access.findRequest(request.id))?.status).toBe('pending');

    // Mallory cannot use Dana's form: a forged submission is judged as Mallory's.
    const forged = await bot.slack.submitView({
      userId: mallory,
      callbackId: VIEW.mfaModal,
      privateMetadata: view.private_metadata,
      values: codeValues('123456'),
    });
    expect(forged.body).toMatchObject({
      response_action: 'errors',
      errors: { [MFA_MODAL.code.block]: expect.stringMatching(/not an approver/) },
    });

    const approved = await submitCode(dana, await codeNow(secrets[0]!, 1));
    expect(approved.body).toBe('');
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /approved your request/));
    const approval = await bot.t.db
      .selectFrom('approvals')
      .selectAll()
      .where('request_id', '=', request.id)
      .executeTakeFirstOrThrow();
    expect(approval).toMatchObject({ approver: dana, mfa_checked: true });
    // The card says who gave codes: the requester with the request, Dana with her approval.
    expect(JSON.stringify(card.blocks)).toContain('Requested with an MFA code');
    await bot.fake.waitForCall(
      'chat.update',
      (c) => c.args.ts === card.ts && JSON.stringify(c.args.blocks).includes(`<@${dana}> 🔐`),
    );
  });

  it('locks after 5 wrong codes, says so on the field and tells the person', async () => {
    const reply = await bot.slack.command(ana, '/access', 'mfa remove');
    await bot.fake.waitForCall('views.open', (c) => c.args.trigger_id === reply.triggerId);
    const bad = await wrongCode(secrets[1]!);
    // One wrong code was given with the request already.
    for (let i = 0; i < 3; i++) {
      const answer = await submitCode(ana, bad);
      expect(answer.body).toMatchObject({ errors: { [MFA_MODAL.code.block]: expect.stringMatching(/not right/) } });
    }
    const locked = await submitCode(ana, bad);
    expect(locked.body).toMatchObject({
      errors: { [MFA_MODAL.code.block]: expect.stringMatching(/MFA is locked .* until/) },
    });
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /MFA is locked until/));
    expect((await bot.gatehouse.access.mfa.status(ana)).state).toBe('on');
  });

  it("starts an enrolment from the Home tab's Set up MFA", async () => {
    await bot.slack.homeOpened(emil);
    const home = await bot.fake.waitForCall(
      'views.publish',
      (c) => c.args.user_id === emil && JSON.stringify(c.args.view).includes(ACTION.mfaStart),
    );
    expect(JSON.stringify(home.args.view)).toContain('MFA is off');
    await bot.slack.clickButton({ userId: emil, actionId: ACTION.mfaStart, view: { id: bot.fake.homeOf(emil)!.id } });
    await bot.fake.waitForCall('files.completeUploadExternal', (c) => c.args.channel_id === `D${emil}`);
    const posted = await bot.fake.waitForCall('chat.postMessage', dmTo(emil, /Setting up MFA/));
    secrets.push(/secret=([A-Z2-7]+)/.exec(JSON.stringify(posted.args.blocks))?.[1] ?? '');
    expect((await bot.gatehouse.access.mfa.status(emil)).state).toBe('pending');
  });

  it('keeps every secret and code out of the logs and the audit log', async () => {
    await bot.settle();
    const bodies = JSON.stringify(await bot.t.db.selectFrom('audit_log').select('body').execute());
    const actions = (
      await bot.t.db.selectFrom('audit_log').select('action').where('action', 'like', 'mfa.%').execute()
    ).map((row) => row.action);
    expect(actions).toEqual(
      expect.arrayContaining(['mfa.enrolment_started', 'mfa.failed', 'mfa.enrolled', 'mfa.locked']),
    );
    expect(logText).toContain('http request body: [not logged');
    expect(secrets).toHaveLength(3);
    expect(codes.length).toBeGreaterThan(5);
    for (const value of [...secrets, ...codes]) {
      expect(logText).not.toContain(value);
      expect(bodies).not.toContain(value);
    }
  });
});
