/**
 * The words for each refusal the domain returns: what went wrong, what is allowed, what to
 * do next. The `Refusal` type lives in the domain (src/access/refusals.ts) because access/
 * must not import Slack; it is re-exported here for listeners.
 */
import type { Refusal, ResourceRef } from '../../access/refusals.ts';
import type { Grant, GrantEndReason } from '../../access/types.ts';
import { DURATION_HINT, formatDuration } from '../../config/duration.ts';
import { approvalsLine, outcomeLine, requestPhrase } from './approval-card.ts';
import { contractEndedText, extensionPastContractText } from './contracts.ts';
import { ticketNeededText } from './tickets.ts';
import { section, type Message } from './kit.ts';
import { escapeText, formatWhen, listMentions, mention, plural, resourceLabel, truncate, userText } from './text.ts';

export type { Refusal, ResourceRef } from '../../access/refusals.ts';

/** How many allowed resources a refusal lists before saying "and N more". */
const MAX_LISTED = 15;

const code = (text: string) => `\`${escapeText(text)}\``;
const example = (resourceId: string, duration = '2h') => code(`/request-access ${resourceId} ${duration} <reason>`);

function allowedList(allowed: readonly ResourceRef[]): string {
  if (allowed.length === 0) {
    return 'You may not request any resource yet: ask an administrator to add you to a resource in the Gatehouse policy.';
  }
  const names = allowed.slice(0, MAX_LISTED).map((resource) => `${code(resource.id)} (${escapeText(resource.name)})`);
  const more = allowed.length > MAX_LISTED ? ` and ${allowed.length - MAX_LISTED} more` : '';
  return `You may request: ${names.join(', ')}${more}.`;
}

function tryOne(allowed: readonly ResourceRef[]): string {
  const first = allowed[0];
  return first ? ` For example: ${example(first.id)}.` : '';
}

/** The sentences for one refusal, in mrkdwn. */
const ENDED_BECAUSE: Record<GrantEndReason, string> = {
  expired: 'its time ran out',
  released: 'you ended it',
  revoked: 'it was revoked',
};

/** "ended at <time> (its time ran out)", or "is no longer active" while it is being ended. */
function endedPhrase(grant: Grant): string {
  if (grant.status !== 'ended') return 'is no longer active';
  const why = grant.endReason ? ` (${ENDED_BECAUSE[grant.endReason]})` : '';
  return `ended at ${formatWhen(grant.endedAt ?? grant.endsAt)}${why}`;
}

