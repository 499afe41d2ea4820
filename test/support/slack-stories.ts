/** Small readers over the fake Slack and the bot's state, shared by the Slack story tests. */
import { ACTION } from '../../src/slack/blocks/ids.ts';
import type { FakeSlack, RecordedCall, RecordedResponse } from '../../src/sandbox/fake-slack/fake-slack.ts';
import type { RunningBot } from './gatehouse.ts';

export const AUDIT_CHANNEL = 'C0AUDIT01';

const textOf = (call: RecordedCall) => String(call.args.text ?? '');
const blocksOf = (value: unknown) => JSON.stringify(value ?? []);

/** A call that reached Slack (not one the fake failed on purpose). */
export const answered = (call: RecordedCall) => !call.failed && call.error === null;

/** Posted to the bot's DM with `userId`, by its channel id or (as Slack allows) by the user id. */
const toDM = (call: RecordedCall, userId: string) => call.args.channel === `D${userId}` || call.args.channel === userId;

/** A DM to `userId` whose text matches, as delivered. */
export const dmTo = (userId: string, pattern: RegExp) => (call: RecordedCall) =>
  answered(call) && toDM(call, userId) && pattern.test(textOf(call));

/** An approval card for `requestId` posted to `owner`, as delivered. */
export const cardPostedTo = (owner: string, requestId: string) => (call: RecordedCall) =>
  answered(call) &&
  toDM(call, owner) &&
  blocksOf(call.args.blocks).includes(ACTION.approve) &&
  blocksOf(call.args.blocks).includes(requestId);

/** The approval card in an owner's DMs for a request, to click on. */
export function cardFor(fake: FakeSlack, owner: string, requestId: string): { channel: string; ts: string } {
  const card = fake
    .dmsTo(owner)
    .find((m) => blocksOf(m.blocks).includes(requestId) && blocksOf(m.blocks).includes('Reason:'));
  if (!card) throw new Error(`no card for ${requestId} in ${owner}'s DMs`);
  return { channel: card.channel, ts: card.ts };
}

/** Once the owner's card for the request has arrived, the owner presses Approve on it. */
export async function approveFromCard(bot: RunningBot, owner: string, requestId: string): Promise<void> {
  await bot.fake.waitForCall('chat.postMessage', cardPostedTo(owner, requestId));
  await bot.slack.clickButton({
    userId: owner,
    actionId: ACTION.approve,
    value: requestId,
    message: cardFor(bot.fake, owner, requestId),
  });
}

/**
 * `/request-access <text>` as `userId`; resolves, once the app has answered, with the new
 * request's id, which the answer's Cancel button carries.
 */
export async function fileRequest(bot: RunningBot, userId: string, text: string): Promise<string> {
  const reply = await bot.slack.command(userId, '/request-access', text);
  const answer = await bot.fake.waitForResponse(answersTo(reply.responseUrl));
  const cancel = buttonsIn(answer.body.blocks).find((b) => b.actionId === ACTION.cancelRequest);
  if (!cancel?.value) throw new Error(`/request-access ${text} was not filed: ${String(answer.body.text)}`);
  return cancel.value;
}

export interface ShownButton {
  actionId: string;
  text: string;
  value: string | undefined;
}

/** The buttons a surface shows, in actions blocks and as section accessories, in order. */
export function buttonsIn(blocks: unknown): ShownButton[] {
  if (!Array.isArray(blocks)) return [];
  return (blocks as { elements?: unknown[]; accessory?: unknown }[]).flatMap((block) => {
    const elements = (block.elements ?? (block.accessory ? [block.accessory] : [])) as {
      type?: string;
      action_id?: string;
      text?: { text?: string };
      value?: string;
    }[];
    return elements
      .filter((el) => el.type === 'button')
      .map((el) => ({ actionId: String(el.action_id), text: String(el.text?.text), value: el.value }));
  });
}

/** Every seq the audit channel shows, message by message, from each post's metadata. */
export function postedSeqs(fake: FakeSlack, channel = AUDIT_CHANNEL): number[] {
  return fake.messagesIn(channel).flatMap((m) => {
    const payload = m.metadata?.event_payload as { first_seq: number; last_seq: number } | undefined;
    if (!payload) return [];
    return Array.from({ length: payload.last_seq - payload.first_seq + 1 }, (_, i) => payload.first_seq + i);
  });
}

/** Whether a response_url post answers the interaction whose URL the driver returned. */
export const answersTo = (responseUrl: string | undefined) => (response: RecordedResponse) =>
  responseUrl !== undefined && responseUrl.endsWith(`/response/${encodeURIComponent(response.id)}`);
