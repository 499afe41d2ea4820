import type { Kysely, Selectable } from 'kysely';
import type { AccessRequestTable, Database, GrantTable } from '../db/schema.ts';
import { askingOf } from './asking.ts';
import { resourceName, type AccessContext } from './context.ts';
import type { GrantId, RequestId, SlackUserId } from './ids.ts';
import type { AccessRequest, Approval, Grant } from './types.ts';

export type RequestRow = Selectable<AccessRequestTable>;
export type GrantRow = Selectable<GrantTable>;

export function toGrant(ctx: AccessContext, row: GrantRow): Grant {
  return {
    id: row.id,
    requestId: row.request_id,
    userId: row.user_id,
    resourceId: row.resource_id,
    resourceName: resourceName(ctx, row.resource_id),
    status: row.status,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    endedAt: row.ended_at,
    endReason: row.end_reason,
    lastError: row.last_error,
    warnedAt: row.warned_at,
    extending:
      row.status === 'active' && row.target_ends_at !== null && row.target_ends_at.getTime() < row.ends_at.getTime(),
  };
}

export async function toRequest(ctx: AccessContext, db: Kysely<Database>, row: RequestRow): Promise<AccessRequest> {
  const approvals = await db
    .selectFrom('approvals')
    .select(['approver', 'created_at', 'mfa_checked'])
    .where('request_id', '=', row.id)
    .orderBy('created_at')
    .execute();
  return requestFrom(
    ctx,
    row,
    approvals.map((a) => ({ approver: a.approver, at: a.created_at, mfaChecked: a.mfa_checked })),
  );
}

/** A request just inserted: it has no approvals yet, so there is nothing more to read. */
export function newRequestFrom(ctx: AccessContext, row: RequestRow): AccessRequest {
  return requestFrom(ctx, row, []);
}

function requestFrom(ctx: AccessContext, row: RequestRow, approvals: Approval[]): AccessRequest {
  return {
    id: row.id,
    requester: row.requester,
    resourceId: row.resource_id,
    resourceName: resourceName(ctx, row.resource_id),
    durationMs: row.duration_ms,
    reason: row.reason,
    status: row.status,
    approvalsRequired: row.approvals_required,
    approvals,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    decidedAt: row.decided_at,
    decidedBy: row.decided_by,
    denyReason: row.deny_reason,
    extendsGrantId: row.extends_grant_id,
    mfaChecked: row.mfa_checked,
    ...(row.break_glass ? { breakGlass: true } : {}),
    ...(row.contract_ends_at ? { contractEndsAt: row.contract_ends_at } : {}),
    ...askingOf(ctx, row),
  };
}

/** Many requests at once, with their approvals in one query rather than one each. */
export async function toRequests(
  ctx: AccessContext,
  db: Kysely<Database>,
  rows: RequestRow[],
): Promise<AccessRequest[]> {
  if (rows.length === 0) return [];
  const approvals = await db
    .selectFrom('approvals')
    .select(['request_id', 'approver', 'created_at', 'mfa_checked'])
    .where(
      'request_id',
      'in',
      rows.map((row) => row.id),
    )
    .orderBy('created_at')
    .execute();
  const byRequest = new Map<string, Approval[]>();
  for (const a of approvals) {
    const list = byRequest.get(a.request_id) ?? [];
    list.push({ approver: a.approver, at: a.created_at, mfaChecked: a.mfa_checked });
    byRequest.set(a.request_id, list);
  }
  return rows.map((row) => requestFrom(ctx, row, byRequest.get(row.id) ?? []));
}

export async function findRequest(
  ctx: AccessContext,
  id: RequestId,
  db: Kysely<Database> = ctx.db,
): Promise<AccessRequest | null> {
  const row = await db.selectFrom('access_requests').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toRequest(ctx, db, row) : null;
}

export async function findGrant(ctx: AccessContext, id: GrantId, db: Kysely<Database> = ctx.db): Promise<Grant | null> {
  const row = await db.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toGrant(ctx, row) : null;
}

/** The grant a request is about: the one it was approved into, or the one it extends (null while there is none). */
export async function grantOfRequest(
  ctx: AccessContext,
  request: Pick<AccessRequest, 'id' | 'extendsGrantId'>,
): Promise<Grant | null> {
  if (request.extendsGrantId) return findGrant(ctx, request.extendsGrantId);
  const row = await ctx.db.selectFrom('grants').selectAll().where('request_id', '=', request.id).executeTakeFirst();
  return row ? toGrant(ctx, row) : null;
}

/** The extension of a grant that waits for its owners, if any (at most one: one pending request per person and resource). */
export async function pendingExtensionOf(ctx: AccessContext, grantId: GrantId): Promise<AccessRequest | null> {
  const row = await ctx.db
    .selectFrom('access_requests')
    .selectAll()
    .where('extends_grant_id', '=', grantId)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return row ? toRequest(ctx, ctx.db, row) : null;
}

/** A person's grants that are not over, and their pending requests. */
export async function holdingsOf(
  ctx: AccessContext,
  userId: SlackUserId,
): Promise<{ grants: Grant[]; requests: AccessRequest[] }> {
  const grants = await ctx.db
    .selectFrom('grants')
    .selectAll()
    .where('user_id', '=', userId)
    .where('status', '<>', 'ended')
    .orderBy('ends_at')
    .execute();
  const requests = await ctx.db
    .selectFrom('access_requests')
    .selectAll()
    .where('requester', '=', userId)
    .where('status', '=', 'pending')
    .orderBy('created_at')
    .execute();
  return {
    grants: grants.map((row) => toGrant(ctx, row)),
    requests: await toRequests(ctx, ctx.db, requests),
  };
}

/** Pending requests this person may decide and has not approved yet. */
export async function awaitingDecisionBy(ctx: AccessContext, userId: SlackUserId): Promise<AccessRequest[]> {
  const owned = ctx
    .policy()
    .policy.resources.filter((r) => r.owners.includes(userId))
    .map((r) => r.id);
  if (owned.length === 0) return [];
  const rows = await ctx.db
    .selectFrom('access_requests')
    .selectAll()
    .where('status', '=', 'pending')
    .where('resource_id', 'in', owned)
    .where('requester', '<>', userId)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('approvals')
            .select('approver')
            .whereRef('approvals.request_id', '=', 'access_requests.id')
            .where('approver', '=', userId),
        ),
      ),
    )
    .orderBy('created_at')
    .execute();
  return toRequests(ctx, ctx.db, rows);
}

/**
 * The first `limit` pending requests this person may decide, soonest to expire first, and
 * how many there are in all: enough for a screen, however many are waiting.
 */
export async function awaitingDecisionPage(
  ctx: AccessContext,
  userId: SlackUserId,
  limit: number,
): Promise<{ requests: AccessRequest[]; total: number }> {
  const owned = ctx
    .policy()
    .policy.resources.filter((r) => r.owners.includes(userId))
    .map((r) => r.id);
  if (owned.length === 0) return { requests: [], total: 0 };
  const base = ctx.db
    .selectFrom('access_requests')
    .where('status', '=', 'pending')
    .where('resource_id', 'in', owned)
    .where('requester', '<>', userId)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('approvals')
            .select('approver')
            .whereRef('approvals.request_id', '=', 'access_requests.id')
            .where('approver', '=', userId),
        ),
      ),
    );
  const [rows, count] = await Promise.all([
    base.selectAll().orderBy('expires_at').limit(limit).execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { requests: await toRequests(ctx, ctx.db, rows), total: Number(count.n) };
}
