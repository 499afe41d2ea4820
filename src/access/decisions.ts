import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { resourceOf, type AccessContext } from './context.ts';
import { withdrawForContract } from './contract-withdraw.ts';
import { contractEndedRefusal, endWithinContract, extensionPastContract } from './contracts.ts';
import { decidersOf } from './escalation.ts';
import { askedAt } from './on-call.ts';
import { readReason } from './free-text.ts';
import { extendSoon, provisionGrant, withdrawExtensions } from './grants.ts';
import { newGrantId, type GrantId, type RequestId, type SlackUserId } from './ids.ts';
import { checkCodeIn } from './mfa.ts';
import { notify } from './notifications.ts';
import { refuse, type Outcome, type Refusal } from './refusals.ts';
import { homeRefreshes } from './requests.ts';
import { toGrant, toRequest, type RequestRow } from './store.ts';
import { LIVE_GRANT_STATUSES, type AccessRequest, type Grant } from './types.ts';

export type ApproveResult = Outcome<{ request: AccessRequest; grant: Grant | null }>;

export interface ApproveOptions {
  /** With approver_mfa: the approver's current code. */
  mfaCode?: string;
  /**
   * Leave the new grant's provisioning to the caller (AccessService.provision), for a
   * caller that must answer Slack first; a crash meanwhile leaves it to the retry sweep.
   */
  deferProvisioning?: boolean;
}

/** A retry, if the first provisioning attempt fails, waits at least this long. */
export const FIRST_RETRY_MS = 30_000;

