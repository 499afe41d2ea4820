/** The holder's Extend form: how much longer (within the resource's maximum), and why. */
import type { ModalView, PlainTextOption } from '@slack/types';
import { MAX_REASON_LENGTH } from '../../access/free-text.ts';
import type { ExtensionForm } from '../../access/needs-code.ts';
import { formatDuration } from '../../config/duration.ts';
import { EXTEND_MODAL, VIEW } from './ids.ts';
import { LIMITS, plainText, section } from './kit.ts';
import { codeInput } from './mfa.ts';
import { formatTimeLeft, formatWhen, resourceLabel, userText } from './text.ts';

const MINUTE = 60_000;
/** What the form offers, as far as the resource's maximum allows (which is always offered too). */
const STEPS_MS = [15, 30, 60, 120, 240, 480, 720, 1440, 2880, 4320, 10080].map((minutes) => minutes * MINUTE);

/** The lengths to choose from: the usual steps up to `maxMs`, then `maxMs` and `defaultMs` if they are not among them. */
export function extensionSteps(defaultMs: number, maxMs: number): number[] {
  const steps = new Set(STEPS_MS.filter((ms) => ms <= maxMs));
  steps.add(maxMs);
  steps.add(Math.min(defaultMs, maxMs));
  return [...steps].sort((a, b) => a - b);
}

function option(ms: number, endsAt: Date): PlainTextOption {
  const until = new Date(endsAt.getTime() + ms);
  return {
    text: plainText(`${formatDuration(ms)} more`, LIMITS.optionText),
    value: formatDuration(ms),
    description: plainText(`until ${until.toISOString().slice(0, 16).replace('T', ' ')} UTC`, LIMITS.optionText),
  };
}

export function extendModal(form: ExtensionForm, now: Date): ModalView {
  const { grant } = form;
  const steps = extensionSteps(form.defaultMs, form.maxMs);
  const options = steps.map((ms) => option(ms, grant.endsAt));
  const initial = options[steps.indexOf(Math.min(form.defaultMs, form.maxMs))];
  const original = form.originalReason ? `\n*You asked for it because:* ${userText(form.originalReason, 1500)}` : '';
  return {
    type: 'modal',
    callback_id: VIEW.extendModal,
    private_metadata: grant.id,
    title: plainText('Extend access', LIMITS.viewTitle),
    submit: plainText('Ask to extend', LIMITS.viewTitle),
    close: plainText('Cancel', LIMITS.viewTitle),
    blocks: [
      section(
        `Your access to ${resourceLabel({ id: grant.resourceId, name: grant.resourceName })} ends ${formatWhen(grant.endsAt)} (${formatTimeLeft(grant.endsAt.getTime() - now.getTime())}).` +
          `${original}\nThe owners approve an extension again; when they do, this same access lasts longer: nothing to reconnect.`,
      ),
      {
        type: 'input',
        block_id: EXTEND_MODAL.duration.block,
        label: plainText('How much longer'),
        hint: plainText(`Added to the current end; at most ${formatDuration(form.maxMs)} at a time.`),
        element: {
          type: 'static_select',
          action_id: EXTEND_MODAL.duration.action,
          options,
          ...(initial ? { initial_option: initial } : {}),
        },
      },
      {
        type: 'input',
        block_id: EXTEND_MODAL.reason.block,
        label: plainText('Why you need more time'),
        hint: plainText('The owners see this beside your first reason when they decide.'),
        element: {
          type: 'plain_text_input',
          action_id: EXTEND_MODAL.reason.action,
          multiline: true,
          max_length: MAX_REASON_LENGTH,
          placeholder: plainText('e.g. the migration is still running (TICKET-123)', 150),
        },
      },
      ...(form.needsCode ? [codeInput(EXTEND_MODAL.mfaCode.block, EXTEND_MODAL.mfaCode.action)] : []),
    ],
  };
}
