import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { notifyBreakGlassCopies } from './break-glass-copies.ts';
import { resourceOf, type AccessContext } from './context.ts';
import type { GrantId, SlackUserId } from './ids.ts';
import { notify } from './notifications.ts';
import type { ExtendOutcome, GrantOutcome, RevokeOutcome } from './ports.ts';
import { refuse, type Outcome } from './refusals.ts';
import { homeRefreshes } from './requests.ts';
import { toGrant, type GrantRow } from './store.ts';
import { LIVE_GRANT_STATUSES, type Grant, type GrantEndReason } from './types.ts';

/** Retry delays after failed provisioning or revocation: 30 s, 1 min, 2 min … at most 30 min. */
export function retryDelayMs(attempts: number): number {
  return Math.min(30 * 60_000, 30_000 * 2 ** Math.max(0, attempts - 1));
}

/** The retry sweep's next look at a grant: now if its end moved past the one the target was just told, else none. */
const dueIfMovedPast = (told: Date) =>
  sql<Date | null>`case when ends_at > ${told}::timestamptz then now() else null end`;

/** How long a claimed attempt is leased before another replica may take it over. */
const LEASE = sql<Date>`now() + interval '60 seconds'`;

/**
 * Gives access for a grant that is provisioning (or failed to): claims it, calls the
 * provisioner, and records the outcome. Safe to call from any replica at any time: a grant
 * another process holds is left alone. Returns the grant as it ends up, or null if not claimed.
 */
export async function provisionGrant(ctx: AccessContext, grantId: GrantId): Promise<Grant | null> {
  const claimed = await claim(ctx, grantId, ['provisioning', 'provision_failed']);
  if (!claimed) return null;
  const grant = toGrant(ctx, claimed);
  const resource = resourceOf(ctx, claimed.resource_id);
  let outcome: GrantOutcome | void;
  let sealed: Buffer | null = null;
  try {
    if (!resource) throw new Error(`resource ${claimed.resource_id} is no longer in the policy`);
    outcome = await ctx.provisionerFor(resource.provisioner).grant(grant);
    if (outcome?.secret) {
      if (!ctx.secrets)
        throw new Error(
          'GATEHOUSE_SECRETS_KEY is not set, so the credentials made for this grant cannot be kept until they are sent',
        );
      sealed = ctx.secrets.seal(JSON.stringify(outcome.secret), grantId);
    }
  } catch (err) {
    return recordFailure(ctx, claimed, 'provision_failed', err);
  }
  return ctx.audit.transact(async (trx) => {
    const row = await trx
      .updateTable('grants')
      .set({
        status: 'active',
        last_error: null,
        delivery_secret: sealed,
        // The target holds the end it was given; an extension approved meanwhile is applied next.
        target_ends_at: claimed.ends_at,
        next_attempt_at: dueIfMovedPast(claimed.ends_at),
      })
      .where('id', '=', grantId)
      .where('status', 'in', ['provisioning', 'provision_failed'])
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    await ctx.audit.append(trx, {
      actor: 'system',
      action: 'grant.active',
      subject: grantId,
      body: {
        user: row.user_id,
        resource: row.resource_id,
        ends_at: row.ends_at.toISOString(),
        attempt: row.attempts,
        ...outcome?.record,
      },
    });
    await notify(trx, { kind: 'notify_grant_active', grantId }, { kind: 'refresh_home', userId: row.user_id });
    return toGrant(ctx, row);
  });
}

/** Another grant of the same resource to the same person that still gives access, if any. */
async function otherLiveGrant(ctx: AccessContext, row: GrantRow): Promise<GrantId | null> {
  const other = await ctx.db
    .selectFrom('grants')
    .select('id')
    .where('user_id', '=', row.user_id)
    .where('resource_id', '=', row.resource_id)
    .where('id', '<>', row.id)
    .where('status', 'in', LIVE_GRANT_STATUSES)
    .executeTakeFirst();
  return other?.id ?? null;
}

/** Takes access away for a grant that is ending: idempotent, retried until it succeeds. */
export async function revokeGrant(ctx: AccessContext, grantId: GrantId): Promise<Grant | null> {
  const claimed = await claim(ctx, grantId, ['revoking', 'revoke_failed']);
  if (!claimed) return null;
  return revokeClaimed(ctx, claimed);
}

/**
 * Revokes a grant this process holds the lease of: claimed by `claim`, or moved to
 * `revoking` by `beginEnding` in a transaction of its own (which is that claim: claiming
 * again there could skip a row another replica's sweep had just locked while passing over
 * it, and leave the grant to wait out the lease).
 */
