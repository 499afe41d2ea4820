import type { App, BlockButtonAction, RespondFn } from '@slack/bolt';
import type { SlackUserId } from '../../../access/ids.ts';
import * as ui from '../../blocks/index.ts';
import { answerClicker } from '../answer-clicker.ts';
import type { SlackDeps } from '../deps.ts';
import { grantIdIn, userOf } from '../ids.ts';
import type { RequestCommand } from '../parse-command.ts';

/**
 * `/request-access <resource> [duration] --break-glass <reason>`: access at once, without
 * approval; the answer says until when and by when owners must ratify it. Everything that
 * is missing is refused with what to type: there is no form to fill in an emergency.
 */
export async function breakGlassCommand(
  deps: SlackDeps,
  userId: SlackUserId,
  parsed: RequestCommand,
  respond: RespondFn,
): Promise<void> {
  const result = await deps.access.breakGlass({
    requester: userId,
    resourceId: parsed.resourceId ?? '',
    reason: parsed.reason ?? '',
    ...(parsed.duration !== undefined ? { duration: parsed.duration } : {}),
    ...(parsed.mfaCode !== undefined ? { mfaCode: parsed.mfaCode } : {}),
  });
  if (!result.ok) {
    const refusal = result.refusal;
    const text =
      refusal.kind === 'mfa-code-needed'
        ? `${ui.refusalText(refusal)} Break the glass with it: \`/request-access ${ui.escapeText(refusal.resource.id)} 30m --break-glass --code 123456 &lt;reason&gt;\`.`
        : ui.refusalText(refusal, userId);
    await respond({ response_type: 'ephemeral', text: ui.truncate(text) });
    return;
  }
  const bg = await deps.access.findBreakGlass(result.grant.id);
  await respond({ response_type: 'ephemeral', ...ui.breakGlassTakenAnswer(result.grant, bg) });
}

/**
 * Ratify and Revoke now, on a break-glass alert in the audit channel or a DM. The access
 * rules decide (owners only; the holder never ratifies their own; a stranger is told who
 * may, on the record); every copy of the alert is updated through the outbox.
 */
export function registerBreakGlass(app: App, deps: SlackDeps): void {
  app.action<BlockButtonAction>(ui.ACTION.ratifyBreakGlass, async ({ ack, body, action, respond, client }) => {
    await ack();
    const result = await deps.access.ratifyBreakGlass(grantIdIn(action), userOf(body));
    await answerClicker(
      { body, respond, client },
      result.ok ? ui.breakGlassRatifiedAnswer(result.breakGlass) : ui.refusalMessage(result.refusal),
    );
  });
  app.action<BlockButtonAction>(ui.ACTION.revokeBreakGlass, async ({ ack, body, action, respond, client }) => {
    await ack();
    const result = await deps.access.revokeBreakGlass(grantIdIn(action), userOf(body));
    await answerClicker(
      { body, respond, client },
      result.ok ? ui.breakGlassRevokedAnswer(result.breakGlass) : ui.refusalMessage(result.refusal),
    );
  });
}
