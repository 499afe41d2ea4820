import { sql } from 'kysely';
import type { AlertRow } from '../../access/alerts.ts';
import { resourceById } from '../../config/policy.ts';
import type { Db } from '../../db/database.ts';
import * as ui from '../blocks/index.ts';
import { describeSlackError } from '../slack-errors.ts';
import type { Outbound } from './outbound.ts';

/**
 * An alert: posted to the alert channel (the audit channel unless the policy names one) and
 * to each responder by direct message, every post recorded in alert_messages. A retry after
 * a partial failure posts only where it has not been posted yet. One destination failing
 * does not hold back the others; the first failure is then thrown, so the rest is retried.
 * A rate limit stops the round at once, as Slack asks.
 */
export async function alertRaised(out: Outbound, alertId: string): Promise<void> {
  const alert = await out.access.findAlert(alertId);
  if (!alert) {
    out.log.warn({ alertId }, 'an alert to post is not on record; nothing to post');
    return;
  }
  const { policy } = out.policy();
  const posted = new Set((await out.access.alertMessages(alertId)).map((m) => m.channel));
  const message = ui.alertMessage(await shownAlert(out, alert));
  const destinations: { userId?: string; channel: () => Promise<string> }[] = [
    { channel: async () => policy.alerts.channel ?? policy.auditChannel },
    ...out.access.alertResponders(alert).map((userId) => ({ userId, channel: () => out.to.dmChannel(userId) })),
  ];
  let failure: unknown = null;
  for (const destination of destinations) {
    try {
      const channel = await destination.channel();
      if (posted.has(channel)) continue;
      const result = await out.client.chat.postMessage({
        channel,
        text: message.text,
        blocks: message.blocks,
        unfurl_links: false,
      });
      await out.db
        .insertInto('alert_messages')
        .values({ alert_id: alertId, channel: result.channel ?? channel, ts: result.ts! })
        .onConflict((oc) => oc.doNothing())
        .execute();
    } catch (err) {
      if (typeof (err as { retryAfter?: unknown }).retryAfter === 'number') throw err;
      out.log.warn(
        { err: describeSlackError(err), alertId, userId: destination.userId },
        'could not post an alert to one of its destinations; the others go on, and it is retried',
      );
      failure ??= err;
    }
  }
  if (failure) throw failure;
  // Acknowledged or ended while the copies were posted: those rendered before are set to the new state.
  const now = await out.access.findAlert(alertId);
  if (
    now &&
    (stamp(now.acknowledged_at) !== stamp(alert.acknowledged_at) ||
      stamp(now.access_ended_at) !== stamp(alert.access_ended_at))
  )
    await updateCopies(out, now);
}

/** An alert acknowledged or its access ended: every copy of it is set to its current state. */
export async function alertChanged(out: Outbound, alertId: string): Promise<void> {
  const alert = await out.access.findAlert(alertId);
  if (!alert) {
    out.log.warn({ alertId }, 'an alert said to have changed is not on record; nothing to update');
    return;
  }
  await updateCopies(out, alert);
}

const stamp = (date: Date | null) => date?.getTime() ?? null;

/** Errors of a message deleted (or no longer the bot's to edit): retrying cannot bring it back. */
const MESSAGE_GONE = new Set(['message_not_found', 'cant_update_message']);

async function updateCopies(out: Outbound, alert: AlertRow): Promise<void> {
  const message = ui.alertMessage(await shownAlert(out, alert));
  for (const { channel, ts } of await out.access.alertMessages(alert.id)) {
    try {
      await out.client.chat.update({ channel, ts, text: message.text, blocks: message.blocks });
    } catch (err) {
      if (!MESSAGE_GONE.has(describeSlackError(err))) throw err;
      out.log.warn(
        { err: describeSlackError(err), alertId: alert.id, channel, ts },
        'a copy of an alert is gone; not updated',
      );
    }
  }
}

/** The alert with its resource's name and its evidence linked to the audit channel where the feed has posted it. */
async function shownAlert(out: Outbound, alert: AlertRow): Promise<ui.ShownAlert> {
  // bigint[] comes back from pg as strings.
  const seqs = alert.evidence.map(Number);
  const posts = await auditPostsOf(out.db, seqs.slice(0, ui.MAX_EVIDENCE_SHOWN));
  const resource = alert.resource_id
    ? { id: alert.resource_id, name: resourceById(out.policy().policy, alert.resource_id)?.name ?? alert.resource_id }
    : null;
  return { alert, resource, evidence: seqs.map((seq) => ({ seq, post: posts.get(seq) ?? null })) };
}

/** For each seq, the audit feed's post that shows it (`first_seq <= seq <= last_seq`), when one is on record. */
export async function auditPostsOf(db: Db, seqs: readonly number[]): Promise<Map<number, ui.ChannelPost>> {
  if (seqs.length === 0) return new Map();
  // The first post ending at or after each seq (an index lookup on last_seq) is the one, if it starts before it.
  const { rows } = await sql<{ seq: number; channel: string; ts: string }>`
    select s.seq, p.channel, p.ts
      from unnest(${[...seqs]}::bigint[]) as s (seq)
      join lateral (
        select first_seq, channel, ts from audit_channel_posts
         where last_seq >= s.seq
         order by last_seq
         limit 1
      ) p on p.first_seq <= s.seq`.execute(db);
  return new Map(rows.map((row) => [Number(row.seq), { channel: row.channel, ts: row.ts }]));
}
