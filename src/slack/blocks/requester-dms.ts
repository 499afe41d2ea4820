/** Direct messages that tell a requester where their request and grant stand, one per step. */
import { contractShortenedLine } from './contracts.ts';
import type { AccessRequest, Grant, GrantEndReason } from '../../access/types.ts';
import { formatDuration } from '../../config/duration.ts';
import { approvalsLine } from './approval-card.ts';
import { ACTION, BLOCK, itemBlockId } from './ids.ts';
import { actions, button, context, section, type Message } from './kit.ts';
import { escalationLine, ticketLine } from './tickets.ts';
import {
  GLYPH,
  escapeText,
  formatWhen,
  listMentions,
  mention,
  plural,
  resourceLabel,
  truncate,
  userText,
} from './text.ts';

const ofRequest = (request: AccessRequest) => resourceLabel({ id: request.resourceId, name: request.resourceName });
const ofGrant = (grant: Grant) => resourceLabel({ id: grant.resourceId, name: grant.resourceName });
const askAgain = (resourceId: string) => `\`/request-access ${escapeText(resourceId)} <duration> <reason>\``;

/** A message whose first line is also its notification text. */
function dm(lines: string[], ...rest: Message['blocks']): Message {
  const [first = '', ...more] = lines;
  return { text: truncate(first), blocks: [section([first, ...more].join('\n')), ...rest] };
}

function reasonContext(request: AccessRequest): Message['blocks'] {
  return [context(`Reason: ${userText(request.reason, 500)}`)];
}

/** "Your request for *X* (`x`) for *2h*", or "Your request to extend *X* (`x`) by *1h*". */
function yourRequest(request: AccessRequest): string {
  const how = `*${formatDuration(request.durationMs)}*`;
  return request.extendsGrantId
    ? `Your request to extend ${ofRequest(request)} by ${how}`
    : `Your request for ${ofRequest(request)} for ${how}`;
}

/**
 * The DM a request's requester gets when it is filed, as it stands now: while it waits,
 * who was asked, with Cancel; once decided, what became of it and of its access, with no
 * button left to press.
 */
export function requestSentDM(request: AccessRequest, ownerCount: number, grant: Grant | null): Message {
  if (request.status === 'pending') return sentToApprovers(request, ownerCount);
  return dm([requestOutcome(request), ...(request.status === 'approved' && grant ? [grantLine(grant)] : [])]);
}

/** What became of a request that is no longer pending, said to its requester. */
function requestOutcome(request: AccessRequest): string {
  const at = request.decidedAt ? ` at ${formatWhen(request.decidedAt)}` : '';
  switch (request.status) {
    case 'pending':
      return `${GLYPH.pending} ${yourRequest(request)} is waiting for approval (${approvalsLine(request)}).`;
    case 'approved': {
      const approvers = request.approvals.map((approval) => approval.approver);
      const by = approvers.length > 0 ? listMentions(approvers) : request.decidedBy ? mention(request.decidedBy) : '';
      return `${GLYPH.approved} ${yourRequest(request)} was approved${by ? ` by ${by}` : ''}${at}.`;
    }
    case 'denied': {
      const by = request.decidedBy ? ` by ${mention(request.decidedBy)}` : '';
      const reason = request.denyReason ? `: ${userText(request.denyReason, 2000)}` : '.';
      return `${GLYPH.denied} ${yourRequest(request)} was denied${by}${at}${reason}`;
    }
    case 'expired':
      return `${GLYPH.expired} ${yourRequest(request)} expired unanswered${at}.`;
    case 'cancelled':
      return request.decidedBy === 'system'
        ? `${GLYPH.cancelled} ${yourRequest(request)} was withdrawn${at}: the access it would extend had ended.`
        : `${GLYPH.cancelled} ${yourRequest(request)} was cancelled${at}.`;
  }
}

