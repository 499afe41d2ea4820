import type { App } from '@slack/bolt';
import { asGrantId, asRequestId } from '../../../access/ids.ts';
import type { Refusal } from '../../../access/refusals.ts';
import { parseDuration } from '../../../config/duration.ts';
import * as ui from '../../blocks/index.ts';
import type { SlackDeps } from '../deps.ts';
import { userOf } from '../ids.ts';

type Values = Record<string, Record<string, { value?: string | null; selected_option?: { value: string } | null }>>;

/** Which form field a refusal is about, so the form shows it there. */
function fieldOf(refusal: Refusal): string {
  switch (refusal.kind) {
    case 'too-long':
    case 'bad-duration':
      return ui.REQUEST_MODAL.duration.block;
    case 'reason-required':
    case 'reason-too-long':
      return ui.REQUEST_MODAL.reason.block;
    case 'mfa-not-enrolled':
    case 'mfa-code-needed':
    case 'mfa-wrong':
    case 'mfa-replayed':
    case 'mfa-locked':
    case 'mfa-unavailable':
      return ui.REQUEST_MODAL.mfaCode.block;
    case 'ticket-needed':
      return ui.REQUEST_MODAL.ticket.block;
    default:
      return ui.REQUEST_MODAL.resource.block;
  }
}

/** The Extend form's field a refusal is about: the code, the reason, or (anything else) how much longer. */
function extendFieldOf(refusal: Refusal): string {
  const field = fieldOf(refusal);
  if (field === ui.REQUEST_MODAL.mfaCode.block) return ui.EXTEND_MODAL.mfaCode.block;
  if (field === ui.REQUEST_MODAL.reason.block) return ui.EXTEND_MODAL.reason.block;
  return ui.EXTEND_MODAL.duration.block;
}

/** Submissions of the request, Extend and deny forms. Problems come back on the field they concern. */
export function registerViews(app: App, deps: SlackDeps): void {
  app.view(ui.VIEW.requestModal, async ({ ack, body, view }) => {
    const values = view.state.values as Values;
    const resourceId =
      values[ui.REQUEST_MODAL.resource.block]?.[ui.REQUEST_MODAL.resource.action]?.selected_option?.value ?? '';
    const duration = values[ui.REQUEST_MODAL.duration.block]?.[ui.REQUEST_MODAL.duration.action]?.value ?? '';
    const reason = values[ui.REQUEST_MODAL.reason.block]?.[ui.REQUEST_MODAL.reason.action]?.value ?? '';
    const mfaCode = values[ui.REQUEST_MODAL.mfaCode.block]?.[ui.REQUEST_MODAL.mfaCode.action]?.value ?? '';
    const ticket = values[ui.REQUEST_MODAL.ticket.block]?.[ui.REQUEST_MODAL.ticket.action]?.value ?? '';
    if (duration.trim() !== '') {
      try {
        parseDuration(duration.trim());
      } catch (err) {
        return void (await ack({
          response_action: 'errors',
          errors: { [ui.REQUEST_MODAL.duration.block]: (err as Error).message },
        }));
      }
    }
    const context = ui.readRequestModalContext(view.private_metadata);
    const result = await deps.access.request({
      requester: userOf(body),
      resourceId,
      duration,
      reason,
      ...(context.extendsGrantId ? { extendsGrantId: context.extendsGrantId } : {}),
      ...(mfaCode.trim() !== '' ? { mfaCode } : {}),
      ...(ticket.trim() !== '' ? { ticket } : {}),
    });
    if (!result.ok) {
      return void (await ack({
        response_action: 'errors',
        errors: { [fieldOf(result.refusal)]: ui.truncate(ui.refusalText(result.refusal), 2000) },
      }));
    }
    // The form closes; the requester hears from us by DM, through the outbox.
    await ack();
  });

  app.view(ui.VIEW.extendModal, async ({ ack, body, view }) => {
    const values = view.state.values as Values;
    const duration =
      values[ui.EXTEND_MODAL.duration.block]?.[ui.EXTEND_MODAL.duration.action]?.selected_option?.value ?? '';
    const reason = values[ui.EXTEND_MODAL.reason.block]?.[ui.EXTEND_MODAL.reason.action]?.value ?? '';
    const mfaCode = values[ui.EXTEND_MODAL.mfaCode.block]?.[ui.EXTEND_MODAL.mfaCode.action]?.value ?? '';
    // The form carries the grant's id; extend() checks it is the submitter's own live grant.
    const result = await deps.access.extend(asGrantId(view.private_metadata), userOf(body), {
      reason,
      ...(duration !== '' ? { duration } : {}),
      ...(mfaCode.trim() !== '' ? { mfaCode } : {}),
    });
    if (!result.ok) {
      return void (await ack({
        response_action: 'errors',
        errors: { [extendFieldOf(result.refusal)]: ui.truncate(ui.refusalText(result.refusal), 2000) },
      }));
    }
    // The form closes; the owners get their cards and the holder a DM, through the outbox.
    await ack();
  });

  app.view(ui.VIEW.denyModal, async ({ ack, body, view }) => {
    const values = view.state.values as Values;
    const reason = values[ui.DENY_MODAL.reason.block]?.[ui.DENY_MODAL.reason.action]?.value ?? '';
    // An empty or over-long reason is refused by the access rules, as on every other path.
    // The deny form carries the request's id as its private_metadata.
    const result = await deps.access.deny(asRequestId(view.private_metadata), userOf(body), reason);
    if (!result.ok) {
      return void (await ack({
        response_action: 'errors',
        errors: { [ui.DENY_MODAL.reason.block]: ui.truncate(ui.refusalText(result.refusal), 2000) },
      }));
    }
    await ack();
  });
}
