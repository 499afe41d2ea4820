import type { App } from '@slack/bolt';
import { cleanFreeText, readReason } from '../../../access/free-text.ts';
import { parseDuration } from '../../../config/duration.ts';
import { resourceById } from '../../../config/policy.ts';
import * as ui from '../../blocks/index.ts';
import { isBotDm } from '../bot-dm.ts';
import type { SlackDeps } from '../deps.ts';
import { commandUser } from '../ids.ts';
import { parseRequestCommand } from '../parse-command.ts';
import { ticketFromReason, ticketRefusalFor } from '../ticket-words.ts';
import { gatherAnchors, verificationRecord } from '../verify-audit.ts';
import { breakGlassCommand } from './break-glass.ts';
import { accessMfa } from './mfa.ts';
import { requestBatchCommand } from './request-batch.ts';
import { closestRequestable, requestModalFor } from './request-modal.ts';

/** The three slash commands. Each acks at once; the work happens after. */
export function registerCommands(app: App, deps: SlackDeps): void {
  app.command('/request-access', async ({ ack, command, respond, client }) => {
    await ack();
    const userId = commandUser(command);
    const typed = parseRequestCommand(cleanFreeText(command.text));
    const parsed = ticketFromReason(resourceById(deps.policy().policy, typed.resourceId ?? ''), typed);
    if (parsed.breakGlass) return breakGlassCommand(deps, userId, parsed, respond);
    if (typed.resourceId?.includes(',')) return requestBatchCommand(deps, userId, typed, respond);
    // A command complete but for its ticket is refused with the pattern; an incomplete one opens the form, which has a Ticket field.
    const ticketRefusal = parsed.reason ? ticketRefusalFor(deps, userId, parsed) : null;
    if (ticketRefusal) return void (await respond({ response_type: 'ephemeral', ...ui.refusalMessage(ticketRefusal) }));
    // Refused here too: the form below would otherwise open with the reason cut to fit.
    const reason = parsed.reason === undefined ? null : readReason(parsed.reason);
    if (reason && !reason.ok) {
      await respond({
        response_type: 'ephemeral',
        ...ui.refusalMessage({ kind: 'reason-too-long', length: reason.length, max: reason.max }),
      });
      return;
    }
    const durationValid = parsed.duration === undefined || isDuration(parsed.duration);
    // `staging` or `prod-dbb` for a resource they may request: the form, with it chosen, to confirm.
    const resourceId =
      parsed.resourceId === undefined ? undefined : closestRequestable(deps, userId, parsed.resourceId);
    const guessed = resourceId !== undefined && resourceId !== parsed.resourceId;
    const step = await deps.access.requestNeedsCode(userId, resourceId ?? parsed.resourceId);
    if (!step.ok) {
      await respond({ response_type: 'ephemeral', ...ui.refusalMessage(step.refusal) });
      return;
    }
    const openForm = () =>
      client.views.open({
        trigger_id: command.trigger_id,
        view: requestModalFor(deps, userId, parsed, { channelId: command.channel_id }),
      });
    // A request that takes a code is asked for in the form, which has a field for it.
    if (!parsed.resourceId || guessed || !parsed.reason || !durationValid || step.needsCode) {
      // Something is missing or malformed: the form, filled with what was given and marked where it is wrong.
      await openForm();
      return;
    }
    const result = await deps.access.request({
      requester: userId,
      resourceId: parsed.resourceId,
      duration: parsed.duration,
      reason: parsed.reason,
      ...(parsed.ticket !== undefined ? { ticket: parsed.ticket } : {}),
    });
    if (!result.ok) {
      // Over the maximum: the form keeps the reason typed and says the maximum (the refusal is on the record).
      if (result.refusal.kind === 'too-long') await openForm();
      else await respond({ response_type: 'ephemeral', ...ui.refusalMessage(result.refusal) });
      return;
    }
    // Typed in the bot's own DM, the request's DM (sent through the outbox) is the one answer.
    if (await isBotDm(client, command.channel_id, userId)) return;
    await respond({
      response_type: 'ephemeral',
      ...ui.sentToApprovers(result.request, deps.access.approversOf(result.request).length),
    });
  });

  app.command('/access', async ({ ack, command, respond, client }) => {
    await ack();
    const userId = commandUser(command);
    const [first = '', ...rest] = cleanFreeText(command.text).trim().split(/\s+/);
    const word = first.toLowerCase();
    if (word === 'mfa') return accessMfa(deps, { userId, triggerId: command.trigger_id, words: rest, respond, client });
    if (word === 'help') {
      await respond({ response_type: 'ephemeral', ...ui.accessHelp() });
      return;
    }
    if (word !== '') {
      await respond({
        response_type: 'ephemeral',
        text: `\`/access ${ui.escapeText(word)}\` is not something I know. ${ui.accessHelp().text}`,
      });
      return;
    }
    const { grants, requests } = await deps.access.holdingsOf(userId);
    await respond({ response_type: 'ephemeral', ...ui.accessList({ grants, requests, now: new Date() }) });
  });

  app.command('/verify-audit', async ({ ack, command, respond, client, context }) => {
    const userId = commandUser(command);
    if (!deps.access.mayVerifyAudit(userId)) {
      await ack();
      await respond({ response_type: 'ephemeral', ...ui.refusalMessage(await deps.access.refuseVerification(userId)) });
      return;
    }
    await ack({
      response_type: 'ephemeral',
      text: 'Verifying the audit log: every hash is being recomputed and every checkpoint checked…',
    });
    await deps.audit.flush();
    const { anchors, notes } = await gatherAnchors(
      deps.verification,
      client,
      deps.policy().policy.auditChannel,
      context.botId,
    );
    const result = await deps.verifyAnchored({ publicKey: deps.verification.publicKey, anchors });
    await deps.audit.record({ actor: userId, action: 'audit.verified', body: verificationRecord(result) });
    await respond({ response_type: 'ephemeral', ...ui.verifyResultMessage(result, notes) });
  });
}

function isDuration(text: string): boolean {
  try {
    parseDuration(text);
    return true;
  } catch {
    return false;
  }
}