export function refusalText(refusal: Refusal, viewer?: string): string {
  switch (refusal.kind) {
    case 'unknown-resource':
      return `There is no resource called ${code(truncate(refusal.given, 100))}. ${allowedList(refusal.allowed)}${tryOne(refusal.allowed)}`;
    case 'not-allowed':
      return (
        `You are not on the list of people who may request ${resourceLabel(refusal.resource)}. ${allowedList(refusal.allowed)}` +
        ' If your work needs it, ask one of its owners to add you to the policy.'
      );
    case 'too-long': {
      const max = formatDuration(refusal.maxMs);
      return (
        `${resourceLabel(refusal.resource)} allows at most ${max}; you asked for ${formatDuration(refusal.requestedMs)}. ` +
        `Ask again with a shorter duration, e.g. ${example(refusal.resource.id, max)}. If you need longer, extend the grant before it ends.`
      );
    }
    case 'bad-duration':
      return `${code(truncate(refusal.given, 100))} is not a duration: ${DURATION_HINT}. For example: ${code('/request-access <resource> 2h <reason>')}.`;
    case 'reason-required':
      return `${resourceLabel(refusal.resource)} needs a reason: say what you will do with it, e.g. ${code(`/request-access ${refusal.resource.id} 2h fix invoice export`)}.`;
    case 'reason-too-long':
      return (
        `That reason is ${refusal.length.toLocaleString('en-US')} characters long; Gatehouse takes at most ${refusal.max.toLocaleString('en-US')}. ` +
        'Nothing was recorded: shorten it (a link to a ticket can carry the details) and send it again.'
      );
    case 'deny-reason-required':
      return 'Say why, so the requester knows what to do next.';
    case 'extension-of-ended': {
      const { grant } = refusal;
      return (
        `Your access to ${resourceLabel({ id: grant.resourceId, name: grant.resourceName })} ${endedPhrase(grant)}, so there is nothing to extend. ` +
        `Ask for it again instead, e.g. ${example(grant.resourceId)}.`
      );
    }
    case 'already-ended': {
      const { grant } = refusal;
      return `Your access to ${resourceLabel({ id: grant.resourceId, name: grant.resourceName })} ${endedPhrase(grant)}: there is nothing to give back.`;
    }
    case 'extension-other-resource': {
      const { grant } = refusal;
      return (
        `This form extends your access to ${resourceLabel({ id: grant.resourceId, name: grant.resourceName })}, not ${resourceLabel(refusal.resource)}. ` +
        `Choose ${escapeText(grant.resourceName)} again, or ask for the other with ${example(refusal.resource.id)}.`
      );
    }
    case 'already-held': {
      const { grant } = refusal;
      return (
        `You already have access to ${resourceLabel({ id: grant.resourceId, name: grant.resourceName })} until ${formatWhen(grant.endsAt)}. ` +
        'To keep it longer, press *Extend* on the reminder before it ends; `/access` shows what you hold.'
      );
    }
    case 'already-pending': {
      const { request } = refusal;
      return (
        `You already asked for ${resourceLabel({ id: request.resourceId, name: request.resourceName })} and it is waiting for approval ` +
        `(${approvalsLine(request)}, expires ${formatWhen(request.expiresAt)}). To ask differently, cancel it first with \`/access\`.`
      );
    }
    case 'not-approver':
      return (
        `You are not an approver for ${resourceLabel({ id: refusal.request.resourceId, name: refusal.request.resourceName })}: ` +
        'only its owners can approve or deny this request. Your attempt has been recorded in the audit log.'
      );
    case 'own-request':
      return refusal.owner
        ? `You cannot decide your own request, even as an owner of ${escapeText(refusal.request.resourceName)}: another owner must approve or deny it.`
        : `You cannot decide your own request: the owners of ${escapeText(refusal.request.resourceName)} approve or deny it, and you will hear from Gatehouse when they do.`;
    case 'already-approved-by-you': {
      const { request } = refusal;
      const missing = Math.max(0, request.approvalsRequired - request.approvals.length);
      return `You already approved ${requestPhrase(request)}. It needs ${plural(missing, 'more approval')} from ${missing === 1 ? 'another owner' : 'other owners'} (${approvalsLine(request)}).`;
    }
    case 'already-decided':
      return viewer === refusal.request.requester
        ? `Your request for ${escapeText(refusal.request.resourceName)} is no longer pending: ${outcomeLine(refusal.request)}. Nothing more to do.`
        : `${requestPhrase(refusal.request)} is no longer pending: ${outcomeLine(refusal.request)}. Nothing more to do.`;
    case 'not-yours':
      return 'That is not yours to change: only the person who holds a grant or made a request can end or cancel it. `/access` shows yours.';
    case 'not-found':
      return `Gatehouse has no request or grant ${code(truncate(refusal.id, 100))}. \`/access\` shows what you hold and what you asked for.`;
    case 'not-auditor':
      return (
        "Only members of the policy's `auditors` group can run `/verify-audit`. " +
        'Ask an auditor to run it, or ask an administrator to add you to `auditors`.'
      );
    case 'mfa-not-enrolled':
      return refusal.purpose === 'confirm'
        ? 'No MFA enrolment is waiting to be confirmed: run `/access mfa` to start one.'
        : 'You have not set up MFA yet: run `/access mfa`, scan the QR code with an authenticator app, and try again.';
    case 'mfa-code-needed':
      return `${resourceLabel(refusal.resource)} needs a current code from your authenticator app. Enter the 6 digits it shows for Gatehouse.`;
    case 'mfa-wrong':
      return (
        `${refusal.malformed ? 'A code is 6 digits.' : 'That code is not right.'} Use the code your authenticator app shows now for Gatehouse; ` +
        `check that your phone's clock is set automatically. ${plural(refusal.attemptsLeft, 'more wrong code')} within 10 minutes and MFA locks for 15 minutes.`
      );
    case 'mfa-replayed':
      return 'That code was already used. Wait for your authenticator app to show the next one (at most 30 seconds) and enter that.';
    case 'mfa-locked':
      return (
        `MFA is locked after too many wrong codes, until ${formatWhen(refusal.until)}. ` +
        'If you did not enter them, tell your security team: someone may be trying to act as you. An MFA admin can unlock it sooner.'
      );
    case 'mfa-unavailable':
      return 'MFA is not available: the operator has not set GATEHOUSE_SECRETS_KEY, which keeps the authenticator secrets encrypted. Ask them to set it.';
    case 'mfa-already-on':
      return 'MFA is already on. To move to a new phone, choose *Re-enrol* in `/access mfa` and confirm with a current code first.';
    case 'not-mfa-admin':
      return "Only the policy's `mfa_admins` can reset someone's MFA. Ask one of them; your attempt has been recorded in the audit log.";
    case 'mfa-own-reset':
      return 'You cannot reset your own MFA: ask another MFA admin, or turn it off yourself with a current code (`/access mfa`).';
    case 'not-alert-responder':
      return (
        `Only the owners of the resource this alert is about and the policy's \`security\` group can ${refusal.action === 'acknowledge' ? 'acknowledge it' : 'end access from it'}. ` +
        'Nothing was changed, and your attempt has been recorded in the audit log. If it needs attention, tell one of them.'
      );
    case 'alert-already-acknowledged':
      return `${mention(refusal.by)} already acknowledged this alert at ${formatWhen(refusal.at)}. Nothing more to do here; talk to them if it needs more.`;
    case 'alert-about-you':
      return (
        "You cannot acknowledge an alert about yourself: acknowledging takes it off everyone's list, " +
        "so another owner or a member of the policy's `security` group must. Nothing was changed, and your attempt has been recorded in the audit log. " +
        'If there is an explanation, tell one of them.'
      );
    case 'alert-nothing-to-end':
      return (
        `There is no access left to end for *${userText(refusal.alert.title, 300)}* (\`${escapeText(refusal.alert.id)}\`): ` +
        'it has already ended or is being taken away, or it is not yours to end (an owner ends access to what they own; the `security` group, to anything). ' +
        '`/access` and your Home tab show what is still live.'
      );
    case 'break-glass-not-allowed':
      return refusal.offered
        ? `You are not among the people who may break the glass on ${resourceLabel(refusal.resource)}. Ask for it the usual way, e.g. ${example(refusal.resource.id)}, and its owners decide.`
        : `${resourceLabel(refusal.resource)} allows no break-glass access. Ask for it the usual way, e.g. ${example(refusal.resource.id)}, and its owners decide.`;
    case 'break-glass-too-long': {
      const max = formatDuration(refusal.maxMs);
      return (
        `Break-glass access to ${resourceLabel(refusal.resource)} lasts at most ${max}; you asked for ${formatDuration(refusal.requestedMs)}. ` +
        `Ask again for ${max} or less, e.g. ${code(`/request-access ${refusal.resource.id} ${max} --break-glass <reason>`)}.`
      );
    }
    case 'not-break-glass-owner': {
      const who = refusal.owners.length > 0 ? listMentions(refusal.owners) : 'its owners';
      if (refusal.holder && refusal.action === 'ratify')
        return `You cannot ratify your own break-glass access: ${who} may. Nothing was changed, and your attempt has been recorded in the audit log.`;
      return `Only the owners of the resource may ${refusal.action} break-glass access: ${who}. Nothing was changed, and your attempt has been recorded in the audit log; tell one of them if it needs attention.`;
    }
    case 'break-glass-settled': {
      const at = refusal.at ? ` at ${formatWhen(refusal.at)}` : '';
      if (refusal.status === 'unratified')
        return `This break-glass access was already revoked automatically${at}: nobody ratified it in time. Nothing more to do.`;
      const by = refusal.by ? ` by ${mention(refusal.by)}` : '';
      return `This break-glass access was already ${refusal.status}${by}${at}. Nothing more to do.`;
    }
    case 'already-ratified-by-you': {
      const missing = Math.max(0, refusal.quorum - refusal.given);
      return `You already ratified it (${refusal.given} of ${refusal.quorum}). It needs ${plural(missing, 'more owner')} to ratify.`;
    }
    case 'ticket-needed':
      return ticketNeededText(refusal);
    case 'contract-ended':
      return contractEndedText(refusal.written, refusal.endsAt, refusal.owners);
    case 'extension-past-contract':
      return extensionPastContractText(refusal.written, refusal.endsAt, refusal.owners);
    default:
      return unhandled(refusal);
  }
}

/** Fails to compile when the domain adds a refusal that has no words yet. */
function unhandled(refusal: never): string {
  return `Gatehouse cannot do that (${escapeText(String((refusal as { kind?: unknown }).kind))}).`;
}

/** An ephemeral answer to a refused command or click. */
/** `viewer`: who is told, when known, so that a person hears of their own request as theirs. */
export function refusalMessage(refusal: Refusal, viewer?: string): Message {
  const text = refusalText(refusal, viewer);
  return { text: truncate(text), blocks: [section(text)] };
}