export async function revokeClaimed(ctx: AccessContext, claimed: GrantRow): Promise<Grant | null> {
  const grantId = claimed.id;
  const resource = resourceOf(ctx, claimed.resource_id);
  let keptFor: GrantId | null = null;
  let outcome: RevokeOutcome | void;
  try {
    // A resource dropped from the policy has no provisioner left to call: nothing to undo.
    if (resource) {
      const provisioner = ctx.provisionerFor(resource.provisioner);
      // Shared access (a group membership) stays while another grant of it to this person is live.
      keptFor = provisioner.shared ? await otherLiveGrant(ctx, claimed) : null;
      if (!keptFor) outcome = await provisioner.revoke(toGrant(ctx, claimed));
    }
  } catch (err) {
    return recordFailure(ctx, claimed, 'revoke_failed', err);
  }
  return ctx.audit.transact(async (trx) => {
    const row = await trx
      .updateTable('grants')
      // Credentials never sent (the direct message still failing) die with the grant.
      .set({ status: 'ended', ended_at: ctx.now(), next_attempt_at: null, last_error: null, delivery_secret: null })
      .where('id', '=', grantId)
      .where('status', 'in', ['revoking', 'revoke_failed'])
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    await ctx.audit.append(trx, {
      actor: 'system',
      action: 'grant.revoked',
      subject: grantId,
      body: {
        user: row.user_id,
        resource: row.resource_id,
        reason: row.end_reason,
        ends_at: row.ends_at.toISOString(),
        ...(keptFor ? { access_kept_for: keptFor } : {}),
        // What the provisioner found in the target after taking the access away.
        ...outcome?.record,
      },
    });
    await notify(trx, { kind: 'notify_grant_ended', grantId }, { kind: 'refresh_home', userId: row.user_id });
    await notifyBreakGlassCopies(trx, grantId);
    return toGrant(ctx, row);
  });
}

/** The holder gives access back early ("I'm done"). */
export async function releaseGrant(
  ctx: AccessContext,
  grantId: GrantId,
  userId: SlackUserId,
): Promise<Outcome<{ grant: Grant }>> {
  const started = await ctx.audit.transact(async (trx) => {
    const current = await trx.selectFrom('grants').selectAll().where('id', '=', grantId).executeTakeFirst();
    if (!current) return refuse({ kind: 'not-found', id: grantId });
    if (current.user_id !== userId) return refuse({ kind: 'not-yours' });
    // A stale I'm done: nothing to give back, and the person is told when and why it ended.
    if (current.status === 'ended') return refuse({ kind: 'already-ended', grant: toGrant(ctx, current) });
    const rows = await beginEnding(ctx, trx, [grantId], 'released', userId);
    return { ok: true as const, grant: toGrant(ctx, rows[0] ?? current), moved: rows[0] };
  });
  if (!started.ok) return started;
  // Moved here: this process holds it. Already ending: whoever holds it goes on, or the retry sweep.
  const ended = started.moved ? await revokeClaimed(ctx, started.moved) : await revokeGrant(ctx, grantId);
  return { ok: true, grant: ended ?? started.grant };
}

/**
 * Moves grants to `revoking` with their audit events, in the caller's transaction, and
 * claims them for their first attempt (the lease keeps the retry sweep off them). Only
 * grants not already ending move; the rows that moved are returned, for revokeClaimed.
 */
export async function beginEnding(
  ctx: AccessContext,
  trx: Transaction<Database>,
  ids: GrantId[],
  reason: GrantEndReason,
  actor: string,
): Promise<GrantRow[]> {
  if (ids.length === 0) return [];
  const rows = await trx
    .updateTable('grants')
    .set({ status: 'revoking', end_reason: reason, attempts: 1, next_attempt_at: LEASE })
    .where('id', 'in', ids)
    .where('status', 'in', LIVE_GRANT_STATUSES)
    .returningAll()
    .execute();
  await withdrawExtensions(
    ctx,
    trx,
    rows.map((row) => row.id),
  );
  for (const row of rows) {
    await ctx.audit.append(trx, {
      actor,
      action: 'grant.ending',
      subject: row.id,
      body: { user: row.user_id, resource: row.resource_id, reason, ends_at: row.ends_at.toISOString() },
    });
  }
  return rows;
}

/**
 * Pending extensions of grants that no longer give access are withdrawn (`system`), with
 * their owners' cards and the requester told: there is nothing left for them to extend.
 * One being approved right now (its row locked by the approval, which then waits for this
 * grant's lock) is skipped, not waited for: the two would deadlock. That approval finds the
 * grant over once this commits, and withdraws the request itself.
 */
