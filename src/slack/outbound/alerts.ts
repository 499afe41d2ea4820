import { sql } from 'kysely';
import type { AlertRow } from '../../access/alerts.ts';
import { resourceById } from '../../config/policy.ts';
import type { Db } from '../../db/database.ts';
import { queueOnceAt } from '../../outbox/outbox.ts';
import * as ui from '../blocks/index.ts';
import { describeSlackError, MESSAGE_GONE } from '../slack-errors.ts';
import type { Outbound } from './outbound.ts';
import { postToEach } from './post-to-each.ts';

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
  const shown = await shownAlert(out, alert);
  const message = ui.alertMessage(shown);
  await postToEach(out, {
    destinations: [
      { channel: async () => policy.alerts.channel ?? policy.auditChannel },
      ...out.access.alertResponders(alert).map((userId) => ({ userId, channel: () => out.to.dmChannel(userId) })),
    ],
    message,
    posted,
    record: async (channel, ts) => {
      await out.db
        .insertInto('alert_messages')
        .values({ alert_id: alertId, channel, ts })
        .onConflict((oc) => oc.doNothing())
        .execute();
    },
    what: 'an alert',
    about: { alertId },
  });
  const now = await out.access.findAlert(alertId);
  // Copies posted by an earlier attempt show the state it rendered, which may have moved on
  // (acknowledged or ended, its change delivered before they were on record); this
  // attempt's, if it changed while they were posted. Then every copy is set to the current state.
  if (now && (posted.size > 0 || changed(alert, now))) await linkLater(out, now, await updateCopies(out, now));
  else await linkLater(out, alert, unlinkedOf(shown));
}

const changed = (before: AlertRow, now: AlertRow) =>
  stamp(now.acknowledged_at) !== stamp(before.acknowledged_at) ||
  stamp(now.access_ended_at) !== stamp(before.access_ended_at);

/** How long after an alert is raised its copies wait for the audit feed to post its evidence, at most. */
const LINK_WITHIN_MS = 5 * 60_000;
const LINK_FIRST_MS = 3000;
const LINK_LONGEST_MS = 60_000;

/**
 * How long until the copies are set again, `elapsedMs` after the alert was raised: 3 s,
 * then 6, 12, 24… (looks at 3, 9, 21, 45 s), at most a minute apart. Taken from the time
 * since the raise, not from a count, so every delivery that asks gets the same answer.
 */
function linkRetryMs(elapsedMs: number): number {
  let delay = LINK_FIRST_MS;
  while (delay <= elapsedMs && delay < LINK_LONGEST_MS) delay *= 2;
  return Math.min(delay, LINK_LONGEST_MS);
}

/**
 * The watcher usually raises an alert before the audit feed (about one post a second) has
 * posted the events it was raised from: then the copies show the seqs, and are set again
 * later with links, backing off, until every link is there or the feed is long behind.
 * One look is queued per alert at a time: an Acknowledge or End access now delivered
 * meanwhile does not start another.
 */
async function linkLater(out: Outbound, alert: AlertRow, unlinked: readonly number[]): Promise<void> {
  const now = out.now();
  const elapsed = now.getTime() - alert.raised_at.getTime();
  const delay = linkRetryMs(elapsed);
  if (unlinked.length === 0 || elapsed + delay > LINK_WITHIN_MS) return;
  // The feed posts about a hundred events a second: evidence it cannot reach within the
  // window (a busy gateway leaves it far behind) is not waited for.
  const feed = await out.db.selectFrom('audit_channel_state').select('posted_seq').executeTakeFirst();
  if (feed && Math.min(...unlinked) - feed.posted_seq > FEED_REACH) return;
  await queueOnceAt(
    out.db,
    'notify_alert_changed',
    { alertId: alert.id, unlinked: unlinked.length },
    'alertId',
    new Date(now.getTime() + delay),
  );
}

/** Events the audit feed can post within the link window, about. */
const FEED_REACH = 25_000;

/**
 * An alert acknowledged or its access ended: every copy of it is set to its current state.
 * A look for evidence links (`unlinkedBefore`: how many were unlinked when it was queued)
 * sets the copies only when the feed has linked more of them since.
 */
export async function alertChanged(out: Outbound, alertId: string, unlinkedBefore?: number): Promise<void> {
  const alert = await out.access.findAlert(alertId);
  if (!alert) {
    out.log.warn({ alertId }, 'an alert said to have changed is not on record; nothing to update');
    return;
  }
  if (unlinkedBefore !== undefined) {
    const unlinked = unlinkedOf(await shownAlert(out, alert));
    if (unlinked.length >= unlinkedBefore) return linkLater(out, alert, unlinked);
  }
  await linkLater(out, alert, await updateCopies(out, alert));
}

const stamp = (date: Date | null) => date?.getTime() ?? null;

/** Sets every copy to the alert's current state; returns the evidence seqs shown without a link. */
async function updateCopies(out: Outbound, alert: AlertRow): Promise<number[]> {
  const shown = await shownAlert(out, alert);
  const message = ui.alertMessage(shown);
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
  return unlinkedOf(shown);
}

const unlinkedOf = (shown: ui.ShownAlert): number[] =>
  shown.evidence
    .slice(0, ui.MAX_EVIDENCE_SHOWN)
    .filter((e) => e.post === null)
    .map((e) => e.seq);

/** The alert with its resource's name and its evidence linked to the audit channel where the feed has posted it. */
async function shownAlert(out: Outbound, alert: AlertRow): Promise<ui.ShownAlert> {
  const seqs = alert.evidence;
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
