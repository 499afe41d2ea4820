/** Step-up MFA on Slack's surfaces: the enrolment message, the code form, status and the lockout notice. */
import type { ModalView } from '@slack/types';
import { asRequestId, type RequestId } from '../../access/ids.ts';
import type { MfaPurpose } from '../../access/refusals.ts';
import type { AccessRequest } from '../../access/types.ts';
import type { MfaStatus } from '../../access/mfa.ts';
import { requestPhrase } from './approval-card.ts';
import { ACTION, BLOCK, MFA_MODAL, VIEW } from './ids.ts';
import { LIMITS, actions, button, context, plainText, section, type Message } from './kit.ts';
import { GLYPH, escapeText, formatWhen, mention, truncate } from './text.ts';

/** What a code form is for; it travels in the modal's private_metadata. */
export interface MfaModalContext {
  purpose: Exclude<MfaPurpose, 'request'>;
  /** For `approve`: the request being approved. */
  requestId?: RequestId;
}

const CODE_HINT = 'The 6-digit code your authenticator app shows for Gatehouse now.';

/** The code input, shared by the code form and the request form. */
export function codeInput(block: string, action: string, label = 'Code from your authenticator app') {
  return {
    type: 'input' as const,
    block_id: block,
    label: plainText(label),
    hint: plainText(CODE_HINT),
    element: {
      type: 'plain_text_input' as const,
      action_id: action,
      min_length: 6,
      max_length: 9,
      placeholder: plainText('123 456'),
    },
  };
}

const MODAL_COPY: Record<MfaModalContext['purpose'], { title: string; submit: string; intro: string }> = {
  confirm: {
    title: 'Confirm MFA',
    submit: 'Confirm',
    intro: 'Enter a code from the authenticator you just set up, to show that it works.',
  },
  're-enrol': {
    title: 'Re-enrol MFA',
    submit: 'Continue',
    intro:
      'Enter a code from your *current* authenticator. A new QR code then comes by direct message; the current one keeps working until you confirm the new one.',
  },
  remove: {
    title: 'Turn off MFA',
    submit: 'Turn off',
    intro: 'Enter a current code to turn MFA off. Resources that need MFA will refuse you until you enrol again.',
  },
  approve: { title: 'Approve with MFA', submit: 'Approve', intro: 'This resource needs a code from the approver.' },
};

export function mfaModal(context: MfaModalContext, request?: AccessRequest): ModalView {
  const copy = MODAL_COPY[context.purpose];
  const intro = request ? `${copy.intro} Approve ${requestPhrase(request)}?` : copy.intro;
  return {
    type: 'modal',
    callback_id: VIEW.mfaModal,
    private_metadata: JSON.stringify(context),
    title: plainText(copy.title, LIMITS.viewTitle),
    submit: plainText(copy.submit, LIMITS.viewTitle),
    close: plainText('Cancel', LIMITS.viewTitle),
    blocks: [section(intro), codeInput(MFA_MODAL.code.block, MFA_MODAL.code.action)],
  };
}

const PURPOSES = new Set<string>(['confirm', 're-enrol', 'remove', 'approve']);

/** Reads back a code form's context; null for anything that is not one. */
export function readMfaModalContext(privateMetadata: string | undefined): MfaModalContext | null {
  try {
    const value = JSON.parse(privateMetadata ?? '') as Record<string, unknown>;
    if (typeof value.purpose !== 'string' || !PURPOSES.has(value.purpose)) return null;
    const purpose = value.purpose as MfaModalContext['purpose'];
    return { purpose, ...(typeof value.requestId === 'string' ? { requestId: asRequestId(value.requestId) } : {}) };
  } catch {
    return null;
  }
}

/** Groups of four, as authenticator apps show secrets for typing in by hand. */
function grouped(secret: string): string {
  return secret.match(/.{1,4}/g)?.join(' ') ?? secret;
}

