/** What a request's row says of its ticket and escalation, as the domain shows it (access/types.ts). */
import type { Selectable } from 'kysely';
import type { AccessRequestTable } from '../db/schema.ts';
import { resourceOf, type AccessContext } from './context.ts';
import { askedAt } from './on-call.ts';
import { ticketOf } from './tickets.ts';
import type { AccessRequest } from './types.ts';

export function askingOf(
  ctx: AccessContext,
  row: Selectable<AccessRequestTable>,
): Pick<AccessRequest, 'ticket' | 'escalation' | 'onCall'> {
  const asked = askedAt(ctx, row.resource_id, row.requester, row.created_at);
  return {
    ...(asked.because !== 'owners' && asked.schedule !== undefined
      ? { onCall: { asked: asked.asked, because: asked.because, schedule: asked.schedule } }
      : {}),
    ...(row.ticket ? { ticket: ticketOf(resourceOf(ctx, row.resource_id), row.ticket) } : {}),
    ...(row.escalated_at && row.escalate_at && row.escalate_to
      ? {
          escalation: {
            to: row.escalate_to,
            afterMs: row.escalate_at.getTime() - row.created_at.getTime(),
            at: row.escalated_at,
          },
        }
      : {}),
  };
}
