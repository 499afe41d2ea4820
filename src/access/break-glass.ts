/**
 * Break-glass access: a person the resource's `break_glass:` names takes access at once,
 * without approval, with a reason. Every owner and the security group are alerted at once
 * with Ratify and Revoke now; unless a quorum of owners (never the holder) ratifies it
 * within the policy's window, the sweep revokes it. Each move of the `break_glass` row is
 * one conditional update, with its audit event, in one transaction.
 */
import { parseDuration } from '../config/duration.ts';
import type { ResourcePolicy } from '../config/policy.ts';
import type { BreakGlassStatus } from '../db/schema.ts';
import { resourceOf, type AccessContext } from './context.ts';
import { contractEndedRefusal, endWithinContract } from './contracts.ts';
import { insertGrant, provisionSoon } from './decisions.ts';
import { readReason } from './free-text.ts';
import { newRequestId, type GrantId, type SlackUserId } from './ids.ts';
import { checkCodeIn } from './mfa.ts';
import { notify } from './notifications.ts';
import { refuse, type Outcome, type Refusal, type ResourceRef } from './refusals.ts';
import { homeRefreshes } from './requests.ts';
import { findGrant, toGrant } from './store.ts';
import { LIVE_GRANT_STATUSES, type Grant } from './types.ts';

export interface BreakGlassInput {
  requester: SlackUserId;
  resourceId: string;
  /** As typed; unset: the shorter of the resource's default and the break-glass maximum. */
  duration?: string;
  reason: string;
  /** With require_mfa: the holder's current code. An emergency does not waive the step-up. */
  mfaCode?: string;
}

/** A break-glass grant as people see it. */
export interface BreakGlass {
  grantId: GrantId;
  userId: SlackUserId;
  resource: ResourceRef;
  reason: string;
  quorum: number;
  ratifyBy: Date;
  status: BreakGlassStatus;
  createdAt: Date;
  settledAt: Date | null;
  settledBy: string | null;
  /** Owners who ratified, in order. */
  ratifiedBy: SlackUserId[];
  grant: Grant | null;
}

const ref = (r: ResourcePolicy): ResourceRef => ({ id: r.id, name: r.name });

/** Owners who may ratify: the resource's owners under the policy in force, never the holder. */
export function ratifiersOf(ctx: AccessContext, resourceId: string, holder: SlackUserId): SlackUserId[] {
  return (resourceOf(ctx, resourceId)?.owners ?? []).filter((owner) => owner !== holder);
}

/** Who is alerted: the owners but the holder, and the break-glass security group. */
export function breakGlassRecipients(ctx: AccessContext, bg: Pick<BreakGlass, 'resource' | 'userId'>): SlackUserId[] {
  const resource = resourceOf(ctx, bg.resource.id);
  const security = resource?.breakGlass?.security ?? ctx.policy().policy.alerts.security;
  return [...new Set([...ratifiersOf(ctx, bg.resource.id, bg.userId), ...security])]
    .filter((id) => id !== bg.userId)
    .sort();
}

async function recordRefused(ctx: AccessContext, input: BreakGlassInput, refusal: Refusal): Promise<void> {
  const limits =
    refusal.kind === 'break-glass-too-long' ? { duration_ms: refusal.requestedMs, max_ms: refusal.maxMs } : {};
  await ctx.audit
    .record({
      actor: input.requester,
      action: 'request.refused',
      subject: null,
      body: { resource: input.resourceId.slice(0, 100), reason: refusal.kind, break_glass: true, ...limits },
    })
    .catch((err: unknown) => ctx.log.warn({ err }, 'a refused break-glass request could not be recorded'));
}

const RECORDED = new Set<Refusal['kind']>([
  'unknown-resource',
  'break-glass-not-allowed',
  'break-glass-too-long',
  'contract-ended',
]);

/** Breaks the glass: checks, grants at once and alerts; the grant is provisioned after the commit. */
export async function breakGlass(ctx: AccessContext, input: BreakGlassInput): Promise<Outcome<{ grant: Grant }>> {
  const outcome = await takeAccess(ctx, input);
  if (!outcome.ok) {
    if (RECORDED.has(outcome.refusal.kind)) await recordRefused(ctx, input, outcome.refusal);
    return outcome;
  }
  return { ok: true, grant: (await provisionSoon(ctx, outcome.grant.id)) ?? outcome.grant };
}

