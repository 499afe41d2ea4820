/**
 * What owners and the sweep do about break-glass access (access/break-glass.ts): Ratify,
 * Revoke now, and the automatic revoke of one not ratified in time. The `break_glass` row is
 * locked (or claimed with SKIP LOCKED by the sweep) for each move, so every replica and
 * every double click agrees on one outcome, recorded once.
 */
import type { Transaction } from 'kysely';
import type { BreakGlassTable, Database } from '../db/schema.ts';
import type { Selectable } from 'kysely';
import { findBreakGlass, ratifiersOf, type BreakGlass } from './break-glass.ts';
import { resourceOf, type AccessContext } from './context.ts';
import { beginEnding, revokeClaimed } from './grants.ts';
import type { GrantId, SlackUserId } from './ids.ts';
import { notify } from './notifications.ts';
import { refuse, type Outcome, type Refusal } from './refusals.ts';
import type { GrantRow } from './store.ts';

type Row = Selectable<BreakGlassTable>;
type Action = 'ratify' | 'revoke';

async function lock(trx: Transaction<Database>, grantId: string): Promise<Row | undefined> {
  return trx
    .selectFrom('break_glass')
    .selectAll()
    .where('grant_id', '=', grantId as GrantId)
    .forUpdate()
    .executeTakeFirst();
}

/** Only owners act, and the holder never ratifies their own: a refusal is on the record, with who may. */
async function checkActor(
  ctx: AccessContext,
  trx: Transaction<Database>,
  row: Row,
  userId: SlackUserId,
  action: Action,
): Promise<Refusal | null> {
  const owners = resourceOf(ctx, row.resource_id)?.owners ?? [];
  const holder = userId === row.user_id;
  const may = action === 'ratify' ? !holder && owners.includes(userId) : owners.includes(userId);
  if (may) return null;
  await ctx.audit.append(trx, {
    actor: userId,
    action: 'breakglass.action_refused',
    subject: row.grant_id,
    body: { resource: row.resource_id, user: row.user_id, action, reason: holder ? 'own-break-glass' : 'not-owner' },
  });
  return { kind: 'not-break-glass-owner', action, owners: ratifiersOf(ctx, row.resource_id, row.user_id), holder };
}

const settled = (row: Row): Refusal => ({
  kind: 'break-glass-settled',
  status: row.status as 'ratified' | 'unratified' | 'revoked',
  by: row.settled_by,
  at: row.settled_at,
});

/** An owner ratifies; the quorum's last ratification moves it to `ratified`. */
export async function ratifyBreakGlass(
  ctx: AccessContext,
  grantId: string,
  userId: SlackUserId,
): Promise<Outcome<{ breakGlass: BreakGlass }>> {
  const result = await ctx.audit.transact(async (trx): Promise<Outcome<object>> => {
    const row = await lock(trx, grantId);
    if (!row) return refuse({ kind: 'not-found', id: grantId });
    const refusal = await checkActor(ctx, trx, row, userId, 'ratify');
    if (refusal) return refuse(refusal);
    if (row.status !== 'pending') return refuse(settled(row));
    const added = await trx
      .insertInto('break_glass_ratifications')
      .values({ grant_id: row.grant_id, owner: userId })
      .onConflict((oc) => oc.columns(['grant_id', 'owner']).doNothing())
      .returning('owner')
      .executeTakeFirst();
    const given = await trx
      .selectFrom('break_glass_ratifications')
      .select('owner')
      .where('grant_id', '=', row.grant_id)
      .orderBy('created_at')
      .execute();
    if (!added) return refuse({ kind: 'already-ratified-by-you', given: given.length, quorum: row.quorum });
    await ctx.audit.append(trx, {
      actor: userId,
      action: 'breakglass.ratification_recorded',
      subject: row.grant_id,
      body: { resource: row.resource_id, user: row.user_id, given: given.length, required: row.quorum },
    });
    if (given.length >= row.quorum) {
      const now = ctx.now();
      await trx
        .updateTable('break_glass')
        .set({ status: 'ratified', settled_at: now, settled_by: userId })
        .where('grant_id', '=', row.grant_id)
        .where('status', '=', 'pending')
        .execute();
      await ctx.audit.append(trx, {
        actor: userId,
        action: 'breakglass.ratified',
        subject: row.grant_id,
        body: {
          resource: row.resource_id,
          user: row.user_id,
          ratified_by: given.map((g) => g.owner),
          ratify_by: row.ratify_by.toISOString(),
        },
      });
    }
    await notify(
      trx,
      { kind: 'notify_break_glass_changed', grantId: row.grant_id },
      { kind: 'refresh_home', userId: row.user_id },
    );
    return { ok: true };
  });
  if (!result.ok) return result;
  return { ok: true, breakGlass: (await findBreakGlass(ctx, grantId))! };
}

