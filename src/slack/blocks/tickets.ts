/** Ticket references and escalation on the approval card, the requester's DM and refusals (docs/asking.md). */
import type { Refusal } from '../../access/refusals.ts';
import type { AccessRequest } from '../../access/types.ts';
import { formatDuration } from '../../config/duration.ts';
import { escapeText, listMentions, resourceLabel, truncate } from './text.ts';

const code = (text: string) => `\`${escapeText(text).replace(/`/g, "'")}\``;

/** The ticket as mrkdwn: a link when the policy gives a template, else code text. */
export function ticketText(ticket: NonNullable<AccessRequest['ticket']>): string {
  const label = escapeText(truncate(ticket.id, 100)).replace(/[|`]/g, '');
  if (!ticket.url) return code(ticket.id);
  // Slack's link syntax: the URL with &, < and > escaped, and no | (the ticket itself was URL-encoded into it).
  return `<${escapeText(ticket.url).replace(/\|/g, '%7C')}|${label}>`;
}

/** "🎫 Ticket: <link|INC-123>", for the card and the requester's DM. */
export function ticketLine(request: AccessRequest): string | null {
  return request.ticket ? `🎫 *Ticket:* ${ticketText(request.ticket)}` : null;
}

/** "⏫ Escalated to @db-fallback after 30m with no answer", on every copy of the card. */
export function escalationLine(request: AccessRequest): string | null {
  const e = request.escalation;
  if (!e) return null;
  return `⏫ Escalated to *@${escapeText(e.to)}* after ${formatDuration(e.afterMs)} with no answer: they may approve it too.`;
}

/** What the resource's ticket rule wants, with the command that gives it. */
export function ticketNeededText(refusal: Extract<Refusal, { kind: 'ticket-needed' }>): string {
  const like = refusal.example ?? 'TICKET-1';
  const wrong =
    refusal.given === undefined
      ? `${resourceLabel(refusal.resource)} needs a ticket reference`
      : `${code(refusal.given)} is not a ticket ${resourceLabel(refusal.resource)} accepts: it needs one`;
  const example = refusal.example ? `, like ${code(refusal.example)}` : '';
  return (
    `${wrong} matching ${code(refusal.pattern)}${example}. Nothing was recorded. ` +
    `In a command, put it after the duration (${code(`/request-access ${refusal.resource.id} 1h ${like} <reason>`)}) or give ${code(`--ticket ${like}`)}; in the form, in the Ticket field.`
  );
}

/** Who was asked under the on-call rule, or why every owner was. */
export function onCallLine(request: AccessRequest): string | null {
  const rule = request.onCall;
  if (!rule) return null;
  const schedule = code(rule.schedule);
  switch (rule.because) {
    case 'on-call':
      return `📟 Asked who is on call (${schedule}): ${listMentions(rule.asked)}`;
    case 'nobody-on-call':
      return `📟 Nobody was on call in ${schedule} when it was asked: every owner is asked.`;
    case 'schedule-unreadable':
      return `📟 The on-call schedule ${schedule} could not be read: every owner is asked.`;
  }
}
