import { sql, type Transaction } from 'kysely';
import type { GrantId } from '../db/ids.ts';
import type { Database } from '../db/schema.ts';

/**
 * A grant ended (its time ran out, given back, revoked): if it was break-glass access,
 * every copy of its alert is set to say so, with no Revoke now left. Queued in the ending's
 * transaction; nothing for any other grant.
 */
export async function notifyBreakGlassCopies(trx: Transaction<Database>, grantId: GrantId): Promise<void> {
  await sql`
    insert into outbox (kind, payload)
    select 'notify_break_glass_changed', jsonb_build_object('grantId', grant_id::text)
      from break_glass where grant_id = ${grantId}`.execute(trx);
}
