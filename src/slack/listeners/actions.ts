import type { App, BlockButtonAction } from '@slack/bolt';
import type { Refusal } from '../../access/refusals.ts';
import * as ui from '../blocks/index.ts';
import type { SlackDeps } from '../deps.ts';
import { requestModalFor } from './request-modal.ts';

/** Buttons on cards, DMs, /access and App Home. The id they act on travels in `value`. */
export function registerActions(app: App, deps: SlackDeps): void {
  const refuse = async (respond: (message: Record<string, unknown>) => Promise<unknown>, refusal: Refusal) =>
    respond({ response_type: 'ephemeral', replace_original: false, ...ui.refusalMessage(refusal) });

  app.action<BlockButtonAction>(ui.ACTION.approve, async ({ ack, body, action, respond }) => {
    await ack();
    const result = await deps.access.approve(action.value ?? '', body.user.id);
    if (!result.ok) await refuse(respond, result.refusal);
    // Success shows on every owner's card through the outbox.
  });

  app.action<BlockButtonAction>(ui.ACTION.deny, async ({ ack, body, action, respond, client }) => {
    await ack();
    const allowed = await deps.access.mayDecide(action.value ?? '', body.user.id);
    if (!allowed.ok) return void (await refuse(respond, allowed.refusal));
    await client.views.open({ trigger_id: body.trigger_id, view: ui.denyModal(allowed.request) });
  });

  app.action<BlockButtonAction>(ui.ACTION.cancelRequest, async ({ ack, body, action, respond }) => {
    await ack();
    const result = await deps.access.cancel(action.value ?? '', body.user.id);
    if (!result.ok) return void (await refuse(respond, result.refusal));
    await respond({ response_type: 'ephemeral', replace_original: false, text: `✖️ Your request for ${ui.escapeText(result.request.resourceName)} is cancelled.` });
  });

  app.action<BlockButtonAction>(ui.ACTION.endGrant, async ({ ack, body, action, respond }) => {
    await ack();
    const result = await deps.access.release(action.value ?? '', body.user.id);
    if (!result.ok) return void (await refuse(respond, result.refusal));
    await respond({ response_type: 'ephemeral', replace_original: false, text: `⚪ Your access to ${ui.escapeText(result.grant.resourceName)} is ending now. Thanks for giving it back.` });
  });

  app.action<BlockButtonAction>(ui.ACTION.extendGrant, async ({ ack, body, action, respond }) => {
    await ack();
    const result = await deps.access.extend(action.value ?? '', body.user.id);
    if (!result.ok) return void (await refuse(respond, result.refusal));
    await respond({ response_type: 'ephemeral', replace_original: false, text: `⏳ Asked the owners of ${ui.escapeText(result.request.resourceName)} to approve an extension.` });
  });

  app.action<BlockButtonAction>(ui.ACTION.openRequestModal, async ({ ack, body, client }) => {
    await ack();
    await client.views.open({ trigger_id: body.trigger_id, view: requestModalFor(deps, body.user.id, {}) });
  });
}
