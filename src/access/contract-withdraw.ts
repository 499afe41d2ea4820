import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { AccessContext } from './context.ts';
import type { ContractRefusal } from './contracts.ts';
import { notify } from './notifications.ts';
import { refuse, type Refusal } from './refusals.ts';
import { homeRefreshes } from './requests.ts';
import type { RequestRow } from './store.ts';

/**
 * A request whose requester's contract ended (or that would only extend past it) is
 * withdrawn by `system` when an owner tries to approve it; the owner is told why.
 */
export async function withdrawForContract(
  ctx: AccessContext,
  trx: Transaction<Database>,
  row: RequestRow,
  refusal: ContractRefusal,
): Promise<{ ok: false; refusal: Refusal }> {
  await trx
    .updateTable('access_requests')
    .set({ status: 'cancelled', decided_at: ctx.now(), decided_by: 'system' })
    .where('id', '=', row.id)
    .where('status', '=', 'pending')
    .execute();
  await ctx.audit.append(trx, {
    actor: 'system',
    action: 'request.cancelled',
    subject: row.id,
    body: { resource: row.resource_id, reason: 'contract_ended', contract_ends_at: refusal.endsAt.toISOString() },
  });
  await notify(
    trx,
    { kind: 'notify_request_decided', requestId: row.id },
    ...homeRefreshes(ctx, row.resource_id, row.requester),
  );
  return refuse(refusal);
}
