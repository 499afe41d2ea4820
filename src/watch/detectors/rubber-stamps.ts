import type { AlertInput } from '../../access/alerts.ts';
import type { RubberStampsDetector } from '../../config/alerts-policy.ts';
import { resourceNameOf, spoken, str, type DetectContext, type Detector, type WatchedEvent } from '../detector.ts';

/**
 * Rubber stamps: an approval given within S seconds of the request (the card reaches the
 * owner after the request is made, so this is an upper bound on the time they took to
 * read it); and one owner giving more than X % of a resource's approvals over a window,
 * once they number at least `minApprovals`. The share is read from the approvals table at
 * the approval's time, once per owner, resource and window.
 */
export function rubberStampsDetector(settings: RubberStampsDetector): Detector {
  return {
    actions: ['approval.recorded'],
    lookbackMs: 0,
    async observe(event: WatchedEvent, { policy, facts }: DetectContext): Promise<AlertInput[]> {
      const found: AlertInput[] = [];
      const requestId = event.subject;
      const resource = str(event.body['resource']);
      if (!requestId || !resource) return found;
      const name = resourceNameOf(policy, resource);
      const asked = await facts.requestCreatedAt(requestId);
      if (asked) {
        const tookMs = event.time.getTime() - asked.getTime();
        if (tookMs >= 0 && tookMs < settings.withinMs)
          found.push({
            detector: 'rubber_stamp',
            severity: 'warning',
            incidentKey: `rubber_stamp:${requestId}:${event.actor}`,
            subject: event.actor,
            userId: event.actor,
            resourceId: resource,
            title: `Approved ${Math.round(tookMs / 100) / 10} s after the request`,
            detail: `An approval of ${name} came within ${spoken(settings.withinMs)} of the request (${requestId}): too soon to have read it.`,
            evidence: [event.seq],
          });
      }
      const until = event.time;
      const period = Math.floor(until.getTime() / settings.overMs);
      const counts = await facts.approvalsBy(resource, new Date(until.getTime() - settings.overMs), until);
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      const mine = counts.get(event.actor) ?? 0;
      if (total >= settings.minApprovals && mine * 100 > settings.sharePercent * total)
        found.push({
          detector: 'approval_share',
          severity: 'warning',
          incidentKey: `approval_share:${resource}:${event.actor}:${period}`,
          subject: event.actor,
          userId: event.actor,
          resourceId: resource,
          title: `Gave ${Math.round((mine * 100) / total)} % of the approvals of ${name}`,
          detail: `${mine} of ${total} approvals of ${name} in the last ${spoken(settings.overMs)}: one owner approving nearly everything is a rubber stamp, not a review.`,
          evidence: [event.seq],
        });
      return found;
    },
  };
}
