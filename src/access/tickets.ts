/**
 * Ticket references (docs/asking.md): a resource with a `ticket:` rule takes a request only
 * with a ticket that matches its pattern; the ticket is recorded with the request and shown
 * as a link when the policy gives a template.
 */
import { ticketUrl } from '../config/asking-policy.ts';
import type { ResourcePolicy } from '../config/policy.ts';
import type { Refusal } from './refusals.ts';

/** A ticket is a reference, not prose: it is cut before it is matched, and never recorded longer. */
export const MAX_TICKET_LENGTH = 100;

/**
 * The ticket to file with a request for `resource`: null when the resource asks for none
 * (one given anyway is then ignored), the ticket when it matches, otherwise the refusal
 * that says the pattern and an example.
 */
export function readTicket(
  resource: ResourcePolicy,
  given: string | undefined,
): { ok: true; ticket: string | null } | { ok: false; refusal: Refusal } {
  const rule = resource.ticket;
  if (!rule) return { ok: true, ticket: null };
  const ticket = (given ?? '').trim();
  const matches = ticket !== '' && ticket.length <= MAX_TICKET_LENGTH && new RegExp(rule.pattern, 'u').test(ticket);
  if (matches) return { ok: true, ticket };
  return {
    ok: false,
    refusal: {
      kind: 'ticket-needed',
      resource: { id: resource.id, name: resource.name },
      pattern: rule.pattern,
      example: rule.example,
      ...(ticket !== '' ? { given: ticket.slice(0, MAX_TICKET_LENGTH) } : {}),
    },
  };
}

/** The ticket as a request carries it: its id and link. */
export function ticketOf(resource: ResourcePolicy | undefined, ticket: string): { id: string; url: string | null } {
  return { id: ticket, url: ticketUrl(resource?.ticket, ticket) };
}
