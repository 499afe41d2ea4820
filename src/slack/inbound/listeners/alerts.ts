import type { App, BlockButtonAction } from '@slack/bolt';
import * as ui from '../../blocks/index.ts';
import { answerClicker } from '../answer-clicker.ts';
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
    await answerClicker(
      { body, respond, client },
      result.ok ? ui.alertAcknowledgedAnswer() : ui.refusalMessage(result.refusal),
    );
  });

  app.action<BlockButtonAction>(ui.ACTION.endAlertAccess, async ({ ack, body, action, respond, client }) => {
    await ack();
    const result = await deps.access.endAccessForAlert(action.value ?? '', userOf(body));
    if (!result.ok) return answerClicker({ body, respond, client }, ui.refusalMessage(result.refusal));
    const grants = await Promise.all(result.ended.map((id) => deps.access.findGrant(id)));
    const ended = grants.map((grant, i) => ({ resourceName: grant?.resourceName ?? result.ended[i]! }));
    await answerClicker({ body, respond, client }, ui.alertAccessEndedAnswer(ended));
  });
}