/** The comment on the uploaded QR code image. */
export function mfaQrComment(reEnrolment: boolean): string {
  return `${reEnrolment ? 'Your new' : 'Your'} Gatehouse MFA QR code: scan it with an authenticator app (1Password, Google Authenticator, Authy, …). It is deleted once you confirm.`;
}

/**
 * Sent with the QR code: the otpauth URI and the secret for typing in by hand, and the
 * button that confirms with a first code. Deleted once the enrolment is confirmed.
 */
export function mfaEnrolmentDM(uri: string, secret: string, reEnrolment: boolean): Message {
  const first = `🔐 ${reEnrolment ? 'Re-enrolling' : 'Setting up'} MFA for Gatehouse`;
  const steps = [
    `*${first}*`,
    '1. Scan the QR code above with your authenticator app, or add this link or key by hand.',
    '2. Press *Enter a code* and type the 6 digits it shows for Gatehouse.',
    reEnrolment ? 'Until you confirm, your current authenticator keeps working.' : 'Until you confirm, MFA is not on.',
  ];
  return {
    text: first,
    blocks: [
      section(steps.join('\n')),
      section(`Link: \`${escapeText(uri)}\`\nKey: \`${grouped(secret)}\``),
      context(
        'Keep this private: anyone with this key can make your codes. Gatehouse deletes this message and the QR code when you confirm.',
      ),
      actions(BLOCK.mfaActions, button({ text: 'Enter a code', actionId: ACTION.mfaConfirm, style: 'primary' })),
    ],
  };
}

export function mfaEnrolmentStarted(reEnrolment: boolean): Message {
  const text = `🔐 I sent you a direct message with ${reEnrolment ? 'a new' : 'your'} QR code. Scan it with an authenticator app, then press *Enter a code* there.`;
  return { text, blocks: [section(text)] };
}

/** `/access mfa` for someone already enrolled: where it stands, with Re-enrol and Turn off. */
export function mfaStatusMessage(status: MfaStatus): Message {
  const lines = [`🔐 MFA is *on*${status.enrolledAt ? ` since ${formatWhen(status.enrolledAt)}` : ''}.`];
  if (status.reEnrolling)
    lines.push('A re-enrolment waits for its confirmation: use *Enter a code* on the QR code message.');
  if (status.lockedUntil)
    lines.push(`${GLYPH.failing} Locked after too many wrong codes until ${formatWhen(status.lockedUntil)}.`);
  const text = lines.join('\n');
  return {
    text: truncate(text),
    blocks: [
      section(text),
      actions(
        BLOCK.mfaActions,
        button({ text: 'Re-enrol (new phone)', actionId: ACTION.mfaReEnrol }),
        button({ text: 'Turn off', actionId: ACTION.mfaRemove, style: 'danger' }),
      ),
    ],
  };
}

export function mfaEnrolledDM(reEnrolment: boolean): Message {
  const text = reEnrolment
    ? '✅ MFA re-enrolled: only your new authenticator works from now on. The QR code message was deleted.'
    : '✅ MFA is on. Resources that need it will ask for a code from your authenticator. The QR code message was deleted.';
  return { text, blocks: [section(text)] };
}

export function mfaChangedDM(change: 'removed' | 'reset', by: string | undefined): Message {
  const text =
    change === 'removed'
      ? '⚪ MFA is off for your account, as you asked. Run `/access mfa` to set it up again.'
      : `⚪ ${by ? mention(by) : 'An MFA admin'} reset your MFA. Run \`/access mfa\` to set it up again. If you did not ask for this, tell your security team.`;
  return { text, blocks: [section(text)] };
}

export function mfaLockedDM(until: Date): Message {
  const text =
    `${GLYPH.failing} Your Gatehouse MFA is locked until ${formatWhen(until)} after 5 wrong codes in 10 minutes. ` +
    'If you did not enter them, tell your security team now: someone may be trying to act as you.';
  return { text, blocks: [section(text)] };
}
