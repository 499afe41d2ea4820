/** Direct messages that tell a requester where their request and grant stand, one per step. */
import type { AccessRequest, Grant, GrantEndReason } from '../../access/types.ts';
import { formatDuration } from '../../config/duration.ts';
import { approvalsLine } from './approval-card.ts';
import { ACTION, BLOCK, itemBlockId } from './ids.ts';
import { actions, button, context, section, type Message } from './kit.ts';
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

export function sentToApprovers(request: AccessRequest, ownerCount: number): Message {
  return dm(
    [
      `${GLYPH.pending} Your request for ${ofRequest(request)} for *${formatDuration(request.durationMs)}* was sent to ${plural(ownerCount, 'approver')}.`,
      `It needs ${plural(request.approvalsRequired, 'approval')} and expires unanswered ${formatWhen(request.expiresAt)}. I'll message you when it is decided.`,
    ],
    ...reasonContext(request),
    actions(
      itemBlockId(BLOCK.requestActions, request.id),
      button({ text: 'Cancel request', actionId: ACTION.cancelRequest, value: request.id }),
    ),
  );
}

export function approvedDM(request: AccessRequest, grant: Grant): Message {
  const approvers = request.approvals.map((approval) => approval.approver);
  const by =
    approvers.length > 0 ? listMentions(approvers) : request.decidedBy ? mention(request.decidedBy) : 'the owners';
  return dm([
    `${GLYPH.approved} ${by} approved your request for ${ofRequest(request)}.`,
    `Your access lasts ${formatDuration(grant.endsAt.getTime() - grant.startsAt.getTime())}, until ${formatWhen(grant.endsAt)}. I'll tell you as soon as it is active.`,
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

/**
 * Access is active. With `credentials` (a database login made for this grant), they are
 * shown in the blocks only, never in `text`, which Slack shows in notifications and
 * previews.
 */
export function accessActiveDM(grant: Grant, credentials?: Readonly<Record<string, string>>): Message {
  const message = dm(
    [
      `${GLYPH.active} Your access to ${ofGrant(grant)} is active until ${formatWhen(grant.endsAt)}.`,
      `It ends by itself then; press *I'm done* to end it sooner.`,
    ],
    ...grantButtons(grant, false),
  );
  if (!credentials) return message;
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
  const shown = [
    section(`Your login, made for this grant only:\n\`\`\`${lines.join('\n').replace(/`/g, "'")}\`\`\``),
    ...(psql ? [psql] : []),
    context(
      `This message is the only copy: Gatehouse keeps none it can read. The login stops working at ${formatWhen(grant.endsAt)}, or when you press *I'm done*.`,
    ),
  ];
  return { text: message.text, blocks: [...message.blocks.slice(0, 1), ...shown, ...message.blocks.slice(1)] };
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

export function expiringSoonDM(grant: Grant, minutesLeft: number): Message {
  const left = minutesLeft < 1 ? 'in less than a minute' : `in ${plural(Math.floor(minutesLeft), 'minute')}`;
  return dm(
    [
      `${GLYPH.expired} Your access to ${ofGrant(grant)} ends ${left}, at ${formatWhen(grant.endsAt)}.`,
      `Need more time? *Extend* sends a new request that the owners approve again.`,
    ],
    ...grantButtons(grant, true),
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
