import type { AlertInput } from '../../access/alerts.ts';
import { resourceById } from '../../config/policy.ts';
import type { SpreesDetector } from '../../config/alerts-policy.ts';
import { num, resourceNameOf, spoken, str, type DetectContext, type Detector, type WatchedEvent } from '../detector.ts';
import { Windows } from '../windows.ts';

/**
 * Sprees: one person asking for N different resources within M minutes (a window replayed
 * from the chain), or for a resource's maximum duration again and again (N times within a
 * longer window, counted in the requests table when the N-th comes).
 */
export function spreesDetector(settings: SpreesDetector): Detector {
  const windows = new Windows(settings.withinMs);
  return {
    actions: ['request.created'],
    lookbackMs: settings.withinMs,
    async observe(event: WatchedEvent, { policy, facts }: DetectContext): Promise<AlertInput[]> {
      const found: AlertInput[] = [];
      const resource = str(event.body['resource']);
      if (!resource) return found;
      const hits = windows.add(
        event.actor,
        { seq: event.seq, time: event.time.getTime(), value: resource },
        settings.resources,
        true,
      );
      if (hits) {
        const names = [...new Set(hits.map((h) => h.value ?? ''))].map((id) => resourceNameOf(policy, id));
        found.push({
          detector: 'spree',
          severity: 'warning',
          incidentKey: `spree:${event.actor}:${event.seq}`,
          subject: event.actor,
          userId: event.actor,
          title: `Asked for ${names.length} different resources in ${spoken(settings.withinMs)}`,
          detail: `${names.join(', ')}. Someone collecting access looks like this.`,
          evidence: hits.map((h) => h.seq),
        });
      }
      const max = resourceById(policy, resource)?.maxDurationMs;
      const asked = num(event.body['duration_ms']);
      if (max !== undefined && asked !== null && asked >= max) {
        const since = new Date(event.time.getTime() - settings.maxWithinMs);
        const requests = await facts.requestsOf(event.actor, since, event.time);
        const atMax = requests.filter(
          (r) => r.durationMs >= (resourceById(policy, r.resourceId)?.maxDurationMs ?? Infinity),
        ).length;
        // The N-th fires; the (N+1)-th is the same habit, not a new incident.
        if (atMax === settings.maxDurationRepeats)
          found.push({
            detector: 'max_duration_repeats',
            severity: 'warning',
            incidentKey: `max_duration_repeats:${event.actor}:${event.seq}`,
            subject: event.actor,
            userId: event.actor,
            resourceId: resource,
            title: `Asked for the maximum duration ${atMax} times in ${spoken(settings.maxWithinMs)}`,
            detail: `Most recently on ${resourceNameOf(policy, resource)}. Standing access by the back door looks like this: consider a shorter maximum.`,
            evidence: [event.seq],
          });
      }
      return found;
    },
  };
}
