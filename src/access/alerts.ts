import type { Selectable, Transaction } from 'kysely';
import { appendEvent } from '../audit/append.ts';
import { cut } from '../audit/event.ts';
import type { AlertEnds, AlertSeverity, AlertTable, Database } from '../db/schema.ts';
import { resourceOf, type AccessContext } from './context.ts';
import { beginEnding, revokeClaimed } from './grants.ts';
import { newAlertId, type GrantId, type SlackUserId } from './ids.ts';
import { notify } from './notifications.ts';
import { refuse, type Outcome } from './refusals.ts';
import { LIVE_GRANT_STATUSES } from './types.ts';

export type AlertRow = Selectable<AlertTable>;

/** What a detector found: one incident, named by `incidentKey`, with the events that show it. */
export interface AlertInput {
  /** The detector that fired, snake_case: `refusal_burst`, `db_after_end`. */
  detector: string;
  severity: AlertSeverity;
  /** Names the incident: the same incident found again (a retried round, a second replica) is recorded once. */
  incidentKey: string;
  /** What it is about: a person, a grant, a session or a resource. */
  subject: string;
  userId?: string | null;
  resourceId?: string | null;
  grantId?: string | null;
  sessionId?: string | null;
  /** One line a person reads at a glance, without the person (shown beside it): "Refused 5 times in 10 minutes". */
  title: string;
  /** What happened and what to look at, a sentence or two. */
  detail: string;
  /** Seqs of the events that triggered it, oldest first. */
  evidence: readonly number[];
  /** What End access now ends; by default the grant when there is one, else the person's access, else nothing. */
  ends?: AlertEnds;
  /** More for the record, small (ids a sweep found: it has no events to point at). */
  facts?: Record<string, unknown>;
}

/** Seqs of evidence kept with an alert, and on its event, at most: the first ones and the last. */
export const MAX_EVIDENCE = 100;

/** The evidence within MAX_EVIDENCE: the first seqs and the last one, which made it an incident. */
function keptEvidence(evidence: readonly number[]): number[] {
  if (evidence.length <= MAX_EVIDENCE) return [...evidence];
  return [...evidence.slice(0, MAX_EVIDENCE - 1), evidence.at(-1)!];
}

/** A plain string, at most `max` characters, for the record. */
function field(value: string | null | undefined, max: number): string | null {
  return value === null || value === undefined ? null : cut(value, max);
}

/**
 * Records an alert in the caller's transaction: its row, its `alert.raised` event and its
 * delivery, or nothing when the incident was already recorded. Returns the new alert's id,
 * or null for an incident already known.
 */
