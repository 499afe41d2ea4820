/** The App Home tab: what I hold, what I asked for, what waits for me, and the live sessions on what I own. */
import type { HomeView } from '@slack/types';
import type { AccessRequest, Grant } from '../../access/types.ts';
import type { MfaStatus } from '../../access/mfa.ts';
import { ACTION, BLOCK, VIEW } from './ids.ts';
import { actions, button, capped, context, divider, header, moreLine, type Message } from './kit.ts';
import { approvalItem, grantItem, isLive, isPending, requestItem } from './items.ts';
import { MFA_MARK } from './approval-card.ts';
import { liveSessionItem, type ShownSession } from './gateway-sessions.ts';
import { formatWhen, mention } from './text.ts';

export interface AppHomeInput {
  userId: string;
  grants: Grant[];
  requests: AccessRequest[];
  approvalsWaiting: AccessRequest[];
  /** How many wait in all, when `approvalsWaiting` is only the first page of them. */
  approvalsWaitingTotal?: number;
  /** The person's MFA; null (or absent) where MFA is not available. */
  mfa?: MfaStatus | null;
  /**
   * Live gateway sessions on the resources the person owns, oldest first; null (or absent)
   * when they own no resource reached through the gateway, and then the section is left out.
   */
  liveSessions?: readonly ShownSession[] | null;
  now: Date;
}

/**
 * Caps per list. The fixed blocks (intro, actions, MFA, 3 headers, 2 dividers) are 8; with
 * each list at its cap plus an "and N more" line: 8 + 21 + 21 + (2 × 20 + 1) = 91 ≤ 100.
 * Live sessions, last, take what is left of the 100 (a divider, a header and an "and N more"
 * line, then at least 6 sessions), up to their own cap.
 */
const MAX_GRANTS = 20;
const MAX_REQUESTS = 20;
const MAX_APPROVALS = 20;
const MAX_SESSIONS = 20;
const MAX_HOME_BLOCKS = 100;

const nothing = (text: string) => [context(text)];

/** Where the person's MFA stands, in one line. */
function mfaLine(mfa: MfaStatus): string {
  const locked = mfa.lockedUntil ? ` Locked after too many wrong codes until ${formatWhen(mfa.lockedUntil)}.` : '';
  if (mfa.state === 'on')
    return `${MFA_MARK} MFA is on${mfa.enrolledAt ? ` since ${formatWhen(mfa.enrolledAt)}` : ''}. \`/access mfa\` to move it to a new phone or turn it off.${locked}`;
  if (mfa.state === 'pending')
    return `🔓 MFA set-up waits for your first code: use *Enter a code* on the QR code message, or start again.${locked}`;
  return `🔓 MFA is off. Resources marked for MFA ask for a code from an authenticator app: set it up once.${locked}`;
}

export function appHome({
  userId,
  grants,
  requests,
  approvalsWaiting,
  approvalsWaitingTotal,
  mfa,
  liveSessions,
  now,
}: AppHomeInput): HomeView {
  const live = grants.filter(isLive).sort((a, b) => a.endsAt.getTime() - b.endsAt.getTime());
  const pending = requests.filter(isPending).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  const waiting = approvalsWaiting.filter(isPending).sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime());
  const grantList = capped(live, MAX_GRANTS);
  const requestList = capped(pending, MAX_REQUESTS);
  const approvalList = capped(waiting, MAX_APPROVALS);
  const blocks: Message['blocks'] = [
    context(
      `Hi ${mention(userId)}. Gatehouse gives you time-limited access once the owners of a resource approve. \`/access help\` lists the commands.`,
    ),
    actions(
      BLOCK.homeActions,
      button({ text: 'Request access', actionId: ACTION.openRequestModal, style: 'primary' }),
      ...(mfa && mfa.state !== 'on' ? [button({ text: 'Set up MFA', actionId: ACTION.mfaStart })] : []),
    ),
    ...(mfa ? [context(mfaLine(mfa))] : []),
    header('Your access'),
    ...(live.length === 0
      ? nothing('You hold no access right now.')
      : grantList.shown.map((grant) => grantItem(grant, now))),
    ...moreLine(grantList.more, 'They end by themselves; the soonest to end are shown first.'),
    divider(),
    header('Your requests'),
    ...(pending.length === 0 ? nothing('No requests waiting.') : requestList.shown.map(requestItem)),
    ...moreLine(requestList.more, 'The oldest are shown first.'),
    divider(),
    header('Waiting for your approval'),
    ...(waiting.length === 0 ? nothing('Nothing waits for you.') : approvalList.shown.flatMap(approvalItem)),
    ...moreLine(
      Math.max(approvalList.more, (approvalsWaitingTotal ?? 0) - approvalList.shown.length),
      'The soonest to expire are shown first.',
    ),
  ];
  if (liveSessions) blocks.push(...sessionsSection(liveSessions, MAX_HOME_BLOCKS - blocks.length));
  return { type: 'home', callback_id: VIEW.home, blocks };
}

/** The owner's live sessions, each with End session, in at most `room` blocks. */
function sessionsSection(sessions: readonly ShownSession[], room: number): Message['blocks'] {
  const list = capped(sessions, Math.min(MAX_SESSIONS, room - 3));
  return [
    divider(),
    header('Live database sessions'),
    ...(sessions.length === 0
      ? nothing('No one is connected to your databases through the gateway right now.')
      : list.shown.map(liveSessionItem)),
    ...moreLine(list.more, 'The oldest are shown first.'),
  ];
}