/** A new grant, in `provisioning`, its first attempt due now and a retry after FIRST_RETRY_MS. */
export function insertGrant(
  trx: Transaction<Database>,
  grant: { requestId: RequestId; userId: SlackUserId; resourceId: string; startsAt: Date; endsAt: Date },
) {
  return trx
    .insertInto('grants')
    .values({
      id: newGrantId(),
      request_id: grant.requestId,
      user_id: grant.userId,
      resource_id: grant.resourceId,
      status: 'provisioning',
      starts_at: grant.startsAt,
      ends_at: grant.endsAt,
      ended_at: null,
      end_reason: null,
      next_attempt_at: new Date(grant.startsAt.getTime() + FIRST_RETRY_MS),
      last_error: null,
      warned_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * An owner approves. The request row is locked for the decision, so double clicks and
 * owners clicking at once queue up: each approval is counted once, by distinct owners, and
 * exactly one click moves the request to approved and creates the grant. The grant is
 * then provisioned at once, after the commit.
 */
export async function approve(
  ctx: AccessContext,
  requestId: RequestId,
  approver: SlackUserId,
  options: ApproveOptions = {},
): Promise<ApproveResult> {
  const result = await ctx.audit.transact(async (trx): Promise<ApproveResult> => {
    const row = await lockRequest(trx, requestId);
    if (!row) return refuse({ kind: 'not-found', id: requestId });
    const refusal = await checkDecider(ctx, trx, row, approver, 'approve');
    if (refusal) return refuse(refusal);
    // The policy in force decides, not the one the request was filed under: a contract that ended since withdraws it.
    const ended = contractEndedRefusal(ctx, row.requester, row.resource_id, ctx.now());
    if (ended) return withdrawForContract(ctx, trx, row, ended);
    // With approver_mfa, the approver's own current code, checked (and used up) with the decision.
    const resource = resourceOf(ctx, row.resource_id);
    const mfaChecked = Boolean(resource?.approverMfa);
    if (resource?.approverMfa) {
      if (options.mfaCode === undefined)
        return refuse({ kind: 'mfa-code-needed', resource: { id: resource.id, name: resource.name } });
      const checked = await checkCodeIn(ctx, trx, approver, options.mfaCode, 'approve', requestId);
      if (!checked.ok) return checked;
    }

    const added = await trx
      .insertInto('approvals')
      .values({ request_id: requestId, approver, mfa_checked: mfaChecked })
      .onConflict((oc) => oc.columns(['request_id', 'approver']).doNothing())
      .returning('approver')
      .executeTakeFirst();
    if (!added) return refuse({ kind: 'already-approved-by-you', request: await toRequest(ctx, trx, row) });
    const { given } = await trx
      .selectFrom('approvals')
      .select((eb) => eb.fn.countAll<number>().as('given'))
      .where('request_id', '=', requestId)
      .executeTakeFirstOrThrow();
    await ctx.audit.append(trx, {
      actor: approver,
      action: 'approval.recorded',
      subject: requestId,
      body: {
        resource: row.resource_id,
        given: Number(given),
        required: row.approvals_required,
        mfa_checked: mfaChecked,
      },
    });
    if (Number(given) < row.approvals_required) {
      await notify(
        trx,
        { kind: 'notify_request_progress', requestId },
        ...homeRefreshes(ctx, row.resource_id, row.requester),
      );
      return { ok: true, request: await toRequest(ctx, trx, row), grant: null };
    }

    if (row.extends_grant_id !== null) return approveExtension(ctx, trx, row, approver);
    const now = ctx.now();
    const { endsAt, cutTo } = endWithinContract(ctx, row.requester, new Date(now.getTime() + row.duration_ms));
    const approved = await trx
      .updateTable('access_requests')
      .set({ status: 'approved', decided_at: now, decided_by: approver })
      .where('id', '=', requestId)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirstOrThrow();
    const grantRow = await insertGrant(trx, {
      requestId,
      userId: row.requester,
      resourceId: row.resource_id,
      startsAt: now,
      endsAt,
    });
    await ctx.audit.append(trx, {
      actor: approver,
      action: 'request.approved',
      subject: requestId,
      body: {
        resource: row.resource_id,
        approvers: (await toRequest(ctx, trx, approved)).approvals.map((a) => a.approver),
        grant: grantRow.id,
      },
    });
    await ctx.audit.append(trx, {
      actor: 'system',
      action: 'grant.provisioning',
      subject: grantRow.id,
      body: {
        request: requestId,
        user: row.requester,
        resource: row.resource_id,
        ends_at: grantRow.ends_at.toISOString(),
        ...(cutTo ? { contract_ends_at: cutTo.toISOString() } : {}),
      },
    });
    await notify(
      trx,
      { kind: 'notify_request_decided', requestId },
      ...homeRefreshes(ctx, row.resource_id, row.requester),
    );
    return { ok: true, request: await toRequest(ctx, trx, approved), grant: toGrant(ctx, grantRow) };
  });
  if (result.ok && result.grant && !options.deferProvisioning) {
    const grant =
      result.request.extendsGrantId !== null
        ? await extendSoon(ctx, result.grant.id)
        : await provisionSoon(ctx, result.grant.id);
    return { ...result, grant: grant ?? result.grant };
  }
  return result;
}

/**
 * The last approval of an extension: the grant it extends keeps its id, its login and its
 * sessions, and its end moves by the time asked for, from the end it had. The target is
 * told after the commit (extendSoon, then the retry sweep); the holder is warned again
 * before the new end. A grant that stopped giving access meanwhile has nothing to extend:
 * the request is withdrawn, and the approver told why.
 */
async function approveExtension(
  ctx: AccessContext,
  trx: Transaction<Database>,
  row: RequestRow,
  approver: SlackUserId,
): Promise<ApproveResult> {
  const grantId = row.extends_grant_id!;
  const held = await trx.selectFrom('grants').selectAll().where('id', '=', grantId).forUpdate().executeTakeFirst();
  // Past its end the grant is over, even before the sweep revokes it: an extension must not bring it back.
  if (!held || !LIVE_GRANT_STATUSES.includes(held.status) || held.ends_at <= ctx.now()) {
    await withdrawExtensions(ctx, trx, [grantId]);
    return held
      ? refuse({ kind: 'extension-of-ended', grant: toGrant(ctx, held) })
      : refuse({ kind: 'not-found', id: grantId });
  }
  // A grant already ending with the requester's contract (the policy changed since the ask) is not extended past it.
  const past = extensionPastContract(ctx, held.user_id, held.resource_id, held.ends_at);
  if (past) return withdrawForContract(ctx, trx, row, past);
  const now = ctx.now();
  const { endsAt, cutTo } = endWithinContract(ctx, held.user_id, new Date(held.ends_at.getTime() + row.duration_ms));
  const approved = await trx
    .updateTable('access_requests')
    .set({ status: 'approved', decided_at: now, decided_by: approver })
    .where('id', '=', row.id)
    .where('status', '=', 'pending')
    .returningAll()
    .executeTakeFirstOrThrow();
  const extended = await trx
    .updateTable('grants')
    .set({
      ends_at: endsAt,
      warned_at: null,
      // A provisioned grant's target is told now, or by the retry sweep from here on.
      ...(held.status === 'active' ? { attempts: 0, next_attempt_at: new Date(now.getTime() + FIRST_RETRY_MS) } : {}),
    })
    .where('id', '=', grantId)
    .returningAll()
    .executeTakeFirstOrThrow();
  const request = await toRequest(ctx, trx, approved);
  await ctx.audit.append(trx, {
    actor: approver,
    action: 'request.approved',
    subject: row.id,
    body: {
      resource: row.resource_id,
      approvers: request.approvals.map((a) => a.approver),
      grant: grantId,
      extends_grant: grantId,
    },
  });
  await ctx.audit.append(trx, {
    actor: 'system',
    action: 'grant.extending',
    subject: grantId,
    body: {
      request: row.id,
      user: held.user_id,
      resource: held.resource_id,
      previous_ends_at: held.ends_at.toISOString(),
      ends_at: endsAt.toISOString(),
      ...(cutTo ? { contract_ends_at: cutTo.toISOString() } : {}),
    },
  });
  await notify(
    trx,
    { kind: 'notify_request_decided', requestId: row.id },
    ...homeRefreshes(ctx, row.resource_id, row.requester),
  );
  return { ok: true, request, grant: toGrant(ctx, extended) };
}

/**
 * Provisions a grant just approved. The approval is committed by then, so a failure here
 * (the database gone that instant) must not read as a failed approval: the grant waits in
 * `provisioning` and the retry sweep provisions it.
 */
export async function provisionSoon(ctx: AccessContext, grantId: GrantId): Promise<Grant | null> {
  try {
    return await provisionGrant(ctx, grantId);
  } catch (err) {
    ctx.log.warn(
      { err, grantId },
      'provisioning right after the approval failed; the retry sweep provisions the grant',
    );
    return null;
  }
}

/** An owner denies, with a reason the requester will read (the same limit as a request's reason). */
export async function deny(
  ctx: AccessContext,
  requestId: RequestId,
  denier: SlackUserId,
  reason: string,
): Promise<Outcome<{ request: AccessRequest }>> {
  const read = readReason(reason);
  if (!read.ok) return refuse({ kind: 'reason-too-long', length: read.length, max: read.max });
  if (read.text === '') return refuse({ kind: 'deny-reason-required' });
  const text = read.text;
  return ctx.audit.transact(async (trx) => {
    const row = await lockRequest(trx, requestId);
    if (!row) return refuse({ kind: 'not-found', id: requestId });
    const refusal = await checkDecider(ctx, trx, row, denier, 'deny');
    if (refusal) return refuse(refusal);
    const denied = await trx
      .updateTable('access_requests')
      .set({ status: 'denied', decided_at: ctx.now(), decided_by: denier, deny_reason: text })
      .where('id', '=', requestId)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirstOrThrow();
    await ctx.audit.append(trx, {
      actor: denier,
      action: 'request.denied',
      subject: requestId,
      body: { resource: row.resource_id, reason: text },
    });
    await notify(
      trx,
      { kind: 'notify_request_decided', requestId },
      ...homeRefreshes(ctx, row.resource_id, row.requester),
    );
    return { ok: true as const, request: await toRequest(ctx, trx, denied) };
  });
}

/**
 * Whether `userId` may decide `requestId` now, before a form for the decision opens (Deny
 * asks for a reason first, an approval with approver_mfa for a code). A refusal of someone who may not decide is on the record.
 */
export async function mayDecide(
  ctx: AccessContext,
  requestId: RequestId,
  userId: SlackUserId,
  decision: 'approve' | 'deny',
): Promise<Outcome<{ request: AccessRequest }>> {
  return ctx.audit.transact(async (trx) => {
    const row = await trx.selectFrom('access_requests').selectAll().where('id', '=', requestId).executeTakeFirst();
    if (!row) return refuse({ kind: 'not-found', id: requestId });
    const refusal = await checkDecider(ctx, trx, row, userId, decision);
    return refusal ? refuse(refusal) : { ok: true as const, request: await toRequest(ctx, trx, row) };
  });
}

/** Who is asked to decide a request: the owners of its resource under the policy in force, never its requester. */
export function approversOf(
  ctx: AccessContext,
  request: Pick<AccessRequest, 'resourceId' | 'requester' | 'escalation'> & { createdAt?: Date },
): SlackUserId[] {
  // With on_call, whoever was on call then (access/on-call.ts); once escalated, the fallback group too (escalation.ts).
  const asked = askedAt(ctx, request.resourceId, request.requester, request.createdAt ?? ctx.now()).asked;
  const fallback = request.escalation ? decidersOf(ctx, { ...request, escalatedTo: request.escalation.to }) : [];
  const owners = resourceOf(ctx, request.resourceId)?.owners ?? [];
  return [...new Set([...asked, ...fallback.filter((id) => !owners.includes(id))])].sort();
}

async function lockRequest(trx: Transaction<Database>, requestId: RequestId): Promise<RequestRow | undefined> {
  return trx.selectFrom('access_requests').selectAll().where('id', '=', requestId).forUpdate().executeTakeFirst();
}

/**
 * Who may decide: an owner of the resource under the policy in force, never the requester,
 * and only while the request is pending. A refused attempt by someone else is on the record.
 */
async function checkDecider(
  ctx: AccessContext,
  trx: Transaction<Database>,
  row: RequestRow,
  userId: SlackUserId,
  decision: 'approve' | 'deny',
): Promise<Refusal | null> {
  const request = await toRequest(ctx, trx, row);
  if (row.status !== 'pending') return { kind: 'already-decided', request };
  const owners = resourceOf(ctx, row.resource_id)?.owners ?? [];
  const deciders = decidersOf(ctx, {
    resourceId: row.resource_id,
    requester: row.requester,
    escalatedTo: row.escalated_at ? row.escalate_to : null,
  });
  let refusal: Refusal | null = null;
  if (userId === row.requester) refusal = { kind: 'own-request', request, owner: owners.includes(userId) };
  else if (!deciders.includes(userId)) refusal = { kind: 'not-approver', request };
  if (refusal) {
    await ctx.audit.append(trx, {
      actor: userId,
      action: 'approval.refused',
      subject: row.id,
      body: { resource: row.resource_id, decision, reason: refusal.kind },
    });
  }
  return refusal;
}
