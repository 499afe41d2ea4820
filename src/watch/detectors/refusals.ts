import type { AlertInput } from '../../access/alerts.ts';
import type { RefusalsDetector } from '../../config/alerts-policy.ts';
import { resourceById, type Policy } from '../../config/policy.ts';
import { resourceNameOf, spoken, str, type DetectContext, type Detector, type WatchedEvent } from '../detector.ts';
import { Windows, type Hit } from '../windows.ts';

/** What each refusal on the record is, in words, and whose it is. */
const REFUSALS: Record<string, { what: string; person: (e: WatchedEvent) => string | null }> = {
  'approval.refused': { what: 'a decision on a request they may not decide', person: (e) => e.actor },
  'request.refused': { what: 'a request outside the policy', person: (e) => e.actor },
  'mfa.failed': { what: 'a wrong MFA code', person: (e) => e.actor },
  'mfa.refused': { what: 'an MFA check while locked', person: (e) => e.actor },
  'mfa.reset_refused': { what: 'an MFA reset they may not make', person: (e) => e.actor },
  'audit.verify_refused': { what: 'an audit verification they may not run', person: (e) => e.actor },
  'alert.action_refused': { what: 'a button on an alert they may not press', person: (e) => e.actor },
  // A right password at the wrong time: the holder. A wrong password is not theirs to answer for
  // (anyone who saw the login name can type one): it is counted against the grant instead.
  'gateway.login_refused': { what: 'a database login outside their grant', person: (e) => str(e.body['user']) },
  'gateway.statement_refused': { what: 'a statement the gateway refused', person: (e) => e.actor },
};

/** The resource refused most often in the burst, among those the policy knows: its owners are told. */
function mostRefused(policy: Policy, hits: readonly Hit[]): string | null {
  const counts = new Map<string, number>();
  for (const hit of hits)
    if (hit.resource && resourceById(policy, hit.resource))
      counts.set(hit.resource, (counts.get(hit.resource) ?? 0) + 1);
  let best: string | null = null;
  for (const [resource, n] of counts) if (best === null || n > (counts.get(best) ?? 0)) best = resource;
  return best;
}

/**
 * Refusal bursts: N refusals of one person within M minutes, whatever they were (not an
 * owner, their own request, a stranger's click, wrong MFA codes, requests outside the
 * policy, refused logins and statements). An MFA lockout, which is such a burst the MFA
 * rules already acted on. And wrong passwords for one grant's gateway login: someone
 * guessing, not necessarily its holder, so the grant is what the alert is about.
 */
export function refusalsDetector(settings: RefusalsDetector): Detector {
  const people = new Windows(settings.withinMs);
  const logins = new Windows(settings.withinMs);
  return {
    actions: [...Object.keys(REFUSALS), 'mfa.locked'],
    lookbackMs: settings.withinMs,
    observe(event: WatchedEvent, { policy }: DetectContext): AlertInput[] {
      if (event.action === 'mfa.locked') {
        return [
          {
            detector: 'mfa_lockout',
            severity: 'high',
            incidentKey: `mfa_lockout:${event.seq}`,
            subject: event.actor,
            userId: event.actor,
            title: 'MFA locked after repeated wrong codes',
            detail: `${String(event.body['failures'] ?? 'Several')} wrong codes within ${String(event.body['window_minutes'] ?? '?')} minutes: MFA is locked until ${String(event.body['locked_until'] ?? '?')}. Someone may be guessing codes.`,
            evidence: [event.seq],
          },
        ];
      }
      if (event.action === 'gateway.login_refused' && event.body['reason'] === 'wrong_password') {
        const grant = event.subject;
        if (!grant) return [];
        const hits = logins.add(grant, { seq: event.seq, time: event.time.getTime() }, settings.count);
        if (!hits) return [];
        const resource = str(event.body['resource']);
        return [
          {
            detector: 'login_guessing',
            severity: 'high',
            incidentKey: `login_guessing:${grant}:${event.seq}`,
            subject: grant,
            // About the grant, not its holder: anyone who saw the login name can type passwords.
            resourceId: resource,
            grantId: grant,
            ends: 'grant',
            title: `${hits.length} wrong passwords for a database login in ${spoken(settings.withinMs)}`,
            detail: `Someone is guessing the password of the gateway login of ${grant} (held by ${str(event.body['user']) ?? 'unknown'}) on ${resourceNameOf(policy, resource)}, last from ${str(event.body['client_address']) ?? 'an unknown address'}. It need not be the holder: the login name is no secret. End access now ends the grant and its login.`,
            evidence: hits.map((h) => h.seq),
          },
        ];
      }
      const kind = REFUSALS[event.action];
      const person = kind?.person(event);
      if (!kind || !person || person === 'system') return [];
      const resource = str(event.body['resource']);
      const hits = people.add(
        person,
        { seq: event.seq, time: event.time.getTime(), value: event.action, resource },
        settings.count,
      );
      if (!hits) return [];
      const probed = mostRefused(policy, hits);
      const names = [...new Set(hits.map((h) => mostRefused(policy, [h])).filter((r) => r !== null))].map((id) =>
        resourceNameOf(policy, id),
      );
      return [
        {
          detector: 'refusal_burst',
          severity: 'warning',
          incidentKey: `refusal_burst:${person}:${event.seq}`,
          subject: person,
          userId: person,
          resourceId: probed,
          title: `Refused ${hits.length} times in ${spoken(settings.withinMs)}`,
          detail: `Most recently ${kind.what}${names.length > 0 ? `; on ${names.join(', ')}` : ''}. Someone probing for access looks like this.`,
          evidence: hits.map((h) => h.seq),
        },
      ];
    },
  };
}
