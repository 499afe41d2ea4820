import type { App, BlockButtonAction } from '@slack/bolt';
import type { Refusal } from '../../../access/refusals.ts';
import * as ui from '../../blocks/index.ts';
import { refreshClicked } from '../../person-messages.ts';
import { answerClicker, type Click } from '../answer-clicker.ts';
import { isBotDm } from '../bot-dm.ts';
import type { SlackDeps } from '../deps.ts';
import { grantIdIn, requestIdIn, userOf } from '../ids.ts';
import { requestModalFor } from './request-modal.ts';

/**
 * A refusal always reaches the person: as an ephemeral under a message, and from the App
 * Home, whose clicks come without a response_url (Bolt then gives no respond()), in the
 * bot's Messages tab.
 */
async function refuse(click: Click, refusal: Refusal): Promise<void> {
  await answerClicker(click, ui.refusalMessage(refusal, click.body.user.id));
}

/**
 * A button on a person's own message that no longer applies (a request decided, access
 * ended, an extension waiting): they are told what happened, and the message pressed is
 * set to the state of now, if an update to it had not reached Slack yet.
 */
async function refuseStale(deps: SlackDeps, click: Click, refusal: Refusal): Promise<void> {
  await refuse(click, refusal);
  const { body, client } = click;
  await refreshClicked(
    { client, access: deps.access, db: deps.access.ctx.db, log: deps.log, now: deps.access.ctx.now },
    body.channel?.id ?? body.container?.channel_id,
    body.message?.ts ?? body.container?.message_ts,
  ).catch((err: unknown) => deps.log.warn({ err }, 'a stale message could not be updated'));
}

/** A confirmation, under the message clicked; on the App Home the redrawn tab shows the change. */
async function confirm({ body, respond }: Pick<Click, 'body' | 'respond'>, text: string): Promise<void> {
  if (body.response_url) await respond({ response_type: 'ephemeral', replace_original: false, text });
}

/**
 * The same, for a change the person also hears of by DM through the outbox (a grant ended,
 * an extension sent to the owners): clicked in the bot's own DM, that DM is the one confirmation.
 */
async function confirmUnlessDmFollows(click: Click, text: string): Promise<void> {
  if (await isBotDm(click.client, click.body.channel?.id, userOf(click.body))) return;
  await confirm(click, text);
}

/** Buttons on cards, DMs, /access and App Home. The id they act on travels in `value`. */
export function registerActions(app: App, deps: SlackDeps): void {
  app.action<BlockButtonAction>(ui.ACTION.approve, async ({ ack, body, action, respond, client }) => {
    await ack();
    const requestId = requestIdIn(action);
    const step = await deps.access.approvalNeedsCode(requestId, userOf(body));
    if (!step.ok) return refuse({ body, respond, client }, step.refusal);
    if (step.needsCode) {
      // approver_mfa: the code form; the code is checked with the approval.
      await client.views.open({
        trigger_id: body.trigger_id,
        view: ui.mfaModal({ purpose: 'approve', requestId }, step.request),
      });
      return;
    }
    const result = await deps.access.approve(requestId, userOf(body));
    if (!result.ok) return refuse({ body, respond, client }, result.refusal);
    // Success shows on every owner's card through the outbox. Pressed on the App Home, whose
    // tab just redraws without the request, it is said in a small window.
    if (body.view?.type === 'home')
      await client.views.open({ trigger_id: body.trigger_id, view: ui.approvedNotice(result.request) });
  });

  app.action<BlockButtonAction>(ui.ACTION.deny, async ({ ack, body, action, respond, client }) => {
    await ack();
    const allowed = await deps.access.mayDecide(requestIdIn(action), userOf(body));
    if (!allowed.ok) return refuse({ body, respond, client }, allowed.refusal);
    await client.views.open({ trigger_id: body.trigger_id, view: ui.denyModal(allowed.request) });
  });

  app.action<BlockButtonAction>(ui.ACTION.cancelRequest, async ({ ack, body, action, respond, client }) => {
    await ack();
    const result = await deps.access.cancel(requestIdIn(action), userOf(body));
    if (!result.ok) return refuseStale(deps, { body, respond, client }, result.refusal);
    await confirm({ body, respond }, `✖️ Your request for ${ui.escapeText(result.request.resourceName)} is cancelled.`);
  });

  app.action<BlockButtonAction>(ui.ACTION.endGrant, async ({ ack, body, action, respond, client }) => {
    await ack();
    const result = await deps.access.release(grantIdIn(action), userOf(body));
    if (!result.ok) return refuseStale(deps, { body, respond, client }, result.refusal);
    await confirmUnlessDmFollows(
      { body, respond, client },
      `⚪ Your access to ${ui.escapeText(result.grant.resourceName)} is ending now. Thanks for giving it back.`,
    );
  });

  app.action<BlockButtonAction>(ui.ACTION.extendGrant, async ({ ack, body, action, respond, client }) => {
    await ack();
    // The form asks how much longer and why; a grant that ended, or has an extension waiting, is said at once.
    const form = await deps.access.extensionForm(grantIdIn(action), userOf(body));
    if (!form.ok) return refuseStale(deps, { body, respond, client }, form.refusal);
    await client.views.open({ trigger_id: body.trigger_id, view: ui.extendModal(form, deps.access.ctx.now()) });
  });

  app.action<BlockButtonAction>(ui.ACTION.openRequestModal, async ({ ack, body, client }) => {
    await ack();
    await client.views.open({ trigger_id: body.trigger_id, view: requestModalFor(deps, userOf(body), {}) });
  });
}
