import type { App, BlockButtonAction, RespondFn } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { asRequestId, asSlackUserId, type SlackUserId } from '../../../access/ids.ts';
import type { Refusal } from '../../../access/refusals.ts';
import * as ui from '../../blocks/index.ts';
import type { SlackDeps } from '../deps.ts';
import { userOf } from '../ids.ts';

/** `<@U123|dana>` (an escaped mention) or a bare user id. */
const MENTION = /^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^([UW][A-Z0-9]+)$/;

interface MfaCommand {
  userId: SlackUserId;
  triggerId: string;
  words: string[];
  respond: RespondFn;
  client: WebClient;
}

const ephemeral = (message: ui.Message) => ({ response_type: 'ephemeral' as const, ...message });

/**
 * `/access mfa [remove | re-enrol | reset @person]`. With no more words it enrols, or,
 * when MFA is on, shows it with Re-enrol and Turn off. Codes are never typed into a
 * command (Slack may show them in the composer's history): they go into a form.
 */
export async function accessMfa(
  deps: SlackDeps,
  { userId, triggerId, words, respond, client }: MfaCommand,
): Promise<void> {
  const mfa = deps.access.mfa;
  if (!mfa.available) return void (await respond(ephemeral(ui.refusalMessage({ kind: 'mfa-unavailable' }))));
  const [sub = '', target = ''] = words.map((word, i) => (i === 0 ? word.toLowerCase() : word));
  if (sub === 'reset') {
    const id = MENTION.exec(target);
    const mentioned = id?.[1] ?? id?.[2];
    if (!mentioned)
      return void (await respond({
        response_type: 'ephemeral',
        text: 'Say whose MFA to reset: `/access mfa reset @person`.',
      }));
    const person = asSlackUserId(mentioned);
    const result = await mfa.reset(userId, person);
    if (!result.ok) return void (await respond(ephemeral(ui.refusalMessage(result.refusal))));
    const was =
      result.previous === 'off'
        ? 'had no MFA'
        : result.previous === 'pending'
          ? 'had an enrolment waiting'
          : 'had MFA on';
    await respond({
      response_type: 'ephemeral',
      text: `⚪ Reset the MFA of ${ui.mention(person)}, who ${was}${result.wasLocked ? ' and was locked out' : ''}. They can enrol again with \`/access mfa\`; they have been told.`,
    });
    return;
  }
  const status = await mfa.status(userId);
  if (sub === 'remove' || sub === 'off') {
    if (status.state !== 'on')
      return void (await respond({ response_type: 'ephemeral', text: 'MFA is not on for you: nothing to turn off.' }));
    await client.views.open({ trigger_id: triggerId, view: ui.mfaModal({ purpose: 'remove' }) });
    return;
  }
  if (sub !== '' && sub !== 're-enrol' && sub !== 'reenrol') {
    await respond({
      response_type: 'ephemeral',
      text: `\`/access mfa ${ui.escapeText(sub)}\` is not something I know. Try \`/access mfa\`, \`/access mfa remove\` or \`/access mfa reset @person\`.`,
    });
    return;
  }
  if (status.state === 'on') {
    if (sub === '') return void (await respond(ephemeral(ui.mfaStatusMessage(status))));
    await client.views.open({ trigger_id: triggerId, view: ui.mfaModal({ purpose: 're-enrol' }) });
    return;
  }
  const started = await mfa.begin(userId);
  await respond(ephemeral(started.ok ? ui.mfaEnrolmentStarted(false) : ui.refusalMessage(started.refusal)));
}

type Values = Record<string, Record<string, { value?: string | null }>>;

/** The MFA buttons and the code form. Problems with a code come back on the code field. */
export function registerMfa(app: App, deps: SlackDeps): void {
  const forms = [
    [ui.ACTION.mfaConfirm, 'confirm'],
    [ui.ACTION.mfaReEnrol, 're-enrol'],
    [ui.ACTION.mfaRemove, 'remove'],
  ] as const;
  app.action<BlockButtonAction>(ui.ACTION.mfaStart, async ({ ack, body, client }) => {
    await ack();
    const started = await deps.access.mfa.begin(userOf(body));
    // From the Home tab there is no response_url: a refusal goes to the bot's Messages tab; the QR code follows there too.
    if (!started.ok) {
      const message = ui.refusalMessage(started.refusal);
      await client.chat.postMessage({ channel: body.user.id, text: message.text, blocks: message.blocks });
    }
  });
  for (const [actionId, purpose] of forms) {
    app.action<BlockButtonAction>(actionId, async ({ ack, body, client }) => {
      await ack();
      await client.views.open({ trigger_id: body.trigger_id, view: ui.mfaModal({ purpose }) });
    });
  }

  app.view(ui.VIEW.mfaModal, async ({ ack, body, view }) => {
    const context = ui.readMfaModalContext(view.private_metadata);
    const code = (view.state.values as Values)[ui.MFA_MODAL.code.block]?.[ui.MFA_MODAL.code.action]?.value ?? '';
    const userId = userOf(body);
    if (!context)
      return void (await ack({
        response_action: 'errors',
        errors: { [ui.MFA_MODAL.code.block]: 'This form is out of date: close it and start again.' },
      }));
    const mfa = deps.access.mfa;
    const fail = (refusal: Refusal) =>
      ack({
        response_action: 'errors',
        errors: { [ui.MFA_MODAL.code.block]: ui.truncate(ui.refusalText(refusal), 2000) },
      });
    if (context.purpose === 'approve') {
      const approved = await deps.access.approve(context.requestId ?? asRequestId(''), userId, {
        mfaCode: code,
        deferProvisioning: true,
      });
      if (!approved.ok) return void (await fail(approved.refusal));
      // The form closes at once (Slack wants its answer within 3 s); a target may take longer to give access.
      await ack();
      if (approved.grant) await deps.access.provision(approved.grant.id);
      return;
    }
    const result =
      context.purpose === 'confirm'
        ? await mfa.confirm(userId, code)
        : context.purpose === 're-enrol'
          ? await mfa.begin(userId, code)
          : await mfa.remove(userId, code);
    if (!result.ok) return void (await fail(result.refusal));
    // The form closes; what follows comes by direct message: a new QR code, a confirmation.
    await ack();
  });
}
