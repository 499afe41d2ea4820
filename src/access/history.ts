import type { AccessContext } from './context.ts';
import type { GrantId, RequestId, SlackUserId } from './ids.ts';

/**
 * What a person has had of one resource before: the grants they were given and the
 * requests owners denied. An approver weighs a request by it ("3 grants, last on 2 Dec for
 * 1h · 1 denial"), so it is read as of the moment the request was made, and the request
 * itself is left out.
 */
export interface RequesterHistory {
  grants: number;
  /** The latest grant: when it started and how long it was given for (to its end, extensions included). */
  lastGrant: { startsAt: Date; durationMs: number } | null;
  denials: number;
  /** The latest denial: when, and the owner's reason if they gave one. */
  lastDenial: { at: Date; reason: string | null } | null;
}

export interface HistoryWindow {
  /** Only what began before this moment: the request's own creation, so the card does not change later. */
  before: Date;
  excludeRequestId?: RequestId;
  /** For an extension: the grant it extends, which its card shows on its own (held so far), not as history. */
  excludeGrantId?: GrantId | null;
}

/**
 * Two small queries, each one row: the count comes with the latest row (`count(*) over ()`).
 * Grants from extension requests are not counted again (an extension used to be a grant of
 * its own; it now moves the grant it extends).
 */
export async function requesterHistory(
  ctx: AccessContext,
  requester: SlackUserId,
  resourceId: string,
  { before, excludeRequestId, excludeGrantId }: HistoryWindow,
): Promise<RequesterHistory> {
  const exclude = excludeRequestId ?? ('' as RequestId);
  const [grant, denial] = await Promise.all([
    ctx.db
      .selectFrom('grants')
      .innerJoin('access_requests', 'access_requests.id', 'grants.request_id')
      .select((eb) => ['grants.starts_at', 'grants.ends_at', eb.fn.countAll<string>().over().as('n')])
      .where('grants.user_id', '=', requester)
      .where('grants.resource_id', '=', resourceId)
      .where('grants.starts_at', '<', before)
      .where('grants.request_id', '<>', exclude)
      .$if(Boolean(excludeGrantId), (qb) => qb.where('grants.id', '<>', excludeGrantId!))
      .where('access_requests.extends_grant_id', 'is', null)
      .orderBy('grants.starts_at', 'desc')
      .limit(1)
      .executeTakeFirst(),
    ctx.db
      .selectFrom('access_requests')
      .select((eb) => ['decided_at', 'created_at', 'deny_reason', eb.fn.countAll<string>().over().as('n')])
      .where('requester', '=', requester)
      .where('resource_id', '=', resourceId)
      .where('status', '=', 'denied')
      .where('created_at', '<', before)
      .where('id', '<>', exclude)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst(),
  ]);
  return {
    grants: grant ? Number(grant.n) : 0,
    lastGrant: grant
      ? { startsAt: grant.starts_at, durationMs: grant.ends_at.getTime() - grant.starts_at.getTime() }
      : null,
    denials: denial ? Number(denial.n) : 0,
    lastDenial: denial ? { at: denial.decided_at ?? denial.created_at, reason: denial.deny_reason } : null,
  };
}

/** The grant an extension request would extend, with the reason it was first asked for. */
export interface GrantToExtend {
  startsAt: Date;
  endsAt: Date;
  /** When access ended (released, revoked, run out); null while it is held. */
  endedAt: Date | null;
  /** The grant is ended or being revoked: there is nothing left to extend. */
  over: boolean;
  /** The reason of the grant's own request; null when that request is not on record. */
  originalReason: string | null;
}

/** One query by primary key: the grant, and its request's reason. Null when the grant is not on record. */
export async function grantToExtend(ctx: AccessContext, grantId: GrantId): Promise<GrantToExtend | null> {
  const row = await ctx.db
    .selectFrom('grants')
    .leftJoin('access_requests', 'access_requests.id', 'grants.request_id')
    .select(['grants.starts_at', 'grants.ends_at', 'grants.ended_at', 'grants.status', 'access_requests.reason'])
    .where('grants.id', '=', grantId)
    .executeTakeFirst();
  if (!row) return null;
  return {
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    endedAt: row.ended_at,
    over: row.ended_at !== null || ['ended', 'revoking', 'revoke_failed'].includes(row.status),
    originalReason: row.reason,
  };
}
