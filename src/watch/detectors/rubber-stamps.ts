import type { AlertInput } from '../../access/alerts.ts';
import type { RubberStampsDetector } from '../../config/alerts-policy.ts';
import { resourceNameOf, spoken, str, type DetectContext, type Detector, type WatchedEvent } from '../detector.ts';

/**
 * Rubber stamps: an approval given within S seconds of the request (the card reaches the
 * owner after the request is made, so this bounds the time they took to read it), both
 * times the chain's own; and one owner giving more than X % of a resource's approvals over
 * a window, once there are at least `minApprovals`, read from the approvals table at the
 * approval's time, once per owner, resource and window. Both are about the approver, so
 * End access now ends the grant the fast approval gave (if it gave one), never the
 * approver's own access.
 */
export function rubberStampsDetector(settings: RubberStampsDetector): Detector {
  /** Requests made within the window, by id: when, and the event's seq. */
  const asked = new Map<string, { time: number; seq: number }>();
  let added = 0;
  return {
    actions: ['request.created', 'approval.recorded'],
    lookbackMs: settings.withinMs,
    async observe(event: WatchedEvent, { policy, facts }: DetectContext): Promise<AlertInput[]> {
      const time = event.time.getTime();
      const requestId = event.subject;
      if (event.action === 'request.created') {
        if (requestId) asked.set(requestId, { time, seq: event.seq });
        if (++added % 1000 === 0)
          for (const [id, request] of asked) if (request.time < time - settings.withinMs) asked.delete(id);
        return [];
      }
      const found: AlertInput[] = [];
      const resource = str(event.body['resource']);
      if (!requestId || !resource) return found;
      const name = resourceNameOf(policy, resource);
      const request = asked.get(requestId);
      const tookMs = request ? time - request.time : Infinity;
      if (request && tookMs >= 0 && tookMs < settings.withinMs) {
        // The last approval a request needs gives the grant in the same transaction.
        const grant = await facts.grantOfRequest(requestId);
        found.push({
          detector: 'rubber_stamp',
          severity: 'warning',
          incidentKey: `rubber_stamp:${requestId}:${event.actor}`,
          subject: event.actor,
          userId: event.actor,
          resourceId: resource,
          grantId: grant,
          ends: grant ? 'grant' : 'none',
          title: `Approved ${Math.round(tookMs / 100) / 10} s after the request`,
          detail: `An approval of ${name} came within ${spoken(settings.withinMs)} of the request (${requestId}): too soon to have read it.${grant ? ` End access now ends the grant it gave (${grant}).` : ''}`,
          evidence: [request.seq, event.seq],
        });
      }
      const period = Math.floor(time / settings.overMs);
      const counts = await facts.approvalsBy(resource, new Date(time - settings.overMs), event.time);
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
          ends: 'none',
          title: `Gave ${Math.round((mine * 100) / total)} % of the approvals of ${name}`,
          detail: `${mine} of ${total} approvals of ${name} in the last ${spoken(settings.overMs)}: one owner approving nearly everything is a rubber stamp, not a review.`,
          evidence: [event.seq],
        });
      return found;
    },
  };
}