/** Where a grant stands, in one line for its holder. */
function grantLine(grant: Grant): string {
  switch (grant.status) {
    case 'provisioning':
      return `Your access is being set up; it lasts until ${formatWhen(grant.endsAt)}. I'll tell you as soon as it is active.`;
    case 'provision_failed':
      return `Setting up your access is failing; Gatehouse keeps retrying. It still ends at ${formatWhen(grant.endsAt)}.`;
    case 'active':
      return `Your access is active until ${formatWhen(grant.endsAt)}.`;
    case 'revoking':
    case 'revoke_failed':
      return 'Your access is ending now.';
    case 'ended':
      return `That access ended at ${formatWhen(grant.endedAt ?? grant.endsAt)}${grant.endReason ? `: ${END_REASONS[grant.endReason]}` : ''}.`;
  }
}

export function sentToApprovers(request: AccessRequest, ownerCount: number): Message {
  const progress = request.approvals.length > 0 ? ` So far: ${approvalsLine(request)}.` : '';
  return dm(
    [
      `${GLYPH.pending} ${yourRequest(request)} was sent to ${plural(ownerCount, 'approver')}.`,
      `It needs ${plural(request.approvalsRequired, 'approval')} and expires unanswered ${formatWhen(request.expiresAt)}.${progress} I'll message you when it is decided.`,
      ...(request.contractEndsAt ? [contractShortenedLine(request)!] : []),
      ...[ticketLine(request), escalationLine(request)].flatMap((line) => (line ? [line] : [])),
    ],
    ...reasonContext(request),
    actions(
      itemBlockId(BLOCK.requestActions, request.id),
      button({ text: 'Cancel request', actionId: ACTION.cancelRequest, value: request.id }),
    ),
  );
}

/**
 * The approval, said to the requester; its second line follows the grant (being set up,
 * active until, ended), and an extension says the new end.
 */
export function approvedDM(request: AccessRequest, grant: Grant): Message {
  const approvers = request.approvals.map((approval) => approval.approver);
  const by =
    approvers.length > 0 ? listMentions(approvers) : request.decidedBy ? mention(request.decidedBy) : 'the owners';
  if (request.extendsGrantId) {
    return dm([
      `${GLYPH.approved} ${by} approved your extension of ${ofRequest(request)} by *${formatDuration(request.durationMs)}*.`,
      grant.status === 'active' || grant.status === 'provisioning' || grant.status === 'provision_failed'
        ? `Your access now lasts until ${formatWhen(grant.endsAt)}: the same access, nothing to reconnect.`
        : grantLine(grant),
    ]);
  }
  return dm([
    `${GLYPH.approved} ${by} approved your request for ${ofRequest(request)}.`,
    grant.status === 'provisioning'
      ? `Your access lasts ${formatDuration(grant.endsAt.getTime() - grant.startsAt.getTime())}, until ${formatWhen(grant.endsAt)}. I'll tell you as soon as it is active.`
      : grantLine(grant),
  ]);
}

export function deniedDM(request: AccessRequest): Message {
  const by = request.decidedBy ? mention(request.decidedBy) : 'An owner';
  const reason = request.denyReason ? `: ${userText(request.denyReason, 2000)}` : '.';
  return dm([
    `${GLYPH.denied} ${by} denied your request for ${ofRequest(request)}${reason}`,
    `If something has changed, ask again with ${askAgain(request.resourceId)}.`,
  ]);
}

function grantButtons(grant: Grant, extend: boolean): Message['blocks'] {
  const done = button({ text: "I'm done", actionId: ACTION.endGrant, value: grant.id });
  const more = button({ text: 'Extend', actionId: ACTION.extendGrant, value: grant.id, style: 'primary' });
  return [actions(itemBlockId(BLOCK.grantActions, grant.id), ...(extend ? [more, done] : [done]))];
}

/** What a grant's messages add while it is live: an extension waiting, or one not yet applied. */
export interface GrantExtras {
  /** An extension of this grant waiting for the owners. */
  pendingExtension?: AccessRequest | null;
}

function extensionLines(grant: Grant, extras: GrantExtras): string[] {
  const pending = extras.pendingExtension;
  const lines: string[] = [];
  if (pending)
    lines.push(
      `${GLYPH.pending} You asked to extend it by *${formatDuration(pending.durationMs)}*: waiting for the owners (${approvalsLine(pending)}).`,
    );
  if (grant.extending && grant.lastError)
    lines.push(
      `${GLYPH.failing} The new end is approved, but ${ofGrant(grant)} has not taken it yet; Gatehouse keeps trying.`,
    );
  return lines;
}

