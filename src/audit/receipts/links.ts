import type { AuditEvent } from '../event.ts';

/**
 * Which events are about a grant (docs/merkle.md §13.1). Written once, used by the builder to
 * pick the events out of the log and by the verifier to check that a receipt holds nothing else:
 *
 * 1. `grant`: its subject is the grant id (every `grant.*`, `gateway.login_refused`).
 * 2. `request`: its subject is the grant's request, named by `body.request` of the grant's
 *    `grant.provisioning` (request.created, approvals and refusals, MFA codes asked for it,
 *    request.approved).
 * 3. `extension`: its subject is a request whose `request.created` has `body.extends_grant`
 *    = the grant id (an extension, and every event about it).
 * 4. `session`: a `gateway.*` event whose subject is a session id (`ses_…`) and whose
 *    `body.grant` is the grant id (the session's start, statements, answers, refusals, end).
 * 5. `alert`: an `alert.raised` whose `body.grant` is the grant id, or an `alert.access_ended`
 *    whose `body.grants` lists it.
 */
export type Link = 'grant' | 'request' | 'extension' | 'session' | 'alert';

export interface Linked {
  event: AuditEvent;
  link: Link;
}

export interface GrantIds {
  grant: string;
  /** The grant's own request, when a `grant.provisioning` names it. */
  request: string | null;
  extensions: Set<string>;
}

/** The request ids a set of events names for `grantId` (rules 2 and 3). */
export function idsOf(grantId: string, events: readonly AuditEvent[]): GrantIds {
  let request: string | null = null;
  const extensions = new Set<string>();
  for (const event of events) {
    if (event.action === 'grant.provisioning' && event.subject === grantId && typeof event.body.request === 'string')
      request ??= event.body.request;
    if (event.action === 'request.created' && event.body.extends_grant === grantId && event.subject !== null)
      extensions.add(event.subject);
  }
  return { grant: grantId, request, extensions };
}

/** The rule that puts `event` in the grant's receipt, or null when it is about something else. */
export function linkOf(event: AuditEvent, ids: GrantIds): Link | null {
  const { subject, action, body } = event;
  if (subject === ids.grant) return 'grant';
  if (subject !== null && subject === ids.request) return 'request';
  if (subject !== null && ids.extensions.has(subject)) return 'extension';
  if (action.startsWith('gateway.') && subject?.startsWith('ses_') && body.grant === ids.grant) return 'session';
  if (action === 'alert.raised' && body.grant === ids.grant) return 'alert';
  if (action === 'alert.access_ended' && Array.isArray(body.grants) && body.grants.includes(ids.grant)) return 'alert';
  return null;
}

/** The events about `grantId`, in the order given. */
export function eventsAbout(grantId: string, events: readonly AuditEvent[]): Linked[] {
  const ids = idsOf(grantId, events);
  const linked: Linked[] = [];
  for (const event of events) {
    const link = linkOf(event, ids);
    if (link) linked.push({ event, link });
  }
  return linked;
}
