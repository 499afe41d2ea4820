import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { AccessContext } from './context.ts';
import { asGrantId, asRequestId, asSlackUserId, type GrantId, type SlackUserId } from './ids.ts';
import type { RevokeOutcome } from './ports.ts';
import { toGrant, type GrantRow } from './store.ts';
import { LIVE_GRANT_STATUSES, type Grant, type GrantStatus } from './types.ts';

/** Statuses in which a grant may still hold access in the target: live, or being taken away. */
const MAY_HOLD_ACCESS: readonly GrantStatus[] = [...LIVE_GRANT_STATUSES, 'revoking', 'revoke_failed'];

/**
 * The reconcile sweep: asks each resource's provisioner what access is in place, and
 * takes away whatever Gatehouse made that no live grant covers: a role re-created by
 * hand after its grant ended, one left by a grant that no longer exists, a person added
 * back to a user group by hand after their grant ended (people never granted the group
 * are left alone). Each is recorded as `grant.drift_revoked`. One replica reconciles a
 * resource at a time.
 */
export async function reconcileGrants(ctx: AccessContext): Promise<number> {
  let revoked = 0;
  for (const resource of ctx.policy().policy.resources) {
    const provisioner = ctx.provisionerFor(resource.provisioner);
    if (!provisioner.inPlace && !provisioner.holders) continue;
    revoked += await ctx.audit.transact(async (trx) => {
      const { rows } = await sql<{
        locked: boolean;
      }>`select pg_try_advisory_xact_lock(hashtextextended(${`gatehouse:reconcile:${resource.id}`}, 0)) as locked`.execute(
        trx,
      );
      if (!rows[0]?.locked) return 0;
      // What the target reports is typed here, where it arrives: grant ids (parsed from role names), or people.
      const drift = provisioner.inPlace
        ? await grantsWithoutLiveGrant(trx, (await provisioner.inPlace()).map(asGrantId))
        : await holdersWithoutLiveGrant(trx, resource.id, (await provisioner.holders!()).map(asSlackUserId));
      let count = 0;
      for (const { id, row } of drift) {
        const grant: Grant = row
          ? toGrant(ctx, row)
          : {
              id,
              requestId: asRequestId(''),
              userId: asSlackUserId(''),
              resourceId: resource.id,
              resourceName: resource.name,
              status: 'ended',
              startsAt: ctx.now(),
              endsAt: ctx.now(),
              endedAt: ctx.now(),
              endReason: null,
              lastError: null,
            };
        let outcome: RevokeOutcome | void;
        try {
          outcome = await provisioner.revoke(grant);
        } catch (err) {
          ctx.log.error(
            { err, grantId: id, resource: resource.id },
            'access found without a live grant could not be taken away; retried at the next reconcile',
          );
          continue;
        }
        await ctx.audit.append(trx, {
          actor: 'system',
          action: 'grant.drift_revoked',
          subject: id,
          body: {
            resource: resource.id,
            user: row?.user_id ?? null,
            grant_status: row?.status ?? 'unknown',
            ...outcome?.record,
          },
        });
        count += 1;
      }
      return count;
    });
  }
  return revoked;
}

type Drift = { id: GrantId; row: GrantRow | undefined }[];

/** Of the grants whose access is in place, those no live grant covers. */
async function grantsWithoutLiveGrant(trx: Transaction<Database>, found: GrantId[]): Promise<Drift> {
  if (found.length === 0) return [];
  const live = await trx
    .selectFrom('grants')
    .select('id')
    .where('id', 'in', found)
    .where('status', 'in', MAY_HOLD_ACCESS)
    .execute();
  const covered = new Set(live.map((row) => row.id));
  const drift: Drift = [];
  for (const id of found.filter((grantId) => !covered.has(grantId))) {
    drift.push({ id, row: await trx.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst() });
  }
  return drift;
}

/**
 * Of the people who have shared access, those who held a grant of this resource and hold
 * no live one: each as their latest grant, which the revocation and the record name.
 */
async function holdersWithoutLiveGrant(
  trx: Transaction<Database>,
  resourceId: string,
  holders: SlackUserId[],
): Promise<Drift> {
  if (holders.length === 0) return [];
  const rows = await trx
    .selectFrom('grants')
    .selectAll()
    .where('resource_id', '=', resourceId)
    .where('user_id', 'in', holders)
    .orderBy('user_id')
    .orderBy('starts_at', 'desc')
    .execute();
  const latest = new Map<string, GrantRow>();
  const live = new Set<string>();
  for (const row of rows) {
    if (!latest.has(row.user_id)) latest.set(row.user_id, row);
    if (MAY_HOLD_ACCESS.includes(row.status)) live.add(row.user_id);
  }
  return [...latest.values()].filter((row) => !live.has(row.user_id)).map((row) => ({ id: row.id, row }));
}