async function takeAccess(ctx: AccessContext, input: BreakGlassInput): Promise<Outcome<{ grant: Grant }>> {
  const { requester } = input;
  const offered = ctx
    .policy()
    .policy.resources.filter((r) => r.breakGlass?.who.includes(requester))
    .map(ref);
  const resource = resourceOf(ctx, input.resourceId);
  if (!resource) return refuse({ kind: 'unknown-resource', given: input.resourceId, allowed: offered });
  const policy = resource.breakGlass;
  if (!policy || !policy.who.includes(requester))
    return refuse({ kind: 'break-glass-not-allowed', resource: ref(resource), offered: policy !== null });
  const now = ctx.now();
  const ended = contractEndedRefusal(ctx, requester, resource.id, now);
  if (ended) return refuse(ended);
  let durationMs = Math.min(resource.defaultDurationMs, policy.maxDurationMs);
  if (input.duration !== undefined && input.duration.trim() !== '') {
    try {
      durationMs = parseDuration(input.duration.trim());
    } catch {
      return refuse({ kind: 'bad-duration', given: input.duration });
    }
  }
  if (durationMs > policy.maxDurationMs)
    return refuse({
      kind: 'break-glass-too-long',
      resource: ref(resource),
      requestedMs: durationMs,
      maxMs: policy.maxDurationMs,
    });
  const read = readReason(input.reason);
  if (!read.ok) return refuse({ kind: 'reason-too-long', length: read.length, max: read.max });
  if (read.text === '') return refuse({ kind: 'reason-required', resource: ref(resource) });
  if (resource.requireMfa && (input.mfaCode === undefined || input.mfaCode.trim() === ''))
    return refuse({ kind: 'mfa-code-needed', resource: ref(resource) });

  const { endsAt, cutTo } = endWithinContract(ctx, requester, new Date(now.getTime() + durationMs));
  // Owners but the holder ratify; a quorum they cannot reach is the quorum they can (at least one).
  const quorum = Math.max(1, Math.min(policy.quorum, ratifiersOf(ctx, resource.id, requester).length));
  const ratifyBy = new Date(now.getTime() + policy.ratifyWithinMs);
  const loaded = ctx.policy();
  return ctx.audit.transact(async (trx) => {
    const requestId = newRequestId();
    if (resource.requireMfa) {
      const checked = await checkCodeIn(ctx, trx, requester, input.mfaCode!, 'request', requestId);
      if (!checked.ok) return checked;
    }
    const held = await trx
      .selectFrom('grants')
      .selectAll()
      .where('user_id', '=', requester)
      .where('resource_id', '=', resource.id)
      .where('status', 'in', LIVE_GRANT_STATUSES)
      .forUpdate()
      .executeTakeFirst();
    if (held) return refuse({ kind: 'already-held', grant: toGrant(ctx, held) });
    await trx
      .insertInto('access_requests')
      .values({
        id: requestId,
        requester,
        resource_id: resource.id,
        duration_ms: endsAt.getTime() - now.getTime(),
        reason: read.text,
        status: 'approved',
        approvals_required: quorum,
        created_at: now,
        expires_at: now,
        decided_at: now,
        decided_by: requester,
        deny_reason: null,
        extends_grant_id: null,
        policy_sha256: loaded.sha256,
        next_reminder_at: null,
        mfa_checked: resource.requireMfa,
        break_glass: true,
        contract_ends_at: cutTo,
      })
      .execute();
    const grantRow = await insertGrant(trx, {
      requestId: requestId,
      userId: requester,
      resourceId: resource.id,
      startsAt: now,
      endsAt,
    });
    await trx
      .insertInto('break_glass')
      .values({
        grant_id: grantRow.id,
        request_id: requestId,
        user_id: requester,
        resource_id: resource.id,
        reason: read.text,
        quorum,
        ratify_by: ratifyBy,
        created_at: now,
        settled_at: null,
        settled_by: null,
      })
      .execute();
    await ctx.audit.append(trx, {
      actor: requester,
      action: 'request.break_glass',
      subject: requestId,
      body: {
        resource: resource.id,
        grant: grantRow.id,
        duration_ms: durationMs,
        reason: read.text,
        ratify_by: ratifyBy.toISOString(),
        quorum,
        owners: resource.owners,
        security: breakGlassRecipients(ctx, { resource: ref(resource), userId: requester }).filter(
          (id) => !resource.owners.includes(id),
        ),
        mfa_checked: resource.requireMfa,
        ...(cutTo ? { contract_ends_at: cutTo.toISOString() } : {}),
        policy_sha256: loaded.sha256,
      },
    });
    await ctx.audit.append(trx, {
      actor: 'system',
      action: 'grant.provisioning',
      subject: grantRow.id,
      body: { request: requestId, user: requester, resource: resource.id, ends_at: endsAt.toISOString() },
    });
    await notify(
      trx,
      { kind: 'notify_break_glass', grantId: grantRow.id },
      ...homeRefreshes(ctx, resource.id, requester),
    );
    return { ok: true as const, grant: toGrant(ctx, grantRow) };
  });
}

export async function findBreakGlass(ctx: AccessContext, grantId: string): Promise<BreakGlass | null> {
  const row = await ctx.db
    .selectFrom('break_glass')
    .selectAll()
    .where('grant_id', '=', grantId as GrantId)
    .executeTakeFirst();
  if (!row) return null;
  const ratified = await ctx.db
    .selectFrom('break_glass_ratifications')
    .select('owner')
    .where('grant_id', '=', row.grant_id)
    .orderBy('created_at')
    .orderBy('owner')
    .execute();
  return {
    grantId: row.grant_id,
    userId: row.user_id,
    resource: { id: row.resource_id, name: resourceOf(ctx, row.resource_id)?.name ?? row.resource_id },
    reason: row.reason,
    quorum: row.quorum,
    ratifyBy: row.ratify_by,
    status: row.status,
    createdAt: row.created_at,
    settledAt: row.settled_at,
    settledBy: row.settled_by,
    ratifiedBy: ratified.map((r) => r.owner),
    grant: await findGrant(ctx, row.grant_id),
  };
}

export async function breakGlassMessages(
  ctx: AccessContext,
  grantId: GrantId,
): Promise<{ channel: string; ts: string }[]> {
  return ctx.db.selectFrom('break_glass_messages').select(['channel', 'ts']).where('grant_id', '=', grantId).execute();
}
