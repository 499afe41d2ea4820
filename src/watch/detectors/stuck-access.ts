import type { AlertInput } from '../../access/alerts.ts';
import type { StuckAccessDetector } from '../../config/alerts-policy.ts';
import { num, resourceNameOf, str, type DetectContext, type Detector, type WatchedEvent } from '../detector.ts';

/**
 * Access that will not go away: a revocation failing again and again, and access found by
 * reconcile in a target with no live grant behind it (drift). A grant still live past its
 * end is found by the sweep in src/watch/sweeps.ts, which has no event to wait for.
 */
export function stuckAccessDetector(settings: StuckAccessDetector): Detector {
  return {
    actions: ['grant.revoke_failed', 'grant.drift_revoked'],
    lookbackMs: 0,
    observe(event: WatchedEvent, { policy }: DetectContext): AlertInput[] {
      const grant = event.subject;
      const user = str(event.body['user']);
      const resource = str(event.body['resource']);
      const name = resourceNameOf(policy, resource);
      if (!grant) return [];
      if (event.action === 'grant.revoke_failed') {
        if (num(event.body['attempt']) !== settings.revokeFailures) return [];
        return [
          {
            detector: 'revoke_failing',
            severity: 'high',
            incidentKey: `revoke_failing:${grant}`,
            subject: grant,
            userId: user,
            resourceId: resource,
            grantId: grant,
            // Already being taken away, and retried: there is nothing more for a button to end.
            ends: 'none',
            title: `Access to ${name} could not be taken away`,
            detail: `Revoking ${grant} failed ${settings.revokeFailures} times in a row (last: ${str(event.body['error']) ?? 'unknown error'}). Gatehouse keeps retrying; until it succeeds the access is still there: check ${name} by hand.`,
            evidence: [event.seq],
          },
        ];
      }
      return [
        {
          detector: 'drift',
          severity: 'high',
          incidentKey: `drift:${grant}:${event.seq}`,
          subject: grant,
          userId: user,
          resourceId: resource,
          grantId: grant,
          // Reconcile removed it already.
          ends: 'none',
          title: `Access to ${name} was found that no live grant gives`,
          detail: `Reconcile found ${grant} still in ${name} (grant status ${str(event.body['grant_status']) ?? 'unknown'}) and removed it. Someone or something put access back outside Gatehouse.`,
          evidence: [event.seq],
        },
      ];
    },
  };
}