export async function raiseAlert(
  trx: Transaction<Database>,
  input: AlertInput,
  actor = 'system',
): Promise<string | null> {
  // Every field is bounded, so the event always fits the log's limit: an alert too big to
  // record would stop the watcher at that event for good.
  const evidence = keptEvidence(input.evidence);
  const ends: AlertEnds = input.ends ?? (input.grantId ? 'grant' : input.userId ? 'person' : 'none');
  const row = {
    incident_key: cut(input.incidentKey, 300),
    detector: cut(input.detector, 50),
    severity: input.severity,
    subject: cut(input.subject, 200),
    user_id: field(input.userId, 50),
    resource_id: field(input.resourceId, 100),
    grant_id: field(input.grantId, 100),
    session_id: field(input.sessionId, 100),
    title: cut(input.title, 300),
    detail: cut(input.detail, 2000),
    ends,
  };
  const facts = input.facts && JSON.stringify(input.facts).length <= 4000 ? input.facts : undefined;
  const inserted = await trx
    .insertInto('alerts')
    .values({ id: newAlertId(), ...row, evidence })
    .onConflict((oc) => oc.column('incident_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!inserted) return null;
  await appendEvent(trx, {
    actor,
    action: 'alert.raised',
    subject: inserted.id,
    body: {
      detector: row.detector,
      severity: row.severity,
      incident: row.incident_key,
      about: row.subject,
      user: row.user_id,
      resource: row.resource_id,
      grant: row.grant_id,
      session: row.session_id,
      title: row.title,
      detail: row.detail,
      ends,
      evidence,
      ...(evidence.length < input.evidence.length ? { evidence_count: input.evidence.length } : {}),
      ...(facts ? { facts } : {}),
    },
  });
  await notify(trx, { kind: 'notify_alert', alertId: inserted.id });
  return inserted.id;
}

export async function findAlert(ctx: AccessContext, alertId: string): Promise<AlertRow | undefined> {
  return ctx.db.selectFrom('alerts').selectAll().where('id', '=', alertId).executeTakeFirst();
}

/**
 * Who is told of an alert and may act on it: the owners of its resource and the security
 * group. An alert about no resource (a spree, an MFA lockout) with no security group set
 * goes to the owners of every resource, so that someone can act on it.
 */
export function respondersOf(ctx: AccessContext, alert: Pick<AlertRow, 'resource_id'>): SlackUserId[] {
  const { policy } = ctx.policy();
  const resource = alert.resource_id ? resourceOf(ctx, alert.resource_id) : undefined;
  const owners =
    resource?.owners ?? (policy.alerts.security.length === 0 ? policy.resources.flatMap((r) => r.owners) : []);
  return [...new Set([...owners, ...policy.alerts.security])].sort();
}

async function refuseAction(
  ctx: AccessContext,
  alertId: string,
  userId: SlackUserId,
  action: 'acknowledge' | 'end_access',
  reason: 'not-responder' | 'about-you' = 'not-responder',
): Promise<void> {
  await ctx.audit.record({ actor: userId, action: 'alert.action_refused', subject: alertId, body: { action, reason } });
}

/** Someone says they have seen an alert: recorded with who and when, every copy of it updated. */
export async function acknowledgeAlert(
  ctx: AccessContext,
  alertId: string,
  userId: SlackUserId,
): Promise<Outcome<{ alert: AlertRow }>> {
  const alert = await findAlert(ctx, alertId);
  if (!alert) return refuse({ kind: 'not-found', id: alertId });
  if (!respondersOf(ctx, alert).includes(userId)) {
    await refuseAction(ctx, alertId, userId, 'acknowledge');
    return refuse({ kind: 'not-alert-responder', action: 'acknowledge' });
  }
  // Acknowledging takes the alert off everyone's list: never by the person it is about.
  if (alert.user_id === userId) {
    await refuseAction(ctx, alertId, userId, 'acknowledge', 'about-you');
    return refuse({ kind: 'alert-about-you' });
  }
  return ctx.audit.transact(async (trx) => {
    const row = await trx
      .updateTable('alerts')
      .set({ acknowledged_by: userId, acknowledged_at: ctx.now() })
      .where('id', '=', alertId)
      .where('acknowledged_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (!row) {
      const current = await trx.selectFrom('alerts').selectAll().where('id', '=', alertId).executeTakeFirstOrThrow();
      return refuse({
        kind: 'alert-already-acknowledged',
        by: current.acknowledged_by ?? userId,
        at: current.acknowledged_at ?? ctx.now(),
      });
    }
    await ctx.audit.append(trx, {
      actor: userId,
      action: 'alert.acknowledged',
      subject: alertId,
      body: { detector: row.detector, severity: row.severity },
    });
    await notify(trx, { kind: 'notify_alert_changed', alertId });
    return { ok: true as const, alert: row };
  });
}

/**
 * An owner or the security group ends the access an alert is about, now: its grant, or the
 * person's live grants (on the alert's resource when it names one). Gateway sessions of
 * those grants are cut at once (their replicas hear the grant change). Recorded, and every
 * copy of the alert updated.
 */
export async function endAccessForAlert(
  ctx: AccessContext,
  alertId: string,
  userId: SlackUserId,
): Promise<Outcome<{ alert: AlertRow; ended: GrantId[] }>> {
  const alert = await findAlert(ctx, alertId);
  if (!alert) return refuse({ kind: 'not-found', id: alertId });
  if (!respondersOf(ctx, alert).includes(userId)) {
    await refuseAction(ctx, alertId, userId, 'end_access');
    return refuse({ kind: 'not-alert-responder', action: 'end_access' });
  }
  const security = ctx.policy().policy.alerts.security.includes(userId);
  const started = await ctx.audit.transact(async (trx) => {
    let query = trx.selectFrom('grants').select(['id', 'resource_id']).where('status', 'in', LIVE_GRANT_STATUSES);
    if (alert.ends === 'grant' && alert.grant_id) query = query.where('id', '=', alert.grant_id);
    else if (alert.ends === 'person' && alert.user_id) {
      query = query.where('user_id', '=', alert.user_id);
      if (alert.resource_id) query = query.where('resource_id', '=', alert.resource_id);
    } else return refuse({ kind: 'alert-nothing-to-end', alert });
    // An owner ends access to what they own; the security group, to anything.
    const owned = (await query.execute())
      .filter((g) => security || resourceOf(ctx, g.resource_id)?.owners.includes(userId))
      .map((g) => g.id);
    if (owned.length === 0) return refuse({ kind: 'alert-nothing-to-end', alert });
    const moved = await beginEnding(ctx, trx, owned, 'revoked', userId);
    // Another click or the expiry sweep moved them first: they are on their way out, and
    // this click ended nothing, so nothing is recorded as ended by it.
    if (moved.length === 0) return { ok: true as const, alert, moved };
    const row = await trx
      .updateTable('alerts')
      .set({ access_ended_by: userId, access_ended_at: ctx.now() })
      .where('id', '=', alertId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await ctx.audit.append(trx, {
      actor: userId,
      action: 'alert.access_ended',
      subject: alertId,
      body: { detector: row.detector, grants: moved.map((g) => g.id) },
    });
    await notify(trx, { kind: 'notify_alert_changed', alertId });
    return { ok: true as const, alert: row, moved };
  });
  if (!started.ok) return started;
  for (const claimed of started.moved) await revokeClaimed(ctx, claimed);
  return { ok: true, alert: started.alert, ended: started.moved.map((g) => g.id) };
}

/** Where an alert's messages are, to update them. */
export async function alertMessages(ctx: AccessContext, alertId: string): Promise<{ channel: string; ts: string }[]> {
  return ctx.db.selectFrom('alert_messages').select(['channel', 'ts']).where('alert_id', '=', alertId).execute();
}