/** The buttons of a live grant: Extend unless an extension is already waiting, and I'm done. */
function liveButtons(grant: Grant, extras: GrantExtras): Message['blocks'] {
  return grantButtons(grant, !extras.pendingExtension);
}

/**
 * Access is active: the message that stays with the grant, set to where it stands at each
 * change (extended, an extension waiting, ending, ended). A login made for the grant comes
 * in a message of its own (loginDM), which is never rewritten while the login works.
 */
export function accessActiveDM(grant: Grant, extras: GrantExtras = {}): Message {
  if (grant.status !== 'active') return grantSettledDM(grant);
  return dm(
    [
      `${GLYPH.active} Your access to ${ofGrant(grant)} is active until ${formatWhen(grant.endsAt)}.`,
      `It ends by itself then; *Extend* asks the owners for more time, *I'm done* ends it sooner.`,
      ...extensionLines(grant, extras),
    ],
    ...liveButtons(grant, extras),
  );
}

/** A grant's message once it is not active (being set up, ending, ended): where it stands, and no button that could mislead. */
function grantSettledDM(grant: Grant): Message {
  const access = `Access to ${ofGrant(grant)}:`;
  switch (grant.status) {
    case 'provisioning':
      return dm([`${GLYPH.pending} ${access} being set up; it lasts until ${formatWhen(grant.endsAt)}.`]);
    case 'provision_failed':
      return dm([`${GLYPH.failing} ${access} setting it up is failing; Gatehouse keeps retrying.`]);
    case 'active':
      return dm([`${GLYPH.active} ${access} active until ${formatWhen(grant.endsAt)}.`]);
    case 'revoking':
      return dm([`${GLYPH.ended} ${access} ending now.`]);
    case 'revoke_failed':
      return dm([`${GLYPH.failing} ${access} removing it is failing; Gatehouse keeps retrying. Please stop using it.`]);
    case 'ended': {
      const why = grant.endReason ? ` (${END_REASONS[grant.endReason]})` : '';
      return dm([`${GLYPH.ended} ${access} ended at ${formatWhen(grant.endedAt ?? grant.endsAt)}${why}.`]);
    }
  }
}

/**
 * The login made for a grant (a database role), shown in the blocks only, never in `text`,
 * which Slack shows in notifications and previews. `credentials` null: the grant ended, and
 * the message no longer shows them.
 */
export function loginDM(grant: Grant, credentials: Readonly<Record<string, string>> | null): Message {
  if (!credentials || grant.status === 'ended' || grant.status === 'revoking' || grant.status === 'revoke_failed') {
    return dm([
      `🔒 The login made for your access to ${ofGrant(grant)} no longer works: the access ended${grant.endedAt ? ` at ${formatWhen(grant.endedAt)}` : ''}.`,
    ]);
  }
  const lines = Object.entries(credentials).map(([key, value]) => `${key}: ${value}`);
  const { host, port, database, user, password, sslmode } = credentials;
  if (host && port && database && user && password) {
    lines.push(
      `url: postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(database)}`,
    );
  }
  // Through the gateway (its logins come with sslmode): a command to paste; psql asks for the password.
  const psql =
    host && port && database && user && sslmode
      ? section(
          `To connect with \`psql\` (it asks for the password above):\n\`\`\`${psqlCommand({ host, port, dbname: database, user, sslmode }).replace(/`/g, "'")}\`\`\``,
        )
      : null;
  return {
    text: truncate(`🔑 Your login for ${ofGrant(grant)}`),
    blocks: [
      section(
        `Your login for ${ofGrant(grant)}, made for this grant only:\n\`\`\`${lines.join('\n').replace(/`/g, "'")}\`\`\``,
      ),
      ...(psql ? [psql] : []),
      context(
        "This message is the only copy: Gatehouse keeps none it can read. The login works while your access does (an extension keeps it), and stops when it ends or you press *I'm done*.",
      ),
    ],
  };
}

/**
 * `psql "host=… port=… dbname=… user=… sslmode=…"`: each value quoted as libpq reads a
 * connection string when it has to be, and the whole made safe inside a shell's double quotes.
 */