/** An owner takes break-glass access away now, ratified or not. */
export async function revokeBreakGlass(
  ctx: AccessContext,
  grantId: string,
  userId: SlackUserId,
): Promise<Outcome<{ breakGlass: BreakGlass }>> {
  const result = await ctx.audit.transact(async (trx): Promise<Outcome<{ moved: GrantRow[] }>> => {
    const row = await lock(trx, grantId);
    if (!row) return refuse({ kind: 'not-found', id: grantId });
    const refusal = await checkActor(ctx, trx, row, userId, 'revoke');
    if (refusal) return refuse(refusal);
    if (row.status === 'revoked' || row.status === 'unratified') return refuse(settled(row));
    const moved = await beginEnding(ctx, trx, [row.grant_id], 'revoked', userId);
    await trx
      .updateTable('break_glass')
      .set({ status: 'revoked', settled_at: ctx.now(), settled_by: userId })
      .where('grant_id', '=', row.grant_id)
      .execute();
    await ctx.audit.append(trx, {
      actor: userId,
      action: 'breakglass.revoked_by_owner',
      subject: row.grant_id,
      body: { resource: row.resource_id, user: row.user_id, was: row.status, grant_live: moved.length > 0 },
    });
    await notify(trx, { kind: 'notify_break_glass_changed', grantId: row.grant_id });
    return { ok: true, moved };
  });
  if (!result.ok) return result;
  for (const claimed of result.moved) await revokeClaimed(ctx, claimed);
  return { ok: true, breakGlass: (await findBreakGlass(ctx, grantId))! };
}

/**
 * The sweep for break-glass access not ratified in time: claims the rows past `ratify_by`
 * with SKIP LOCKED (replicas split them; a Ratify being clicked holds its row, and the
 * sweep takes it next round if it is still pending), moves each to `unratified` with its
 * event and its grant to `revoking`, then revokes. Returns how many it settled.
 */
export async function revokeUnratified(ctx: AccessContext, limit = 100): Promise<number> {
  const now = ctx.now();
  const moved = await ctx.audit.transact(async (trx) => {
    const rows = await trx
      .updateTable('break_glass')
      .set({ status: 'unratified', settled_at: now, settled_by: 'system' })
      .where('grant_id', 'in', (eb) =>
        eb
          .selectFrom('break_glass')
          .select('grant_id')
          .where('status', '=', 'pending')
          .where('ratify_by', '<=', now)
          .orderBy('ratify_by')
          .limit(limit)
          .forUpdate()
          .skipLocked(),
      )
      .where('status', '=', 'pending')
      .returningAll()
      .execute();
    if (rows.length === 0) return { rows, grants: [] as GrantRow[] };
    const grants = await beginEnding(
      ctx,
      trx,
      rows.map((r) => r.grant_id),
      'revoked',
      'system',
    );
    for (const row of rows) {
      const given = await trx
        .selectFrom('break_glass_ratifications')
        .select('owner')
        .where('grant_id', '=', row.grant_id)
        .execute();
      await ctx.audit.append(trx, {
        actor: 'system',
        action: 'breakglass.unratified_revoked',
        subject: row.grant_id,
        body: {
          resource: row.resource_id,
          user: row.user_id,
          ratify_by: row.ratify_by.toISOString(),
          given: given.length,
          required: row.quorum,
          grant_live: grants.some((g) => g.id === row.grant_id),
        },
      });
      await notify(trx, { kind: 'notify_break_glass_changed', grantId: row.grant_id });
    }
    return { rows, grants };
  });
  for (const claimed of moved.grants) await revokeClaimed(ctx, claimed);
  return moved.rows.length;
}