export async function withdrawExtensions(
  ctx: AccessContext,
  trx: Transaction<Database>,
  grantIds: readonly GrantId[],
): Promise<void> {
  if (grantIds.length === 0) return;
  const rows = await trx
    .updateTable('access_requests')
    .set({ status: 'cancelled', decided_at: ctx.now(), decided_by: 'system' })
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('access_requests')
        .select('id')
        .where('extends_grant_id', 'in', [...grantIds])
        .where('status', '=', 'pending')
        .forUpdate()
        .skipLocked(),
    )
    .where('status', '=', 'pending')
    .returning(['id', 'resource_id', 'requester', 'extends_grant_id'])
    .execute();
  for (const row of rows) {
    await ctx.audit.append(trx, {
      actor: 'system',
      action: 'request.cancelled',
      subject: row.id,
      body: { resource: row.resource_id, reason: 'grant_ended', grant: row.extends_grant_id },
    });
    await notify(
      trx,
      { kind: 'notify_request_decided', requestId: row.id },
      ...homeRefreshes(ctx, row.resource_id, row.requester),
    );
  }
}

/**
 * Tells the target that an approved extension moved a grant's end (Provisioner.extend):
 * claims the grant while the end it holds is behind, calls the provisioner, and records
 * `grant.extended`, or a failure the retry sweep tries again. Safe from any replica.
 */
export async function applyExtension(ctx: AccessContext, grantId: GrantId): Promise<Grant | null> {
  const claimed = await claim(ctx, grantId, ['active'], true);
  if (!claimed) return null;
  const resource = resourceOf(ctx, claimed.resource_id);
  let outcome: ExtendOutcome | void;
  try {
    // A resource dropped from the policy has no provisioner left to tell; its revoke is the sweep's.
    if (resource) outcome = await ctx.provisionerFor(resource.provisioner).extend?.(toGrant(ctx, claimed));
  } catch (err) {
    return recordFailure(ctx, claimed, 'extend_failed', err);
  }
  return ctx.audit.transact(async (trx) => {
    const row = await trx
      .updateTable('grants')
      .set({
        // Never back: an attempt for an earlier end that finished last does not undo a later one.
        target_ends_at: sql<Date>`greatest(target_ends_at, ${claimed.ends_at}::timestamptz)`,
        last_error: null,
        // Another extension approved during this one: the sweep applies it next.
        next_attempt_at: dueIfMovedPast(claimed.ends_at),
      })
      .where('id', '=', grantId)
      .where('status', '=', 'active')
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    await ctx.audit.append(trx, {
      actor: 'system',
      action: 'grant.extended',
      subject: grantId,
      body: {
        user: row.user_id,
        resource: row.resource_id,
        ends_at: claimed.ends_at.toISOString(),
        attempt: claimed.attempts,
        ...outcome?.record,
      },
    });
    await notify(
      trx,
      { kind: 'refresh_home', userId: row.user_id },
      // The holder was told it was failing: the messages saying so are set right.
      ...(claimed.last_error ? [{ kind: 'notify_grant_changed' as const, grantId }] : []),
    );
    return toGrant(ctx, row);
  });
}

/** Applies an extension just approved; if that fails, the retry sweep does (as provisionSoon). */
export async function extendSoon(ctx: AccessContext, grantId: GrantId): Promise<Grant | null> {
  try {
    return await applyExtension(ctx, grantId);
  } catch (err) {
    ctx.log.warn({ err, grantId }, 'applying an extension right after its approval failed; the retry sweep does');
    return null;
  }
}

/**
 * The sweep for grants whose time is up: claims them with SKIP LOCKED, so replicas split
 * the work, moves them to revoking and revokes each. Returns how many it ended.
 */
