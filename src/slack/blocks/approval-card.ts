/** The card each owner gets for a request: who, what, how long, why; Approve and Deny while it waits. */
import type { AccessRequest } from '../../access/types.ts';
import { formatDuration } from '../../config/duration.ts';
import { liveSessionItem, type ShownSession } from './gateway-sessions.ts';
import { ACTION, BLOCK } from './ids.ts';
import { actions, button, capped, context, moreLine, section, type Message } from './kit.ts';
import {
  GLYPH,
  formatWhen,
  listMentions,
  mention,
  plural,
  requestGlyph,
  resourceLabel,
  truncate,
  userText,
} from './text.ts';

export interface ApprovalCardOptions {
  /** False where the card is shown to someone who may not decide (it then has no buttons). Default true. */
  viewerIsApprover?: boolean;
  /** Mrkdwn that replaces the outcome line computed from the request, for wording the caller knows better. */
  decidedSummary?: string;
  /** The live gateway sessions of the request's grant, each with End session (oldest first). */
  liveSessions?: readonly ShownSession[];
}

/** Sessions a card lists before "and N more": the card stays well inside a message's 50 blocks. */
export const MAX_CARD_SESSIONS = 5;

const resourceOf = (request: AccessRequest) => ({ id: request.resourceId, name: request.resourceName });

/** "<@U1> asks for *X* (`x`) for *2h*", or the extension form. */
export function askLine(request: AccessRequest): string {
  const what = request.extendsGrantId
    ? `to extend access to ${resourceLabel(resourceOf(request))} by`
    : `for ${resourceLabel(resourceOf(request))} for`;
  return `${mention(request.requester)} asks ${what} *${formatDuration(request.durationMs)}*`;
}

/** "<@U1>'s request for *X* (`x`) for 2h", to name a request in a sentence. */
export function requestPhrase(request: AccessRequest): string {
  return `${mention(request.requester)}'s request for ${resourceLabel(resourceOf(request))} for ${formatDuration(request.durationMs)}`;
}

/** Marks a person who gave a right MFA code with what they did. */
export const MFA_MARK = '🔐';

/** "1 of 2 approvals: <@U2>", marked 🔐 when approved with MFA codes. */
export function approvalsLine(request: AccessRequest): string {
  const given = request.approvals.length;
  const count = `${given} of ${plural(request.approvalsRequired, 'approval')}`;
  const approvers = listMentions(request.approvals.map((approval) => approval.approver));
  const withMfa = request.approvals.filter((approval) => approval.mfaChecked).length;
  const mark = withMfa === 0 ? '' : withMfa === given ? ` ${MFA_MARK}` : ` (${withMfa} with ${MFA_MARK})`;
  return given === 0 ? count : `${count}: ${approvers}${mark}`;
}

/** What became of a request that is no longer pending: who decided, and when. */
export function outcomeLine(request: AccessRequest): string {
  const at = request.decidedAt ? ` at ${formatWhen(request.decidedAt)}` : '';
  switch (request.status) {
    case 'pending':
      return `${GLYPH.pending} Waiting for approval until ${formatWhen(request.expiresAt)}`;
    case 'approved': {
      const approvers = request.approvals.map((approval) => approval.approver);
      const by = approvers.length > 0 ? approvers : request.decidedBy ? [request.decidedBy] : [];
      return `${GLYPH.approved} Approved${by.length > 0 ? ` by ${listMentions(by)}` : ''}${at}`;
    }
    case 'denied': {
      const by = request.decidedBy ? ` by ${mention(request.decidedBy)}` : '';
      const reason = request.denyReason ? `: ${userText(request.denyReason, 1500)}` : '';
      return `${GLYPH.denied} Denied${by}${at}${reason}`;
    }
    case 'expired':
      return `${GLYPH.expired} Expired unanswered${at}`;
    case 'cancelled':
      return `${GLYPH.cancelled} Cancelled by the requester${at}`;
  }
}

export function approvalCard(request: AccessRequest, options: ApprovalCardOptions = {}): Message {
  const pending = request.status === 'pending';
  const ask = askLine(request);
  const reasonPrefix = '*Reason:* ';
  const outcome = options.decidedSummary !== undefined ? truncate(options.decidedSummary) : outcomeLine(request);
  const blocks: Message['blocks'] = [
    section(`${requestGlyph(request.status)} ${ask}`),
    section(reasonPrefix + userText(request.reason, 3000 - reasonPrefix.length)),
    context(
      approvalsLine(request),
      `Request \`${request.id}\``,
      ...(request.mfaChecked ? [`${MFA_MARK} Requested with an MFA code`] : []),
    ),
    section(outcome),
  ];
  if (pending && options.viewerIsApprover !== false) {
    blocks.push(
      actions(
        BLOCK.approvalActions,
        // No confirm dialog: approvers are promised one click, and a second click is harmless (already decided).
        button({ text: 'Approve', actionId: ACTION.approve, value: request.id, style: 'primary' }),
        button({ text: 'Deny', actionId: ACTION.deny, value: request.id, style: 'danger' }),
      ),
    );
  }
  blocks.push(...cardSessions(options.liveSessions ?? []));
  const text = pending ? `${GLYPH.pending} ${ask}` : `${outcome} — ${requestPhrase(request)}`;
  return { text: truncate(text), blocks };
}

/** Who is connected through the gateway with this request's access right now; nothing once no one is. */
function cardSessions(sessions: readonly ShownSession[]): Message['blocks'] {
  if (sessions.length === 0) return [];
  const list = capped(sessions, MAX_CARD_SESSIONS);
  return [
    context('*Live database sessions* with this access'),
    ...list.shown.map(liveSessionItem),
    ...moreLine(list.more, 'The oldest are shown first; your Home tab lists more.'),
  ];
}
