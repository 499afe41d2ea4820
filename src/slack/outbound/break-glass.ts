import type { GrantId } from '../../access/ids.ts';
import type { Notification } from '../../access/notifications.ts';
import { resourceById } from '../../config/policy.ts';
import * as ui from '../blocks/index.ts';
import { describeSlackError, MESSAGE_GONE } from '../slack-errors.ts';
import type { Outbound } from './outbound.ts';
import { postToEach } from './post-to-each.ts';
import { RECURRING_DAYS } from '../../access/contracts.ts';

/**
 * Break-glass access was taken: its alert goes to the audit channel and by direct message
 * to every owner (but the holder) and the security group, each post recorded in
 * break_glass_messages. A retry posts only where it has not been posted yet; one
 * destination failing does not hold back the others (the first failure is thrown after,
 * so the rest is retried). Copies posted while it changed are set to the state of now.
 */
export async function breakGlassTaken(out: Outbound, grantId: GrantId): Promise<void> {
  const bg = await out.access.findBreakGlass(grantId);
  if (!bg) {
    out.log.warn({ grantId }, 'a break-glass grant to announce is not on record; nothing to post');
    return;
  }
  const posted = new Set((await out.access.breakGlassMessages(grantId)).map((m) => m.channel));
  const message = ui.breakGlassMessage(bg);
  await postToEach(out, {
    destinations: [
      { channel: async () => out.policy().policy.auditChannel },
      ...out.access.breakGlassRecipients(bg).map((userId) => ({ userId, channel: () => out.to.dmChannel(userId) })),
    ],
    message,
    posted,
    record: async (channel, ts) => {
      await out.db
        .insertInto('break_glass_messages')
        .values({ grant_id: grantId, channel, ts })
        .onConflict((oc) => oc.doNothing())
        .execute();
    },
    what: 'a break-glass alert',
    about: { grantId },
  });
  const now = await out.access.findBreakGlass(grantId);
  if (now && (now.status !== bg.status || now.ratifiedBy.length !== bg.ratifiedBy.length || posted.size > 0))
    await breakGlassChanged(out, grantId);
}

/** Ratified, revoked, or revoked unratified: every copy is set to the state of now. */
export async function breakGlassChanged(out: Outbound, grantId: GrantId): Promise<void> {
  const bg = await out.access.findBreakGlass(grantId);
  if (!bg) return;
  const message = ui.breakGlassMessage(bg);
  for (const { channel, ts } of await out.access.breakGlassMessages(grantId)) {
    try {
      await out.client.chat.update({ channel, ts, text: message.text, blocks: message.blocks });
    } catch (err) {
      if (!MESSAGE_GONE.has(describeSlackError(err))) throw err;
      out.log.warn(
        { err: describeSlackError(err), grantId, channel, ts },
        'a copy of a break-glass alert is gone; not updated',
      );
    }
  }
}

/**
 * A contract ends within a week: each owner of a resource the person keeps being granted
 * hears, by direct message, what is recurring on what they own. A retry may send an owner
 * the notice twice; it is never lost.
 */
export async function contractEnding(
  out: Outbound,
  n: Extract<Notification, { kind: 'notify_contract_ending' }>,
): Promise<void> {
  const { policy } = out.policy();
  const owners = [...new Set(n.recurring.flatMap((r) => r.owners))].sort();
  for (const owner of owners) {
    const theirs = n.recurring
      .filter((r) => r.owners.includes(owner))
      .map((r) => ({
        resource: { id: r.resource, name: resourceById(policy, r.resource)?.name ?? r.resource },
        grants: r.grants,
        lastStartedAt: new Date(r.lastStartedAt),
      }));
    await out.to.dm(owner, ui.contractEndingDM(n.userId, n.written, new Date(n.endsAt), RECURRING_DAYS, theirs));
  }
}
