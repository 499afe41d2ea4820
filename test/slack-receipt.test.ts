import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCheckpointKey, type CheckpointKey } from '../src/audit/checkpoints/keys.ts';
import { makeCheckpoint } from '../src/audit/checkpoints/store.ts';
import { verifyReceipt } from '../src/audit/receipts/verify.ts';
import { ACTION } from '../src/slack/blocks/ids.ts';
import type { SlackMessage } from '../src/sandbox/fake-slack/messages.ts';
import { PEOPLE } from './support/access.ts';
import { tamper } from './support/audit.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { answersTo, approveFromCard, AUDIT_CHANNEL, buttonsIn, dmTo, fileRequest } from './support/slack-stories.ts';

const { ana, dana, fatima, mallory } = PEOPLE;

describe('the Receipt button on a grant’s end in the audit channel', () => {
  let bot: RunningBot;
  let key: CheckpointKey;
  let grantId: string;
  let post: SlackMessage;

  /** Ana gets staging-db from Dana and gives it back; the feed posts the end, a checkpoint covers it. */
  beforeAll(async () => {
    const made = generateCheckpointKey();
    key = made.key;
    bot = await startBot({ env: { GATEHOUSE_CHECKPOINT_KEY: made.pem } });
    const requestId = await fileRequest(bot, ana, 'staging-db 1h rebuild the search index');
    await approveFromCard(bot, dana, requestId);
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /is active until/));
    const active = bot.fake.dmsTo(ana).find((m) => buttonsIn(m.blocks).some((b) => b.actionId === ACTION.endGrant))!;
    grantId = buttonsIn(active.blocks).find((b) => b.actionId === ACTION.endGrant)!.value!;
    await bot.slack.clickButton({
      userId: ana,
      actionId: ACTION.endGrant,
      value: grantId,
      message: { channel: active.channel, ts: active.ts },
    });
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /ended at/));
    await bot.settle();
    await makeCheckpoint(bot.t.db, key);
    post = bot.fake
      .messagesIn(AUDIT_CHANNEL)
      .find((m) => buttonsIn(m.blocks).some((b) => b.actionId === ACTION.sendReceipt && b.value === grantId))!;
  });
  afterAll(async () => bot.stop());

  const press = (userId: string) =>
    bot.slack.clickButton({
      userId,
      actionId: ACTION.sendReceipt,
      value: grantId,
      message: { channel: post.channel, ts: post.ts },
    });

  it('is on the post that shows the grant revoked', () => {
    expect(post).toBeDefined();
    expect(JSON.stringify(post.blocks)).toContain('grant.revoked');
    expect(buttonsIn(post.blocks).filter((b) => b.actionId === ACTION.sendReceipt)).toEqual([
      { actionId: ACTION.sendReceipt, text: 'Receipt', value: grantId },
    ]);
  });

  it('tells someone who is not an auditor who may, and records the refusal', async () => {
    const click = await press(mallory);
    const answer = await bot.fake.waitForResponse(answersTo(click.responseUrl));
    expect(String(answer.body.text)).toMatch(/Only members of the policy's `auditors` group can get a grant's receipt/);
    expect(bot.fake.callsTo('files.getUploadURLExternal')).toEqual([]);
    await bot.gatehouse.audit.flush();
    const refused = await bot.t.db
      .selectFrom('audit_log')
      .select(['actor', 'subject', 'body'])
      .where('action', '=', 'audit.receipt_refused')
      .execute();
    expect(refused).toEqual([{ actor: mallory, subject: null, body: { grant: grantId, reason: 'not-auditor' } }]);
  });

  it("sends an auditor the receipt as a file in the bot's DM, which verifies offline, and records it", async () => {
    const click = await press(fatima);
    const answer = await bot.fake.waitForResponse(answersTo(click.responseUrl));
    expect(String(answer.body.text)).toContain(`receipt of \`${grantId}\` is in your direct messages`);
    const completed = await bot.fake.waitForCall('files.completeUploadExternal', () => true);
    expect(completed.args.channel_id).toBe(`D${fatima}`);
    const file = bot.fake.files().at(-1)!;
    expect(file).toMatchObject({ completed: true, channels: [`D${fatima}`] });
    expect(file.name).toMatch(new RegExp(`^receipt-${grantId}-seq\\d+\\.json$`));
    const verified = verifyReceipt(file.bytes!.toString('utf8'), key.publicKey);
    expect(verified).toMatchObject({ signatureChecked: true, story: { grant: grantId, user: ana } });
    expect(verified.story.approvals.map((a) => a.approver)).toEqual([dana]);
    expect(verified.story.ending).toMatchObject({ reason: 'released' });

    const shared = bot.fake.dmsTo(fatima).find((m) => m.files?.some((f) => f.id === file.id));
    expect(shared?.text).toContain(`Receipt of \`${grantId}\``);
    expect(shared?.text).toContain('gatehouse audit verify-receipt');

    await bot.gatehouse.audit.flush();
    const sent = await bot.t.db
      .selectFrom('audit_log')
      .select(['actor', 'subject', 'body'])
      .where('action', '=', 'audit.receipt_sent')
      .execute();
    expect(sent).toEqual([
      {
        actor: fatima,
        subject: null,
        body: {
          grant: grantId,
          size: verified.receipt.size,
          events: verified.receipt.events.length,
          root: verified.receipt.root,
          file: file.id,
        },
      },
    ]);
  });

  it('says so when Slack does not take the file, and records nothing sent', async () => {
    bot.fake.failNext('files.completeUploadExternal', { error: 'file_upload_not_found' });
    const click = await press(fatima);
    const answer = await bot.fake.waitForResponse(answersTo(click.responseUrl));
    expect(String(answer.body.text)).toContain('could not be sent to you (Slack said: file_upload_not_found)');
    await bot.gatehouse.audit.flush();
    const sent = await bot.t.db
      .selectFrom('audit_log')
      .select('seq')
      .where('action', '=', 'audit.receipt_sent')
      .execute();
    expect(sent).toHaveLength(1);
  });

  it('from a log changed under it, sends nothing and says the receipt does not verify', async () => {
    await tamper(
      bot.t,
      `update audit_events set canonical = replace(canonical, 'rebuild the search index', 'lunch')
        where canonical like '%"action":"request.created"%rebuild the search index%'`,
    );
    const files = bot.fake.files().length;
    const click = await press(fatima);
    const answer = await bot.fake.waitForResponse(answersTo(click.responseUrl));
    expect(String(answer.body.text)).toMatch(/does NOT verify: event seq \d+: SHA-256\(prev_hash ‖ canonical\)/);
    expect(bot.fake.files()).toHaveLength(files);
  });

  it('says so when the grant is unknown', async () => {
    const click = await bot.slack.clickButton({
      userId: fatima,
      actionId: ACTION.sendReceipt,
      value: 'grt_unknown',
      message: { channel: AUDIT_CHANNEL, ts: '1.000001' },
    });
    const answer = await bot.fake.waitForResponse(answersTo(click.responseUrl));
    expect(String(answer.body.text)).toMatch(/No receipt could be made: .*grt_unknown/);
  });
});
