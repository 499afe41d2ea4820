/**
 * Audit events as posted to the audit channel, in seq order, several to a message: each
 * one sentence, with its seq, time, action and short hash small beneath it.
 */
import type { KnownBlock } from '@slack/types';
import type { AuditEventSummary } from '../../access/types.ts';
import { eventSentence, type ResourceNames } from './event-sentences.ts';
import { LIMITS, context, section, type Message } from './kit.ts';
import { MAX_TEXT, escapeText, formatWhen, mention, plural, truncate, userText } from './text.ts';
import { receiptActions } from './receipt.ts';

const SHORT_HASH = 12;
/** Room is left for the closing line that names the events that did not fit. */
const LINES_BUDGET = LIMITS.messageChars - 200;
/** Kept back for that closing line. */
const BLOCKS_BUDGET = LIMITS.messageBlocks - 1;

export const shortHash = (hash: string): string => hash.slice(0, SHORT_HASH);

function actor(who: string): string {
  return who === 'system' || who.startsWith('cli:') ? `\`${escapeText(who)}\`` : mention(who);
}

/**
 * Cuts mrkdwn into pieces of at most `max` characters, at a space where there is one, and
 * never inside a surrogate pair, an escape like `&amp;` or a token like `<@U1>`.
 */
export function splitText(text: string, max = MAX_TEXT): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > max) {
    let cut = rest.lastIndexOf(' ', max);
    if (cut < max / 2) cut = max;
    const head = rest.slice(0, cut);
    const amp = head.lastIndexOf('&');
    if (amp >= 0 && !head.slice(amp).includes(';') && head.length - amp <= 5) cut = amp;
    const open = head.lastIndexOf('<');
    if (open > head.lastIndexOf('>')) cut = Math.min(cut, open);
    if (/[\uD800-\uDBFF]/.test(rest.charAt(cut - 1))) cut -= 1;
    if (cut <= 0) cut = max;
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^ /, '');
  }
  pieces.push(rest);
  return pieces;
}

/** `#42` · 2 Jan 10:00 · request.created · `req_1` · `a1b2c3d4e5f6`: what ties the sentence to the log. */
export function eventMeta(event: AuditEventSummary): string {
  const subject = event.subject ? ` · \`${userText(event.subject, 80)}\`` : '';
  return `\`#${event.seq}\` · ${formatWhen(event.occurredAt)} · ${userText(event.action, 100)}${subject} · \`${shortHash(event.hash)}\``;
}

/** The same line for notifications: no body fields, so a batch's text stays short. */
function textLine(event: AuditEventSummary): string {
  const on = event.subject ? ` on \`${userText(event.subject, 80)}\`` : '';
  return `#${event.seq} ${userText(event.action, 100)} by ${actor(event.actor)}${on} (${shortHash(event.hash)})`;
}

interface Layout {
  blocks: KnownBlock[];
  count: number;
}

/** Each event its own section (two or more for a long reason) and a small context line: the usual, live case. */
function spacious(events: readonly AuditEventSummary[], names?: ResourceNames): Layout {
  const blocks: KnownBlock[] = [];
  let total = 0;
  let count = 0;
  for (const event of events) {
    const pieces = splitText(eventSentence(event, names));
    const meta = eventMeta(event);
    const size = pieces.reduce((sum, piece) => sum + piece.length, meta.length);
    if (count > 0 && (total + size > LINES_BUDGET || blocks.length + pieces.length + 1 > BLOCKS_BUDGET)) break;
    blocks.push(...pieces.map((piece) => section(piece)), context(meta));
    total += size;
    count += 1;
  }
  return { blocks, count };
}

/**
 * A backlog, when the feed is catching up: sentences packed into shared sections, each
 * followed by its seq and short hash in code, so one message carries many more events.
 */
function compact(events: readonly AuditEventSummary[], names?: ResourceNames): Layout {
  const texts: string[] = [];
  let total = 0;
  let count = 0;
  for (const event of events) {
    const line = `${eventSentence(event, names)} \`#${event.seq} ${shortHash(event.hash)}\``;
    const pieces = splitText(line);
    const last = texts.at(-1);
    const joins = pieces.length === 1 && last !== undefined && last.length + 1 + line.length <= MAX_TEXT;
    const added = joins ? 0 : pieces.length;
    if (count > 0 && (total + line.length > LINES_BUDGET || texts.length + added > BLOCKS_BUDGET)) break;
    if (joins) texts[texts.length - 1] = `${last}\n${line}`;
    else texts.push(...pieces);
    total += line.length;
    count += 1;
  }
  return { blocks: texts.map((text) => section(text)), count };
}

/**
 * Cuts a single event too long for any message (a reason of thousands of escaped
 * characters) so that it still goes out: the feed must show at least one event a message.
 */
function fitFirst(layout: Layout, event: AuditEventSummary): Layout {
  let total = 0;
  const blocks = layout.blocks.filter((block) => {
    const text = block.type === 'section' ? (block.text?.text ?? '') : '';
    total += text.length;
    return block.type !== 'section' || total <= LINES_BUDGET;
  });
  if (blocks.length === layout.blocks.length) return layout;
  const note = context(
    `The rest of event #${event.seq} is too long for Slack: \`gatehouse audit export\` shows it whole.`,
  );
  return { blocks: [...blocks, note], count: layout.count };
}

/** Up to this many events, the notification text lists them too. */
const LISTED_IN_TEXT = 20;

/**
 * One message for one or more consecutive events: as many as fit, up to about 100 short
 * ones when the feed is catching up. A batch too big for one message shows the first
 * `shown` events and ends in a line naming the seqs left out, which the caller posts next.
 * `names` turns resource ids into their names, when the caller has the policy at hand.
 */
export function auditChannelMessage(
  events: readonly AuditEventSummary[],
  names?: ResourceNames,
): Message & { shown: number } {
  const sorted = [...events].sort((a, b) => a.seq - b.seq);
  const first = sorted[0];
  const last = sorted.at(-1);
  if (!first || !last) return { text: 'No audit events.', blocks: [context('No audit events.')], shown: 0 };
  let layout = spacious(sorted, names);
  if (layout.count < sorted.length) {
    const packed = compact(sorted, names);
    if (packed.count > layout.count) layout = packed;
  }
  layout = fitFirst(layout, first);
  const { count } = layout;
  const blocks = [...layout.blocks];
  const left = sorted.slice(count);
  const firstLeft = left[0];
  if (firstLeft)
    blocks.push(
      context(`…and ${plural(left.length, 'more event')} (seq ${firstLeft.seq} to ${last.seq}) not shown here.`),
    );
  const shownEvents = sorted.slice(0, count);
  const lastShown = shownEvents.at(-1) ?? first;
  // A grant's end carries the auditors' Receipt button (docs/merkle.md §13.6) when the message has room.
  const receipts = receiptActions(shownEvents);
  if (receipts && blocks.length < LIMITS.messageBlocks) blocks.push(receipts);
  // A backlog's message is already near Slack's size limit in its blocks: its notification text stays one line.
  const text =
    first === lastShown
      ? textLine(first)
      : shownEvents.length > LISTED_IN_TEXT
        ? `Audit events #${first.seq} to #${lastShown.seq} (${shownEvents.length} events)`
        : `Audit events #${first.seq} to #${lastShown.seq}:\n${shownEvents.map(textLine).join('\n')}`;
  return { text: truncate(text), blocks, shown: count };
}