export function psqlCommand(params: Readonly<Record<string, string>>): string {
  const value = (text: string) => (/^[^\s'\\]+$/.test(text) ? text : `'${text.replace(/[\\']/g, '\\$&')}'`);
  const conninfo = Object.entries(params)
    .map(([key, text]) => `${key}=${value(text)}`)
    .join(' ');
  return `psql "${conninfo.replace(/[\\"$`]/g, '\\$&')}"`;
}

/**
 * The warning before a grant ends, as it stands now: while it holds, how long is left, with
 * Extend and I'm done; after an extension (the holder is warned again before the new end),
 * the new end; once ended, the end.
 */
export function expiringSoonDM(grant: Grant, minutesLeft: number, extras: GrantExtras = {}): Message {
  if (grant.status !== 'active') return grantSettledDM(grant);
  if (grant.warnedAt === null) {
    return dm(
      [
        `${GLYPH.approved} Your access to ${ofGrant(grant)} was extended: it now ends ${formatWhen(grant.endsAt)}.`,
        ...extensionLines(grant, extras),
      ],
      ...liveButtons(grant, extras),
    );
  }
  const left = minutesLeft < 1 ? 'in less than a minute' : `in ${plural(Math.floor(minutesLeft), 'minute')}`;
  return dm(
    [
      `${GLYPH.expired} Your access to ${ofGrant(grant)} ends ${left}, at ${formatWhen(grant.endsAt)}.`,
      extras.pendingExtension
        ? extensionLines(grant, extras).join('\n')
        : `Need more time? *Extend* asks the owners; when they approve, this same access lasts longer.`,
    ],
    ...liveButtons(grant, extras),
  );
}

const END_REASONS: Record<GrantEndReason, string> = {
  expired: 'its time ran out',
  released: 'you ended it',
  revoked: 'an administrator revoked it',
};

export function grantEndedDM(grant: Grant): Message {
  const when = grant.endedAt ?? grant.endsAt;
  const why = grant.endReason ? `: ${END_REASONS[grant.endReason]}` : '';
  return dm([
    `${GLYPH.ended} Your access to ${ofGrant(grant)} ended at ${formatWhen(when)}${why}.`,
    `Need it again? Ask with ${askAgain(grant.resourceId)}.`,
  ]);
}

export function requestExpiredDM(request: AccessRequest): Message {
  return dm(
    [
      `${GLYPH.expired} Your request for ${ofRequest(request)} expired: no approver decided before ${formatWhen(request.expiresAt)} (${approvalsLine(request)}).`,
      `Ask again with ${askAgain(request.resourceId)}, or reach one of its owners directly if it is urgent.`,
    ],
    ...reasonContext(request),
  );
}

/**
 * Provisioning or revoking keeps failing and is being retried. The provisioner's error is
 * left out on purpose: it can name hosts or accounts the requester has no need to see.
 */
export function provisioningFailingDM(grant: Grant): Message {
  // Set at each change: once it works (or ends), the message says so instead.
  if (grant.status === 'active' && !(grant.extending && grant.lastError))
    return dm([`${GLYPH.active} Your access to ${ofGrant(grant)} is set up now: ${grantLine(grant)}`]);
  if (grant.status === 'active')
    return dm([
      `${GLYPH.failing} Your extension of ${ofGrant(grant)} is approved, but the system that holds it has not taken the new end yet; Gatehouse keeps retrying.`,
      `Until it has, your access may stop at the end it had. If you need it urgently, tell one of its owners.`,
    ]);
  if (grant.status === 'ended' || grant.status === 'revoking') return grantSettledDM(grant);
  const revoking = grant.status === 'revoke_failed';
  return dm([
    revoking
      ? `${GLYPH.failing} Removing your access to ${ofGrant(grant)} is failing; Gatehouse keeps retrying.`
      : `${GLYPH.failing} Setting up your access to ${ofGrant(grant)} is failing; Gatehouse keeps retrying and tells you when it is active.`,
    revoking
      ? 'Please stop using it now: your access ended at the time you were given, even if the system still lets you in.'
      : `Your access still ends at ${formatWhen(grant.endsAt)}. If you need it urgently, tell one of its owners.`,
  ]);
}
