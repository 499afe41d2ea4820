/**
 * Contract ends (the policy's `contracts:`): no grant runs past the requester's contract,
 * a request that would is shortened to end with it, and after it every request is refused.
 * Owners are told a week before a contract ends which access is still recurring for the
 * person: the resources they were granted in the last RECURRING_DAYS days.
 */
import type { ContractEnd } from '../config/contracts-policy.ts';
import { resourceOf, type AccessContext } from './context.ts';
import type { SlackUserId } from './ids.ts';
import { notify } from './notifications.ts';
import type { Refusal } from './refusals.ts';

/** The two refusals a contract's end gives. */
export type ContractRefusal = Extract<Refusal, { kind: 'contract-ended' | 'extension-past-contract' }>;

/** Owners hear this long before a contract ends. */
export const NOTICE_BEFORE_MS = 7 * 86_400_000;
/** "Recurring": granted at least once in this many days before the notice. */
export const RECURRING_DAYS = 30;

export function contractOf(ctx: AccessContext, userId: SlackUserId): ContractEnd | null {
  return ctx.policy().policy.contracts.get(userId) ?? null;
}

/** Who to ask about a contract: the owners of the resource asked for, or of every resource when none. */
function ownersToAsk(ctx: AccessContext, resourceId: string | null): SlackUserId[] {
  const resource = resourceId ? resourceOf(ctx, resourceId) : undefined;
  const owners = resource?.owners ?? ctx.policy().policy.resources.flatMap((r) => r.owners);
  return [...new Set(owners)].sort();
}

/** The refusal for a person whose contract has ended by `at`, or null. */
export function contractEndedRefusal(
  ctx: AccessContext,
  userId: SlackUserId,
  resourceId: string | null,
  at: Date,
): ContractRefusal | null {
  const contract = contractOf(ctx, userId);
  if (!contract || contract.endsAt > at) return null;
  return {
    kind: 'contract-ended',
    written: contract.written,
    endsAt: contract.endsAt,
    owners: ownersToAsk(ctx, resourceId),
  };
}

/**
 * The end a grant may have: `wanted`, or the contract's end when that comes first. Returns
 * the end and the contract end it was cut to (null when it was not cut).
 */
export function endWithinContract(
  ctx: AccessContext,
  userId: SlackUserId,
  wanted: Date,
): { endsAt: Date; cutTo: Date | null } {
  const contract = contractOf(ctx, userId);
  if (!contract || contract.endsAt >= wanted) return { endsAt: wanted, cutTo: null };
  return { endsAt: contract.endsAt, cutTo: contract.endsAt };
}

/** The refusal for an extension of a grant that already ends at (or past) the contract's end. */
export function extensionPastContract(
  ctx: AccessContext,
  userId: SlackUserId,
  resourceId: string,
  grantEndsAt: Date,
): ContractRefusal | null {
  const contract = contractOf(ctx, userId);
  if (!contract || contract.endsAt > grantEndsAt) return null;
  return {
    kind: 'extension-past-contract',
    written: contract.written,
    endsAt: contract.endsAt,
    owners: ownersToAsk(ctx, resourceId),
  };
}

/** What a contract-end notice lists: each resource the person was granted lately, with its owners. */
export interface RecurringAccess {
  resource: string;
  grants: number;
  lastStartedAt: string;
  owners: SlackUserId[];
}

/**
 * The sweep for contract ends a week away: a person with recurring access (granted
 * something in the last RECURRING_DAYS days) is claimed once per end, by a row in
 * contract_notices (a second replica's insert waits for the first and then does nothing),
 * with the notice's audit event and the owners' messages in the same transaction. A person
 * with nothing recurring is looked at again next round. A changed end date is a new notice.
 */
export async function noticeContractEnds(ctx: AccessContext): Promise<number> {
  const now = ctx.now();
  const due = [...ctx.policy().policy.contracts.entries()].filter(
    ([, c]) => c.endsAt > now && c.endsAt.getTime() - now.getTime() <= NOTICE_BEFORE_MS,
  );
  let noticed = 0;
  for (const [userId, contract] of due) {
    const sent = await ctx.audit.transact(async (trx) => {
      const since = new Date(now.getTime() - RECURRING_DAYS * 86_400_000);
      const rows = await trx
        .selectFrom('grants')
        .select((eb) => ['resource_id', eb.fn.countAll<string>().as('grants'), eb.fn.max('starts_at').as('last')])
        .where('user_id', '=', userId)
        .where('starts_at', '>=', since)
        .groupBy('resource_id')
        .orderBy('resource_id')
        .execute();
      const recurring: RecurringAccess[] = rows.map((row) => ({
        resource: row.resource_id,
        grants: Number(row.grants),
        lastStartedAt: new Date(row.last).toISOString(),
        owners: resourceOf(ctx, row.resource_id)?.owners ?? [],
      }));
      // Nothing recurring yet: nothing to tell, and a later round (a grant meanwhile) may still tell it.
      if (recurring.length === 0) return false;
      const claimed = await trx
        .insertInto('contract_notices')
        .values({ user_id: userId, ends_at: contract.endsAt })
        .onConflict((oc) => oc.columns(['user_id', 'ends_at']).doNothing())
        .returning('user_id')
        .executeTakeFirst();
      if (!claimed) return false;
      await ctx.audit.append(trx, {
        actor: 'system',
        action: 'contract.ending_noticed',
        subject: userId,
        body: {
          user: userId,
          contract_ends_at: contract.endsAt.toISOString(),
          written: contract.written,
          days: RECURRING_DAYS,
          recurring: recurring.map((r) => ({
            resource: r.resource,
            grants: r.grants,
            last_started_at: r.lastStartedAt,
          })),
          owners: [...new Set(recurring.flatMap((r) => r.owners))].sort(),
        },
      });
      await notify(trx, {
        kind: 'notify_contract_ending',
        userId,
        endsAt: contract.endsAt.toISOString(),
        written: contract.written,
        recurring,
      });
      return true;
    });
    if (sent) noticed += 1;
  }
  return noticed;
}
