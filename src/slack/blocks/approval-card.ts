/** The card each owner gets for a request: who, what, how long, why; Approve and Deny while it waits. */
import type { RequesterHistory } from '../../access/history.ts';
import type { AccessRequest } from '../../access/types.ts';
import { formatDuration } from '../../config/duration.ts';
import { contractShortenedLine } from './contracts.ts';
import { liveSessionItem, type ShownSession } from './gateway-sessions.ts';
import { escalationLine, onCallLine, ticketLine } from './tickets.ts';
import { ACTION, BLOCK } from './ids.ts';
import { actions, button, capped, context, header, moreLine, section, type Message } from './kit.ts';
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
  /** The requester's name as Slack gives it, shown beside the mention; the mention alone without it. */
  requesterName?: string;
  /** What the requester has had of this resource before; no history line without it. */
  history?: RequesterHistory;
  /** Who may decide (the resource's owners but the requester); no approvers line without it. */
  approvers?: readonly string[];
  /** For an extension request: the grant it extends, or null when that grant is not on record. */
  extendedGrant?: ExtendedGrant | null;
}

/** The grant an extension request would extend, as the card shows it. */
export interface ExtendedGrant {
  /** The reason given for the grant's own request; null when that request is not on record. */
  originalReason: string | null;
  startsAt: Date;
  /** The grant's end now: before approval the end the extension would move, after it the moved end. */
  endsAt: Date;
  /** How long the access has been held: from its start to now, or to when it ended. */
  heldMs: number;
  /** The grant has ended (released, revoked, run out): nothing is left to extend. */
  ended: boolean;
}

/** Sessions a card lists before "and N more": the card stays well inside a message's 50 blocks. */
export const MAX_CARD_SESSIONS = 5;

const resourceOf = (request: AccessRequest) => ({ id: request.resourceId, name: request.resourceName });

/** "<@U1> asks for *X* (`x`) for *2h*", or the extension form; `who` names the requester another way. */
export function askLine(request: AccessRequest, who = mention(request.requester)): string {
  const what = request.extendsGrantId
    ? `to extend access to ${resourceLabel(resourceOf(request))} by`
    : `for ${resourceLabel(resourceOf(request))} for`;
  return `${who} asks ${what} *${formatDuration(request.durationMs)}*`;
}

/** "<@U1>'s request for *X* (`x`) for 2h", to name a request in a sentence. */
export function requestPhrase(request: AccessRequest): string {
  return `${mention(request.requester)}'s request for ${resourceLabel(resourceOf(request))} for ${formatDuration(request.durationMs)}`;
}

/** "Access request: Staging database", the card's plain-text heading. */
export function cardHeading(request: AccessRequest): string {
  return `${request.extendsGrantId ? 'Extension request' : 'Access request'}: ${request.resourceName}`;
}

/** A date alone, in the reader's zone: "2 Dec 2026". */
function formatDay(date: Date): string {
  const unix = Math.floor(date.getTime() / 1000);
  return `<!date^${unix}^{date_short}|${date.toISOString().slice(0, 10)}>`;
}

/** Denial reasons in the history line are a glimpse; the whole one is on the denied request. */
const HISTORY_REASON_CHARS = 80;

/** "History with *X*: 3 grants (last 2 Dec, 1h) · 1 denial (last: “use the replica”)", or a first request. */
export function historyLine(request: AccessRequest, history: RequesterHistory): string {
  const resource = `*${userText(request.resourceName, 150)}*`;
  if (history.grants === 0 && history.denials === 0)
    return `🆕 First request for ${resource} by ${mention(request.requester)}`;
  const parts: string[] = [];
  if (history.grants > 0) {
    const last = history.lastGrant;
    const detail = last ? ` (last ${formatDay(last.startsAt)}, ${formatDuration(Math.max(0, last.durationMs))})` : '';
    parts.push(`${plural(history.grants, 'grant')}${detail}`);
  }
  if (history.denials > 0) {
    const reason = history.lastDenial?.reason;
    const detail = reason ? ` (last: “${userText(reason, HISTORY_REASON_CHARS)}”)` : '';
    parts.push(`${plural(history.denials, 'denial')}${detail}`);
  }
  return `📜 History with ${resource}: ${parts.join(' · ')}`;
}

