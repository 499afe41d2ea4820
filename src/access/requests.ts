import { sql } from 'kysely';
import { queueRow } from '../audit/append.ts';
import { parseDuration } from '../config/duration.ts';
import type { ResourcePolicy } from '../config/policy.ts';
import { resourceOf, type AccessContext } from './context.ts';
import { contractEndedRefusal, contractOf, extensionPastContract } from './contracts.ts';
import { readReason } from './free-text.ts';
import { askedAt } from './on-call.ts';
import { readTicket } from './tickets.ts';
import { newRequestId, type GrantId, type RequestId, type SlackUserId } from './ids.ts';
import { MfaService } from './mfa.ts';
import { notify, type Notification } from './notifications.ts';
import { refuse, type Outcome, type Refusal, type ResourceRef } from './refusals.ts';
import { findGrant, findRequest, newRequestFrom, toGrant, toRequest, type RequestRow } from './store.ts';
import { LIVE_GRANT_STATUSES, type AccessRequest } from './types.ts';

export interface RequestInput {
  requester: SlackUserId;
  resourceId: string;
  /** As typed (`2h`); unset means the resource's default. */
  duration?: string;
  /** As typed; cleaned here, and refused over MAX_REASON_LENGTH (src/access/free-text.ts). */
  reason: string;
  /** The grant this request would extend: checked here to be the requester's, live, and of this resource. */
  extendsGrantId?: GrantId;
  /** The requester's current TOTP code, for a resource with require_mfa. */
  mfaCode?: string;
  /** The ticket reference, for a resource with a `ticket:` rule (access/tickets.ts). */
  ticket?: string;
  /** Set when this request is one of several asked together (access/batch.ts); recorded in request.created. */
  batch?: string;
}

const ref = (r: ResourcePolicy): ResourceRef => ({ id: r.id, name: r.name });

/** The resources this person may ask for. */
export function requestableBy(ctx: AccessContext, userId: SlackUserId): ResourcePolicy[] {
  return ctx.policy().policy.resources.filter((r) => r.requesters.includes(userId));
}

/**
 * Checks a request against the policy and files it: the request, its audit event and the
 * notifications commit together. At most one pending request per person and resource.
 */
export async function requestAccess(
  ctx: AccessContext,
  input: RequestInput,
): Promise<Outcome<{ request: AccessRequest }>> {
  const outcome = await fileIfAllowed(ctx, input);
  if (!outcome.ok && OUTSIDE_POLICY.has(outcome.refusal.kind)) await recordRefusal(ctx, input, outcome.refusal);
  return outcome;
}

/** Refusals of a request the policy does not allow: on the record, for the watcher's refusal bursts. */
const OUTSIDE_POLICY = new Set<Refusal['kind']>(['unknown-resource', 'not-allowed', 'too-long', 'contract-ended']);

async function recordRefusal(ctx: AccessContext, input: RequestInput, refusal: Refusal): Promise<void> {
  await ctx.audit
    .record({
      actor: input.requester,
      action: 'request.refused',
      subject: null,
      body: {
        // As typed, cut: an unknown resource is the person's text, not an id.
        resource: input.resourceId.slice(0, 100),
        reason: refusal.kind,
        ...(refusal.kind === 'too-long' ? { duration_ms: refusal.requestedMs, max_ms: refusal.maxMs } : {}),
      },
    })
    .catch((err: unknown) => ctx.log.warn({ err }, 'a refused request could not be recorded'));
}

