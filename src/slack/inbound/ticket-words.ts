/** Where a ticket reference is in `/request-access` (docs/asking.md): `--ticket X`, or the reason's first word. */
import type { SlackUserId } from '../../access/ids.ts';
import type { Refusal } from '../../access/refusals.ts';
import { readTicket } from '../../access/tickets.ts';
import type { ResourcePolicy } from '../../config/policy.ts';
import type { SlackDeps } from './deps.ts';
import type { RequestCommand } from './parse-command.ts';

const TICKET = '--ticket';

/** `--ticket X` taken out of the words; undefined when there is none. A flag without a value gives an empty ticket. */
export function takeTicketFlag(words: readonly string[]): { ticket: string; rest: string[] } | undefined {
  const at = words.indexOf(TICKET);
  if (at < 0) return undefined;
  return { ticket: words[at + 1] ?? '', rest: [...words.slice(0, at), ...words.slice(at + 2)] };
}

/**
 * For a resource with a ticket rule and no `--ticket`: the reason's first word, when it
 * matches the pattern, is the ticket (`prod-db 1h INC-123 failover`). Anything else is left
 * as the reason, and the request is refused with the pattern.
 */
export function ticketFromReason(resource: ResourcePolicy | undefined, parsed: RequestCommand): RequestCommand {
  if (!resource?.ticket || parsed.ticket !== undefined || !parsed.reason) return parsed;
  const [first = '', ...rest] = parsed.reason.split(' ');
  if (!new RegExp(resource.ticket.pattern, 'u').test(first)) return parsed;
  const reason = rest.join(' ');
  const { reason: _dropped, ...others } = parsed;
  return { ...others, ticket: first, ...(reason ? { reason } : {}) };
}

/**
 * The refusal for a command that names a resource its requester may ask for, with a ticket
 * rule, and gives no matching ticket: said at once, before any form opens (which has no
 * ticket field) and before anything is recorded.
 */
export function ticketRefusalFor(deps: SlackDeps, userId: SlackUserId, parsed: RequestCommand): Refusal | null {
  const resource = deps.access.requestable(userId).find((r) => r.id === parsed.resourceId);
  if (!resource?.ticket) return null;
  const read = readTicket(resource, parsed.ticket);
  return read.ok ? null : read.refusal;
}
