/** Sessions through the database gateway: an owner's App Home line, the audit channel's posts, End session's answers. */
import type { SectionBlock } from '@slack/types';
import type { EndSessionResult, GatewaySessionRow } from '../../access/gateway-sessions.ts';
import { formatDuration } from '../../config/duration.ts';
import type { GatewayEndReason } from '../../db/schema.ts';
import { ACTION, BLOCK, itemBlockId } from './ids.ts';
import { button, context, section, type Message } from './kit.ts';
import { GLYPH, escapeText, formatWhen, listMentions, mention, resourceLabel, truncate, userText } from './text.ts';

/** A session as people see it: its row, and its resource as the policy names it. */
export interface ShownSession {
  session: GatewaySessionRow;
  resource: { id: string; name: string };
}

/** What the client said it is and where it connects from: both are the client's to choose, so both are escaped. */
function clientOf(session: GatewaySessionRow): string {
  const parts = [
    session.application_name ? `via ${userText(session.application_name, 60)}` : '',
    session.client_address ? `from ${userText(session.client_address, 60)}` : '',
  ];
  return parts.filter(Boolean).join(' ');
}

const count = (n: number | string): string => BigInt(n).toLocaleString('en-US');
const counted = (n: number | string, one: string, many = `${one}s`) => `${count(n)} ${BigInt(n) === 1n ? one : many}`;
const plainName = (resource: ShownSession['resource']) => escapeText(truncate(resource.name, 150));

/** One live session on an owner's App Home, with End session; a session already asked to end says so instead. */
export function liveSessionItem({ session, resource }: ShownSession): SectionBlock {
  const client = clientOf(session);
  const since = `Started ${formatWhen(session.started_at)}${client ? ` · ${client}` : ''}`;
  const blockId = itemBlockId(BLOCK.gatewaySessionActions, session.id);
  if (session.end_requested_at) {
    const by = session.end_requested_by ? ` by ${mention(session.end_requested_by)}` : '';
    return section(
      `${GLYPH.pending} Ending ${mention(session.user_id)}'s session on ${resourceLabel(resource)}… asked${by} ${formatWhen(session.end_requested_at)}\n${since}`,
      undefined,
      blockId,
    );
  }
  const end = button({
    text: 'End session',
    actionId: ACTION.endGatewaySession,
    value: session.id,
    style: 'danger',
    confirm: {
      title: 'End this session?',
      text: `Close this connection to ${resource.name} now? The holder's access is not ended: they can connect again until it ends.`,
      confirm: 'End session',
      deny: 'Keep it',
    },
  });
  return section(`${GLYPH.active} ${mention(session.user_id)} on ${resourceLabel(resource)}\n${since}`, end, blockId);
}

/** How a session ended, in plain words. */
function howItEnded(session: GatewaySessionRow): string {
  const words: Record<GatewayEndReason, string> = {
    client_closed: 'closed by the client',
    grant_ended: 'the grant ended',
    ended_by_owner: `ended by ${session.end_requested_by ? mention(session.end_requested_by) : 'an owner'}`,
    upstream_closed: 'the database closed it',
    setting_changed: 'ended by the gateway: the session changed its encoding or string settings',
    gateway_stopped: 'the gateway stopped',
    replica_lost: 'the gateway replica holding it was lost; Gatehouse ended it on the record',
  };
  return session.end_reason ? words[session.end_reason] : 'for a reason not recorded';
}