/** Approver mentions a card lists before "and N more". */
export const MAX_CARD_APPROVERS = 10;

/** "Can approve: <@A>, <@B> and <@C> · 1 of 2 approvals: <@A>". */
function whoDecidesLine(request: AccessRequest, approvers: readonly string[] | undefined): string {
  if (approvers === undefined) return approvalsLine(request);
  if (approvers.length === 0)
    return `No one may approve this now (no owner but the requester) · ${approvalsLine(request)}`;
  const list = capped(approvers, MAX_CARD_APPROVERS);
  const names =
    list.more > 0 ? `${list.shown.map(mention).join(', ')} and ${list.more} more` : listMentions(list.shown);
  return `*Can approve:* ${names} · ${approvalsLine(request)}`;
}

/** "Asked 2 Jan 10:00 · for 2h from approval". */
function whenLine(request: AccessRequest): string {
  const window = request.extendsGrantId
    ? `${formatDuration(request.durationMs)} more`
    : `for ${formatDuration(request.durationMs)} from approval`;
  return `Asked ${formatWhen(request.createdAt)} · ${window}`;
}

/** The original reason, the grant's current end, the end asked for, and how long access has been held. */
function extensionLines(request: AccessRequest, grant: ExtendedGrant | null): string {
  if (grant === null)
    return `Extends grant \`${userText(request.extendsGrantId ?? '', 100)}\`, which is no longer on record.`;
  const reason = grant.originalReason === null ? '_not on record_' : userText(grant.originalReason, 1000);
  const held = `*Held so far:* ${formatDuration(Math.max(0, grant.heldMs))} (since ${formatWhen(grant.startsAt)})`;
  const end = grant.ended
    ? `*Access ended* ${formatWhen(grant.endsAt)}`
    : request.status === 'pending'
      ? `*Access now ends* ${formatWhen(grant.endsAt)} · *if approved, ends* ${formatWhen(new Date(grant.endsAt.getTime() + request.durationMs))}`
      : `*Access now ends* ${formatWhen(grant.endsAt)}`;
  return `*Originally asked for:* ${reason}\n${end}\n${held}`;
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
      // `system` withdraws a request nothing is left to decide on: the grant it extends ended, or the requester's contract did.
      return request.decidedBy === 'system'
        ? `${GLYPH.cancelled} Withdrawn by Gatehouse${at}: nothing is left to decide`
        : `${GLYPH.cancelled} Cancelled by the requester${at}`;
  }
}

/** A name Slack gave, beside the mention: "<@U1> (Bram Example)". */
function named(request: AccessRequest, name: string | undefined): string {
  const who = mention(request.requester);
  const shown = name?.trim();
  return shown && shown !== request.requester ? `${who} (${userText(shown, 80)})` : who;
}

export function approvalCard(request: AccessRequest, options: ApprovalCardOptions = {}): Message {
  const pending = request.status === 'pending';
  const ask = askLine(request);
  const reasonPrefix = '*Reason:* ';
  const outcome = options.decidedSummary !== undefined ? truncate(options.decidedSummary) : outcomeLine(request);
  const blocks: Message['blocks'] = [
    header(cardHeading(request)),
    section(`${requestGlyph(request.status)} ${askLine(request, named(request, options.requesterName))}`),
    context(whenLine(request)),
    ...(request.contractEndsAt ? [context(contractShortenedLine(request)!)] : []),
    ...[ticketLine(request), onCallLine(request), escalationLine(request)].flatMap((line) =>
      line ? [context(line)] : [],
    ),
    section(reasonPrefix + userText(request.reason, 3000 - reasonPrefix.length)),
    ...(request.extendsGrantId && options.extendedGrant !== undefined
      ? [section(extensionLines(request, options.extendedGrant))]
      : []),
    ...(options.history ? [context(historyLine(request, options.history))] : []),
    context(
      whoDecidesLine(request, options.approvers),
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
  blocks.push(context(`Request \`${request.id}\``));
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
