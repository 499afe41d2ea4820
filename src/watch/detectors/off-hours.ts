import type { AlertInput } from '../../access/alerts.ts';
import { localClock, withinWorkingHours, type WorkingHours } from '../../config/working-hours.ts';
import { resourceById, type Policy } from '../../config/policy.ts';
import { resourceNameOf, str, type DetectContext, type Detector, type WatchedEvent } from '../detector.ts';

const WHAT: Record<string, string> = {
  'request.created': 'asked for access',
  'approval.recorded': 'approved a request',
  'gateway.session_started': 'opened a database session',
};

/** The hours that apply: the resource's own, else those of the person's first group that has some, else the policy's. */
export function hoursFor(policy: Policy, resourceId: string | null, person: string): WorkingHours | null {
  const resource = resourceId ? resourceById(policy, resourceId) : undefined;
  if (resource?.alerts.workingHours) return resource.alerts.workingHours;
  for (const [group, hours] of policy.alerts.groupWorkingHours)
    if (policy.groups.get(group)?.includes(person as never)) return hours;
  return policy.alerts.workingHours;
}

/**
 * The off-hours alert for `person` acting on `resource` at the event's time, or null within
 * working hours (or with none set). One incident per person, resource and local day.
 */
export function offHoursAlert(
  policy: Policy,
  event: WatchedEvent,
  resource: string | null,
  person: string,
  what: string,
): AlertInput | null {
  const hours = hoursFor(policy, resource, person);
  if (!hours || withinWorkingHours(hours, event.time)) return null;
  const local = localClock(hours.timeZone, event.time);
  const clock = `${String(Math.floor(local.minute / 60)).padStart(2, '0')}:${String(local.minute % 60).padStart(2, '0')}`;
  return {
    detector: 'off_hours',
    severity: 'warning',
    incidentKey: `off_hours:${person}:${resource ?? '-'}:${local.date}`,
    subject: person,
    userId: person,
    resourceId: resource,
    title: `${what.replace(/^./, (c) => c.toUpperCase())} outside working hours`,
    detail: `At ${clock} on ${local.date} (${hours.timeZone}), on ${resourceNameOf(policy, resource)}; working hours are ${hours.text}.`,
    evidence: [event.seq],
  };
}

/**
 * Off hours: a request, an approval or a gateway session outside the working hours set for
 * the resource or the person's group, in its time zone (statements in a session are the
 * database detector's, which knows the session's resource). Once per person, resource and
 * local day: a night's work is one incident.
 */
export function offHoursDetector(): Detector {
  return {
    actions: Object.keys(WHAT),
    lookbackMs: 0,
    observe(event: WatchedEvent, { policy }: DetectContext): AlertInput[] {
      const resource = str(event.body['resource']);
      const found = offHoursAlert(policy, event, resource, event.actor, WHAT[event.action]!);
      if (!found) return [];
      return [
        {
          ...found,
          grantId: str(event.body['grant']),
          sessionId: event.action === 'gateway.session_started' ? event.subject : null,
          // An approval outside hours is the approver's act: ending their own access would be wrong.
          ...(event.action === 'approval.recorded' ? { ends: 'none' as const } : {}),
        },
      ];
    },
  };
}
