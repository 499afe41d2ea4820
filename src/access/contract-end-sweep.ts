import type { AccessContext } from './context.ts';
import { beginEnding, revokeAll } from './grants.ts';
import { LIVE_GRANT_STATUSES } from './types.ts';

/**
 * The sweep for access past a contract's end: a policy that moves an end earlier (or a
 * grant given before the contracts section said anything) must not leave access running
 * past it. Live grants of people whose contract has ended are claimed with SKIP LOCKED and
 * ended (`expired`, by `system`), like grants whose own time is up.
 */
export async function endGrantsPastContract(ctx: AccessContext, limit = 200): Promise<number> {
  const now = ctx.now();
  const ended = [...ctx.policy().policy.contracts.entries()].filter(([, c]) => c.endsAt <= now).map(([id]) => id);
  if (ended.length === 0) return 0;
  const rows = await ctx.audit.transact(async (trx) => {
    const due = await trx
      .selectFrom('grants')
      .select('id')
      .where('user_id', 'in', ended)
      .where('status', 'in', LIVE_GRANT_STATUSES)
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .execute();
    return beginEnding(
      ctx,
      trx,
      due.map((d) => d.id),
      'expired',
      'system',
    );
  });
  return revokeAll(ctx, rows);
}