async function fileIfAllowed(ctx: AccessContext, input: RequestInput): Promise<Outcome<{ request: AccessRequest }>> {
  const allowed = requestableBy(ctx, input.requester).map(ref);
  const resource = resourceOf(ctx, input.resourceId);
  if (!resource) return refuse({ kind: 'unknown-resource', given: input.resourceId, allowed });
  if (!resource.requesters.includes(input.requester))
    return refuse({ kind: 'not-allowed', resource: ref(resource), allowed });
  // After the contract's end every request is refused, whatever it asks for.
  const ended = contractEndedRefusal(ctx, input.requester, resource.id, ctx.now());
  if (ended) return refuse(ended);
  let durationMs = resource.defaultDurationMs;
  if (input.duration !== undefined && input.duration.trim() !== '') {
    try {
      durationMs = parseDuration(input.duration.trim());
    } catch {
      return refuse({ kind: 'bad-duration', given: input.duration });
    }
  }
  if (durationMs > resource.maxDurationMs) {
    return refuse({
      kind: 'too-long',
      resource: ref(resource),
      requestedMs: durationMs,
      maxMs: resource.maxDurationMs,
    });
  }
  const read = readReason(input.reason);
  if (!read.ok) return refuse({ kind: 'reason-too-long', length: read.length, max: read.max });
  const reason = read.text;
  if (reason === '') return refuse({ kind: 'reason-required', resource: ref(resource) });
  const ticket = readTicket(resource, input.ticket);
  if (!ticket.ok) return ticket;
  // Whatever the adapter passes (a form's private_metadata can be forged): only the requester's own live grant of this resource.
  if (input.extendsGrantId !== undefined) {
    const refusal = await extensionRefusal(ctx, input.requester, resource, input.extendsGrantId);
    if (refusal) return refuse(refusal);
  }
  // No grant runs past the contract: a request that would is shortened to end with it (approval checks again).
  const contract = contractOf(ctx, input.requester);
  let contractEndsAt: Date | null = null;
  const asked = durationMs;
  if (contract) {
    const from = input.extendsGrantId ? (await findGrant(ctx, input.extendsGrantId))?.endsAt : ctx.now();
    if (from && input.extendsGrantId) {
      const past = extensionPastContract(ctx, input.requester, resource.id, from);
      if (past) return refuse(past);
    }
    if (from && from.getTime() + durationMs > contract.endsAt.getTime()) {
      durationMs = contract.endsAt.getTime() - from.getTime();
      contractEndsAt = contract.endsAt;
    }
  }
  // With require_mfa, no code, no request: the owners never see it.
  if (resource.requireMfa) {
    if (input.mfaCode === undefined || input.mfaCode.trim() === '')
      return refuse({ kind: 'mfa-code-needed', resource: ref(resource) });
    const checked = await new MfaService(ctx).check(input.requester, input.mfaCode, 'request');
    if (!checked.ok) return checked;
  }

  const filing: Filing = {
    id: newRequestId(),
    requester: input.requester,
    resource,
    durationMs,
    reason,
    extendsGrantId: input.extendsGrantId ?? null,
    contractEndsAt,
    askedMs: asked,
    ticket: ticket.ticket,
    batch: input.batch ?? null,
  };
  // A pending request that vanished between the refusal and the lookup (decided that
  // instant) makes way for this one: file again, a bounded number of times.
  for (let attempt = 1; ; attempt++) {
    const row = await fileRequest(ctx, filing);
    if (row.id !== null) return { ok: true as const, request: newRequestFrom(ctx, row as RequestRow) };
    if (filing.extendsGrantId !== null && row.held_id !== filing.extendsGrantId) {
      // The grant stopped giving access between the check above and the filing.
      const refusal = await extensionRefusal(ctx, input.requester, resource, filing.extendsGrantId);
      if (refusal) return refuse(refusal);
    } else if (filing.extendsGrantId === null && row.held_id !== null) {
      const held = await ctx.db.selectFrom('grants').selectAll().where('id', '=', row.held_id).executeTakeFirst();
      if (held) return refuse({ kind: 'already-held', grant: toGrant(ctx, held) });
    } else {
      const pending = await ctx.db
        .selectFrom('access_requests')
        .selectAll()
        .where('requester', '=', input.requester)
        .where('resource_id', '=', resource.id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      if (pending) return refuse({ kind: 'already-pending', request: await toRequest(ctx, ctx.db, pending) });
    }
    if (attempt >= 3)
      throw new Error(
        `could not file the request of ${input.requester} for ${resource.id}: it kept conflicting with one that changed meanwhile`,
      );
  }
}

/** Why `requester` may not extend `grantId` by asking for `resource`; null when they may. */
async function extensionRefusal(
  ctx: AccessContext,
  requester: SlackUserId,
  resource: ResourcePolicy,
  grantId: GrantId,
): Promise<Refusal | null> {
  const grant = await findGrant(ctx, grantId);
  if (!grant) return { kind: 'not-found', id: grantId };
  if (grant.userId !== requester) return { kind: 'not-yours' };
  if (grant.resourceId !== resource.id) return { kind: 'extension-other-resource', grant, resource: ref(resource) };
  // Past its end, a grant the sweep has not reached yet is over all the same: nothing to extend.
  if (!LIVE_GRANT_STATUSES.includes(grant.status) || grant.endsAt <= ctx.now())
    return { kind: 'extension-of-ended', grant };
  return null;
}

interface Filing {
  id: RequestId;
  requester: SlackUserId;
  resource: ResourcePolicy;
  durationMs: number;
  reason: string;
  extendsGrantId: GrantId | null;
  /** The contract's end, when the request was shortened to it; `askedMs` is what was asked. */
  contractEndsAt: Date | null;
  askedMs: number;
  /** The ticket the resource's rule required; null: none. */
  ticket: string | null;
  /** Shared by the requests asked together (access/batch.ts); null: asked alone. */
  batch: string | null;
}

/** The inserted request's columns (all null when nothing was inserted), and the grant already held, if that stopped it. */
type FiledRow = { [K in keyof RequestRow]: RequestRow[K] | null } & { held_id: GrantId | null };

/**
 * Files a request in one statement, so the command that asked waits for one round trip
 * instead of a transaction's six: the check for a grant already held, the insert (which a
 * pending request for the same resource turns into nothing, by the partial unique index),
 * its audit event and its notifications, all or nothing. `held` is the requester's live
 * grant of the resource (the one extended first, if live): a new request needs none, an
 * extension needs that one. Without an insert, `held_id` tells which was the reason;
 * otherwise a pending request was.
 */
async function fileRequest(ctx: AccessContext, filing: Filing): Promise<FiledRow> {
  const { id, requester, resource, durationMs, reason, extendsGrantId, contractEndsAt } = filing;
  const loaded = ctx.policy();
  const now = ctx.now();
  const remindAfterMs = loaded.policy.remindAfterMs;
  const escalation = resource.escalation;
  // With on_call: who is asked, and why (access/on-call.ts).
  const asked = askedAt(ctx, resource.id, requester, now);
  const event = queueRow({
    actor: requester,
    action: 'request.created',
    subject: id,
    body: {
      resource: resource.id,
      duration_ms: durationMs,
      reason,
      approvals_required: resource.approvalsRequired,
      owners: resource.owners,
      mfa_checked: resource.requireMfa,
      ...(extendsGrantId ? { extends_grant: extendsGrantId } : {}),
      ...(contractEndsAt ? { contract_ends_at: contractEndsAt.toISOString(), asked_ms: filing.askedMs } : {}),
      ...(filing.ticket !== null ? { ticket: filing.ticket } : {}),
      ...(filing.batch !== null ? { batch: filing.batch } : {}),
      ...(escalation ? { escalate_to: escalation.to, escalate_after_ms: escalation.afterMs } : {}),
      ...(asked.schedule !== undefined
        ? { asked: asked.asked, asked_because: asked.because, on_call_schedule: asked.schedule }
        : {}),
      policy_sha256: loaded.sha256,
    },
  });
  const notifications: Notification[] = [
    { kind: 'notify_request_submitted', requestId: id },
    ...homeRefreshes(ctx, resource.id, requester),
  ];
  const kinds = notifications.map((n) => n.kind);
  const payloads = notifications.map(({ kind: _kind, ...payload }) => JSON.stringify(payload));
  const result = await ctx.audit.statement((db) =>
    sql<FiledRow>`
      with held as (
        select id from grants
        where user_id = ${requester} and resource_id = ${resource.id}
          and status in ('provisioning', 'active', 'provision_failed')
        order by id = ${extendsGrantId}::text desc nulls last
        limit 1
      ), ins as (
        insert into access_requests (id, requester, resource_id, duration_ms, reason, approvals_required,
          created_at, expires_at, extends_grant_id, policy_sha256, next_reminder_at, mfa_checked, contract_ends_at,
          ticket, escalate_at, escalate_to)
        select ${id}, ${requester}, ${resource.id}, ${durationMs}::bigint, ${reason}, ${resource.approvalsRequired}::int,
          ${now}::timestamptz, ${new Date(now.getTime() + loaded.policy.requestTtlMs)}::timestamptz, ${extendsGrantId}::text,
          ${loaded.sha256}, ${remindAfterMs ? new Date(now.getTime() + remindAfterMs) : null}::timestamptz, ${resource.requireMfa}::boolean,
          ${contractEndsAt}::timestamptz, ${filing.ticket}::text,
          ${escalation ? new Date(now.getTime() + escalation.afterMs) : null}::timestamptz, ${escalation?.to ?? null}::text
        where (select id from held) is not distinct from ${extendsGrantId}::text
        on conflict (requester, resource_id) where status = 'pending' do nothing
        returning *
      ), queued as (
        insert into audit_queue (actor, action, subject, body)
        select ${event.actor}, ${event.action}, ${event.subject}, ${event.body} from ins
      ), notified as (
        insert into outbox (kind, payload)
        select n.kind, n.payload from ins, unnest(${kinds}::text[], ${payloads}::jsonb[]) as n (kind, payload)
      )
      select ins.*, (select id from held) as held_id from (select 1) as one left join ins on true
    `.execute(db),
  );
  return result.rows[0]!;
}

/** The requester withdraws a pending request. */
export async function cancelRequest(
  ctx: AccessContext,
  requestId: RequestId,
  userId: SlackUserId,
): Promise<Outcome<{ request: AccessRequest }>> {
  return ctx.audit.transact(async (trx) => {
    const current = await findRequest(ctx, requestId, trx);
    if (!current) return refuse({ kind: 'not-found', id: requestId });
    if (current.requester !== userId) return refuse({ kind: 'not-yours' });
    const row = await trx
      .updateTable('access_requests')
      .set({ status: 'cancelled', decided_at: ctx.now(), decided_by: userId })
      .where('id', '=', requestId)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
    if (!row) return refuse({ kind: 'already-decided', request: current });
    await ctx.audit.append(trx, {
      actor: userId,
      action: 'request.cancelled',
      subject: requestId,
      body: { resource: row.resource_id },
    });
    await notify(trx, { kind: 'notify_request_decided', requestId }, ...homeRefreshes(ctx, row.resource_id, userId));
    return { ok: true as const, request: await toRequest(ctx, trx, row) };
  });
}

/** Home tabs to refresh when a request on `resourceId` changes: the requester's and every owner's. */
export function homeRefreshes(
  ctx: AccessContext,
  resourceId: string,
  requester: SlackUserId,
): { kind: 'refresh_home'; userId: SlackUserId }[] {
  const owners = resourceOf(ctx, resourceId)?.owners ?? [];
  return [...new Set([requester, ...owners])].map((userId) => ({ kind: 'refresh_home' as const, userId }));
}