/** One summary per session, to the audit channel, once it has ended: who, where, how long, how much, how it ended. */
export function gatewaySessionEnded({ session, resource }: ShownSession): Message {
  // A lost replica's session was last known alive when it was last seen, not when it was reaped.
  const ended = session.end_reason === 'replica_lost' ? session.seen_at : (session.ended_at ?? session.seen_at);
  const duration = formatDuration(Math.max(0, ended.getTime() - session.started_at.getTime()));
  const how = howItEnded(session);
  const client = clientOf(session);
  const figures = `${counted(session.statements, 'statement')}, ${counted(session.rows, 'row')}, ${count(session.refused)} refused`;
  return {
    text: truncate(
      `${GLYPH.ended} Database session of ${mention(session.user_id)} on ${plainName(resource)} ended (${how}): ${duration}, ${figures}.`,
    ),
    blocks: [
      section(
        [
          `${GLYPH.ended} *Database session ended*: ${mention(session.user_id)} on ${resourceLabel(resource)}`,
          `*How it ended:* ${how}`,
          `*Duration:* ${duration}, from ${formatWhen(session.started_at)} to ${formatWhen(ended)}`,
          `*Statements:* ${count(session.statements)} · *Rows:* ${count(session.rows)} · *Refused:* ${count(session.refused)}`,
        ].join('\n'),
      ),
      context(
        `Session \`${userText(session.id, 100)}\` · grant \`${userText(session.grant_id, 100)}\`${client ? ` · ${client}` : ''}`,
      ),
    ],
  };
}

export interface StatementRefusal {
  sessionId: string;
  /** The statement's number within its session. */
  n: number;
  rule: string;
  /** What the client was told. */
  reason: string;
  sql: string;
}

/**
 * Text shown verbatim in a code block: escaped for mrkdwn, and a run of backticks broken by
 * a zero-width space so that it cannot close the block early.
 */
function codeBlock(text: string): string {
  const shown = truncate(escapeText(text), 2800).replace(/`(?=`)/g, '`\u200b');
  return `\`\`\`\n${shown.trim() === '' ? '(empty)' : shown}\n\`\`\``;
}

/** A statement the gateway refused, posted to the audit channel at once. `shown` is null for a session not on record. */
export function gatewayStatementRefused(refusal: StatementRefusal, shown: ShownSession | null): Message {
  const who = shown ? mention(shown.session.user_id) : 'an unknown holder';
  const rule = userText(refusal.rule, 80);
  return {
    text: truncate(
      `⛔ Statement refused for ${who} on ${shown ? plainName(shown.resource) : 'a database'} (rule ${rule}).`,
    ),
    blocks: [
      section(
        [
          `⛔ *Statement refused* for ${who}${shown ? ` on ${resourceLabel(shown.resource)}` : ''}: it never reached the database.`,
          `*Why:* ${userText(refusal.reason, 500)} (rule \`${rule}\`)`,
        ].join('\n'),
      ),
      section(codeBlock(refusal.sql)),
      context(`Statement ${refusal.n} of session \`${userText(refusal.sessionId, 100)}\``),
    ],
  };
}

/** Owners named in a refusal: a few, then how many more. */
function someOwners(owners: readonly string[]): string {
  const shown = owners.slice(0, 5);
  const more = owners.length - shown.length;
  return more > 0 ? `${shown.map(mention).join(', ')} and ${more} more` : listMentions(shown);
}

/**
 * The answer to End session. `shown` is the session as it stands after the click (null when
 * there is none); `owners` are its resource's owners, named to someone who is not one.
 */
export function endSessionAnswer(
  result: EndSessionResult,
  sessionId: string,
  shown: ShownSession | null,
  owners: readonly string[],
): Message {
  const say = (text: string): Message => ({ text, blocks: [section(text)] });
  const none = say(
    `⚠️ There is no database session \`${userText(sessionId, 100)}\`. Your Home tab lists the live ones.`,
  );
  if (!shown) return none;
  const { session, resource } = shown;
  const theirs = `${mention(session.user_id)}'s session on ${plainName(resource)}`;
  if (result.ok) return say(`${GLYPH.pending} Ending ${theirs}…`);
  switch (result.reason) {
    case 'unknown':
      return none;
    case 'not-owner':
      return say(
        `⛔ Only the owners of ${plainName(resource)} can end its sessions${owners.length > 0 ? `: ${someOwners(owners)}` : ''}. If this one should end, ask one of them.`,
      );
    case 'already-ended':
      if (session.ended_at) return say(`${GLYPH.ended} ${theirs} has already ended.`);
      return say(
        `${GLYPH.pending} ${theirs} is already ending: ${session.end_requested_by ? mention(session.end_requested_by) : 'an owner'} asked${session.end_requested_at ? ` ${formatWhen(session.end_requested_at)}` : ''}.`,
      );
  }
}