export async function endDueGrants(ctx: AccessContext, limit = 200): Promise<number> {
  const rows = await ctx.audit.transact(async (trx) => {
    const due = await trx
      .selectFrom('grants')
      .select('id')
      .where('status', 'in', LIVE_GRANT_STATUSES)
      .where('ends_at', '<=', ctx.now())
      .orderBy('ends_at')
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

/** Revocations run a few at a time: a minute in which many grants end must not end them one by one. */
const REVOKE_CONCURRENCY = 8;

export async function revokeAll(ctx: AccessContext, claimed: GrantRow[]): Promise<number> {
  let ended = 0;
  let next = 0;
  const worker = async () => {
    while (next < claimed.length) {
      const row = claimed[next++]!;
      if (await revokeClaimed(ctx, row)) ended += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(REVOKE_CONCURRENCY, claimed.length) }, worker));
  return ended;
}

/** The sweep for provisioning, revocation and extensions that failed, or were cut short by a crash. */
export async function retryGrants(ctx: AccessContext, limit = 50): Promise<number> {
  const due = await ctx.db
    .selectFrom('grants')
    .select(['id', 'status'])
    .where('status', 'in', ['provisioning', 'provision_failed', 'active', 'revoking', 'revoke_failed'])
    .where('next_attempt_at', '<=', ctx.now())
    .orderBy('next_attempt_at')
    .limit(limit)
    .execute();
  let done = 0;
  for (const { id, status } of due) {
    const result =
      status === 'active'
        ? await applyExtension(ctx, id)
        : status === 'provisioning' || status === 'provision_failed'
          ? await provisionGrant(ctx, id)
          : await revokeGrant(ctx, id);
    if (result && (result.status === 'active' || result.status === 'ended') && !result.extending) done += 1;
  }
  return done;
}

/** Grants ending within `withinMs` whose holder has not been warned: marks and notifies them. */
export async function warnExpiring(ctx: AccessContext, withinMs: number): Promise<number> {
  return ctx.audit.transact(async (trx) => {
    const rows = await trx
      .updateTable('grants')
      .set({ warned_at: ctx.now() })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('grants')
          .select('id')
          .where('status', '=', 'active')
          .where('warned_at', 'is', null)
          .where('ends_at', '<=', new Date(ctx.now().getTime() + withinMs))
          .where('ends_at', '>', ctx.now())
          .forUpdate()
          .skipLocked(),
      )
      .returning(['id', 'user_id'])
      .execute();
    await notify(trx, ...rows.map((row) => ({ kind: 'notify_grant_expiring' as const, grantId: row.id })));
    return rows.length;
  });
}

/**
 * Claims a grant for one attempt: bumps its attempt count and leases it for a minute, in a
 * short transaction of its own, so a crash mid-attempt leaves it for the retry sweep.
 */
async function claim(
  ctx: AccessContext,
  grantId: GrantId,
  statuses: GrantRow['status'][],
  /** Only while the target holds an earlier end than the grant's (an extension to apply). */
  behind = false,
): Promise<GrantRow | undefined> {
  return ctx.db.transaction().execute(async (trx) => {
    const locked = await trx
      .selectFrom('grants')
      .select('id')
      .where('id', '=', grantId)
      .where('status', 'in', statuses)
      .$if(behind, (qb) => qb.where(sql<boolean>`target_ends_at < ends_at`))
      .forUpdate()
      .skipLocked()
      .executeTakeFirst();
    if (!locked) return undefined;
    return trx
      .updateTable('grants')
      .set((eb) => ({ attempts: eb('attempts', '+', 1), next_attempt_at: LEASE }))
      .where('id', '=', grantId)
      .returningAll()
      .executeTakeFirst();
  });
}

/** What failed: giving access, taking it away, or moving its end in the target. */
type Failure = 'provision_failed' | 'revoke_failed' | 'extend_failed';

const FAILED: Record<Failure, string> = {
  provision_failed: 'provisioning failed',
  revoke_failed: 'revocation failed',
  extend_failed: 'applying an extension failed',
};

/**
 * An attempt failed: recorded, retried with backoff, and the holder hears of it once. A
 * failed extension leaves the grant active (it gives access until the end the target holds,
 * at least); the others move it to their failed status.
 */
async function recordFailure(
  ctx: AccessContext,
  claimed: GrantRow,
  failure: Failure,
  err: unknown,
): Promise<Grant | null> {
  const message = err instanceof Error ? err.message : String(err);
  const extending = failure === 'extend_failed';
  ctx.log.warn({ err, grantId: claimed.id, attempt: claimed.attempts }, FAILED[failure]);
  return ctx.audit.transact(async (trx) => {
    const row = await trx
      .updateTable('grants')
      .set({
        ...(extending ? {} : { status: failure }),
        last_error: message.slice(0, 500),
        next_attempt_at: new Date(ctx.now().getTime() + retryDelayMs(claimed.attempts)),
      })
      .where('id', '=', claimed.id)
      .$if(extending, (qb) => qb.where('status', '=', 'active'))
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    await ctx.audit.append(trx, {
      actor: 'system',
      action: `grant.${failure}`,
      subject: row.id,
      body: {
        user: row.user_id,
        resource: row.resource_id,
        ...(extending ? { ends_at: claimed.ends_at.toISOString() } : {}),
        attempt: row.attempts,
        error: message.slice(0, 500),
      },
    });
    // The holder hears of it once, not at every retry (an approved extension counts its
    // attempts afresh). A revocation that keeps failing is the watcher's to alert about
    // (src/watch: stuck access), from these events.
    if (claimed.attempts === 1)
      await notify(
        trx,
        { kind: 'notify_grant_failing', grantId: row.id },
        ...homeRefreshes(ctx, row.resource_id, row.user_id),
      );
    return toGrant(ctx, row);
  });
}
