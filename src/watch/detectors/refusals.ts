import type { AlertInput } from '../../access/alerts.ts';
import type { RefusalsDetector } from '../../config/alerts-policy.ts';
import { resourceNameOf, spoken, str, type DetectContext, type Detector, type WatchedEvent } from '../detector.ts';
import { Windows } from '../windows.ts';

/** What each refusal on the record is, in words, and whose it is. */
const REFUSALS: Record<string, { what: string; person: (e: WatchedEvent) => string | null }> = {
  'approval.refused': { what: 'a decision on a request they may not decide', person: (e) => e.actor },
  'request.refused': { what: 'a request outside the policy', person: (e) => e.actor },
  'mfa.failed': { what: 'a wrong MFA code', person: (e) => e.actor },
  'mfa.refused': { what: 'an MFA check while locked', person: (e) => e.actor },
  'mfa.reset_refused': { what: 'an MFA reset they may not make', person: (e) => e.actor },
  'audit.verify_refused': { what: 'an audit verification they may not run', person: (e) => e.actor },
  'alert.action_refused': { what: 'a button on an alert they may not press', person: (e) => e.actor },
  'gateway.login_refused': { what: 'a database login outside their grant', person: (e) => str(e.body['user']) },
  'gateway.statement_refused': { what: 'a statement the gateway refused', person: (e) => e.actor },
};

/**
 * Refusal bursts: N refusals of one person within M minutes, whatever they were (not an
 * owner, their own request, a stranger's click, wrong MFA codes, requests outside the
 * policy, refused logins and statements). And an MFA lockout, which is such a burst that
 * the MFA rules already acted on.
 */
export function refusalsDetector(settings: RefusalsDetector): Detector {
  const windows = new Windows(settings.withinMs);
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
      const kind = REFUSALS[event.action];
      const person = kind?.person(event);
      if (!kind || !person || person === 'system') return [];
      const hits = windows.add(
        person,
        { seq: event.seq, time: event.time.getTime(), value: event.action },
        settings.count,
      );
      if (!hits) return [];
      const resource = str(event.body['resource']);
      return [
        {
          detector: 'refusal_burst',
          severity: 'warning',
          incidentKey: `refusal_burst:${person}:${event.seq}`,
          subject: person,
          userId: person,
          resourceId: resource,
          title: `Refused ${hits.length} times in ${spoken(settings.withinMs)}`,
          detail: `Most recently ${kind.what}${resource ? ` (${resourceNameOf(policy, resource)})` : ''}. Someone probing for access looks like this.`,
          evidence: hits.map((h) => h.seq),
        },
      ];
    },
  };
}
