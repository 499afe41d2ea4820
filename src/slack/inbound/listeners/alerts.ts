import type { App, BlockButtonAction, RespondFn } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import * as ui from '../../blocks/index.ts';
import type { SlackDeps } from '../deps.ts';
import { userOf } from '../ids.ts';

/**
 * Acknowledge and End access now, on an alert in the alert channel or a responder's DM. The
 * access rules decide (the owners of its resource and the security group only, a stranger
 * refused on the record); the clicker is answered under the message, and every copy of the
 * alert is updated through the outbox. A refused click changes no message.
 */
export function registerAlerts(app: App, deps: SlackDeps): void {
  app.action<BlockButtonAction>(ui.ACTION.acknowledgeAlert, async ({ ack, body, action, respond, client }) => {
    await ack();
    const result = await deps.access.acknowledgeAlert(action.value ?? '', userOf(body));
    await answer(body, respond, client, result.ok ? ui.alertAcknowledgedAnswer() : ui.refusalMessage(result.refusal));
  });

  app.action<BlockButtonAction>(ui.ACTION.endAlertAccess, async ({ ack, body, action, respond, client }) => {
    await ack();
    const result = await deps.access.endAccessForAlert(action.value ?? '', userOf(body));
    if (!result.ok) return answer(body, respond, client, ui.refusalMessage(result.refusal));
    const grants = await Promise.all(result.ended.map((id) => deps.access.findGrant(id)));
    const ended = grants.map((grant, i) => ({ resourceName: grant?.resourceName ?? result.ended[i]! }));
    await answer(body, respond, client, ui.alertAccessEndedAnswer(ended));
  });
}

/** Said to the clicker alone: under the message, or in the bot's Messages tab when there is no response_url. */
async function answer(
  body: BlockButtonAction,
  respond: RespondFn,
  client: WebClient,
  message: ui.Message,
): Promise<void> {
  if (body.response_url) await respond({ response_type: 'ephemeral', replace_original: false, ...message });
  else await client.chat.postMessage({ channel: body.user.id, text: message.text, blocks: message.blocks });
}
