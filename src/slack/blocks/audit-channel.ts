/** Audit events as posted to the audit channel: one line each, in seq order, several to a message. */
import type { AuditEventSummary } from '../../access/types.ts';
import { formatDuration } from '../../config/duration.ts';
import { LIMITS, context, section, type Message } from './kit.ts';
import { MAX_TEXT, escapeText, mention, truncate, userText } from './text.ts';

/** Body fields worth a glance in the channel, in the order shown; the rest is in the log. */
const SHOWN_FIELDS = [
  'resource',
  'resourceId',
  'resource_id',
  'duration',
  'durationMs',
  'duration_ms',
  'reason',
  'endReason',
  'end_reason',
];
const MAX_FIELDS = 3;
const MAX_FIELD_VALUE = 80;
/** Keeps a 20-event message far below the ~13k total characters at which Slack has been seen to refuse blocks. */
const MAX_LINE = 300;
const SHORT_HASH = 12;
/** Room is left for the closing line that names the events that did not fit. */
const LINES_BUDGET = LIMITS.messageChars - 200;

export const shortHash = (hash: string): string => hash.slice(0, SHORT_HASH);

function actor(who: string): string {
  return who === 'system' || who.startsWith('cli:') ? `\`${escapeText(who)}\`` : mention(who);
}

function fieldValue(key: string, value: unknown): string {
  if (typeof value === 'number' && /ms$/i.test(key) && Number.isFinite(value) && value >= 0)
    return formatDuration(value);
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return userText(text.replace(/\s+/g, ' '), MAX_FIELD_VALUE);
}

function fields(body: Record<string, unknown>): string {
  const shown = SHOWN_FIELDS.filter((key) => body[key] !== undefined && body[key] !== null)
    .slice(0, MAX_FIELDS)
    .map((key) => `${key.replace(/_?ms$/i, '').replace(/_/g, ' ')}: ${fieldValue(key, body[key])}`);
  return shown.length > 0 ? ` · ${shown.join(', ')}` : '';
}

function subject(event: AuditEventSummary): string {
  return event.subject ? ` on \`${userText(event.subject, 80)}\`` : '';
}

/** `#42` *request.created* by <@U1> on `req_1` · resource: prod-db · `a1b2c3d4e5f6` */
export function auditLine(event: AuditEventSummary): string {
  const hash = ` · \`${shortHash(event.hash)}\``;
  // The hash is kept whole: it is what ties the line to the log.
  const rest = `\`#${event.seq}\` *${userText(event.action, 100)}* by ${actor(event.actor)}${subject(event)}${fields(event.body)}`;
  return truncate(rest, MAX_LINE - hash.length) + hash;
}

/** The same line for notifications: no body fields, so a batch's text stays short. */
function textLine(event: AuditEventSummary): string {
  return `#${event.seq} ${userText(event.action, 100)} by ${actor(event.actor)}${subject(event)} (${shortHash(event.hash)})`;
}

/** Takes lines in order while they fit the message's total and block budgets, packed into sections of 3,000. */
function pack(lines: readonly string[]): { texts: string[]; count: number } {
  const texts: string[] = [];
  let total = 0;
  let count = 0;
  for (const line of lines) {
    const last = texts.at(-1);
    const joins = last !== undefined && last.length + 1 + line.length <= MAX_TEXT;
    // Likewise one block is kept back for that closing line.
    if (total + line.length > LINES_BUDGET || (!joins && texts.length >= LIMITS.messageBlocks - 1)) break;
    if (joins) texts[texts.length - 1] = `${last}\n${line}`;
    else texts.push(line);
    total += line.length;
    count += 1;
  }
  return { texts, count };
}

/** Up to this many events, the notification text lists them too. */
const LISTED_IN_TEXT = 20;

/**
 * One message for one or more consecutive events: as many as fit, up to about 90 of the
 * usual length when the feed is catching up. A batch too big
 * for one message shows the first `shown` events and ends in a line naming the seqs left
 * out, which the caller posts next.
 */
export function auditChannelMessage(events: readonly AuditEventSummary[]): Message & { shown: number } {
  const sorted = [...events].sort((a, b) => a.seq - b.seq);
  const first = sorted[0];
  const last = sorted.at(-1);
  if (!first || !last) return { text: 'No audit events.', blocks: [context('No audit events.')], shown: 0 };
  const { texts, count } = pack(sorted.map(auditLine));
  const blocks: Message['blocks'] = texts.map((text) => section(text));
  const left = sorted.slice(count);
  const firstLeft = left[0];
  if (firstLeft)
    blocks.push(context(`…and ${left.length} more events (seq ${firstLeft.seq} to ${last.seq}) not shown here.`));
  const shownEvents = sorted.slice(0, count);
  const lastShown = shownEvents.at(-1) ?? first;
  // A backlog's message is already near Slack's size limit in its blocks: its notification text stays one line.
  const text =
    first === lastShown
      ? textLine(first)
      : shownEvents.length > LISTED_IN_TEXT
        ? `Audit events #${first.seq} to #${lastShown.seq} (${shownEvents.length} events)`
        : `Audit events #${first.seq} to #${lastShown.seq}:\n${shownEvents.map(textLine).join('\n')}`;
  return { text: truncate(text), blocks, shown: count };
}
