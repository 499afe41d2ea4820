import type { AlertInput } from '../../access/alerts.ts';
import { localClock, withinWorkingHours, type WorkingHours } from '../../config/alerts-policy.ts';
import type { Policy } from '../../config/policy.ts';
import { resourceNameOf, str, type DetectContext, type Detector, type WatchedEvent } from '../detector.ts';

const WHAT: Record<string, string> = {
  'request.created': 'asked for access',
  'approval.recorded': 'approved a request',
  'gateway.session_started': 'opened a database session',
};

/** The hours that apply: the resource's own, else those of the person's first group that has some, else the policy's. */
export function hoursFor(policy: Policy, resourceId: string | null, person: string): WorkingHours | null {
  const resource = resourceId ? policy.resources.find((r) => r.id === resourceId) : undefined;
  if (resource?.alerts.workingHours) return resource.alerts.workingHours;
  for (const [group, hours] of policy.alerts.groupWorkingHours)
    if (policy.groups.get(group)?.includes(person as never)) return hours;
  return policy.alerts.workingHours;
}

/**
 * Off hours: a request, an approval or a gateway session outside the working hours set for
 * the resource or the person's group, in its time zone. Once per person, resource and
 * local day: a night's work is one incident.
 */
export function offHoursDetector(): Detector {
  return {
    actions: Object.keys(WHAT),
    lookbackMs: 0,
    observe(event: WatchedEvent, { policy }: DetectContext): AlertInput[] {
      const resource = str(event.body['resource']);
      const hours = hoursFor(policy, resource, event.actor);
      if (!hours || withinWorkingHours(hours, event.time)) return [];
      const local = localClock(hours.timeZone, event.time);
      const clock = `${String(Math.floor(local.minute / 60)).padStart(2, '0')}:${String(local.minute % 60).padStart(2, '0')}`;
      const session = event.action === 'gateway.session_started' ? event.subject : null;
      return [
        {
          detector: 'off_hours',
          severity: 'warning',
          incidentKey: `off_hours:${event.actor}:${resource ?? '-'}:${local.date}`,
          subject: event.actor,
          userId: event.actor,
          resourceId: resource,
          grantId: str(event.body['grant']),
          sessionId: session,
          title: `${WHAT[event.action]!.replace(/^./, (c) => c.toUpperCase())} outside working hours`,
          detail: `At ${clock} on ${local.date} (${hours.timeZone}), on ${resourceNameOf(policy, resource)}; working hours are ${hours.text}.`,
          evidence: [event.seq],
        },
      ];
    },
  };
}
