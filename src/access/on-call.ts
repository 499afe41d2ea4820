/**
 * The on-call rule (docs/asking.md §3): a resource with `on_call:` asks whoever its schedule
 * says is on call at the request's time (and the owners it always asks), not every owner.
 * Only owners are ever asked: a schedule names who is awake, never who may approve, so a
 * shift of someone who is not an owner is passed over. With nobody on call, or a schedule
 * that cannot be read, every owner is asked and the card says why. Who may decide does not
 * change: any owner still may (access/escalation.ts decidersOf).
 */
import { onCallAt, readSchedule } from '../config/on-call-schedule.ts';
import { resourceOf, type AccessContext } from './context.ts';
import type { SlackUserId } from './ids.ts';

export type AskedBecause = 'owners' | 'on-call' | 'nobody-on-call' | 'schedule-unreadable';

export interface Asked {
  /** Who is asked to decide (cards, reminders), never the requester; sorted. */
  asked: SlackUserId[];
  because: AskedBecause;
  /** The schedule file as the policy writes it, when the resource has one. */
  schedule?: string;
}

/** Who a request of `requester` for `resourceId` made at `at` asks, and why. */
export function askedAt(ctx: AccessContext, resourceId: string, requester: string, at: Date): Asked {
  const resource = resourceOf(ctx, resourceId);
  const owners = (resource?.owners ?? []).filter((id) => id !== requester);
  const rule = resource?.onCall;
  if (!rule) return { asked: owners, because: 'owners' };
  let onCall: SlackUserId[];
  try {
    onCall = onCallAt(readSchedule(rule.schedule, rule.written), at).filter((id) => owners.includes(id));
  } catch (err) {
    ctx.log.warn(
      { err, schedule: rule.schedule, resourceId },
      'the on-call schedule cannot be read; every owner is asked',
    );
    return { asked: owners, because: 'schedule-unreadable', schedule: rule.written };
  }
  if (onCall.length === 0) return { asked: owners, because: 'nobody-on-call', schedule: rule.written };
  const always = rule.always.filter((id) => owners.includes(id));
  return { asked: [...new Set([...onCall, ...always])].sort(), because: 'on-call', schedule: rule.written };
}
