import type { GrantId, RequestId, SlackUserId } from '../../access/ids.ts';
import { grantToExtend, requesterHistory } from '../../access/history.ts';
import type { AccessRequest } from '../../access/types.ts';
import { resourceById } from '../../config/policy.ts';
import * as ui from '../blocks/index.ts';
import { liveSessionsOfRequest } from '../gateway-sessions.ts';
import { describeSlackError, MESSAGE_GONE } from '../slack-errors.ts';
import type { Outbound } from './outbound.ts';
import { refreshMessagesAbout } from '../person-messages.ts';
import { sendToPerson } from './person-dms.ts';

/**
 * A new request: an approval card to the resource's approval channel, or to each owner by
 * direct message, and a word to the requester. Cards already posted (an earlier try) are
 * recorded and not posted again; a request decided meanwhile only has its cards updated.
 */
export async function requestSubmitted(out: Outbound, requestId: RequestId): Promise<void> {
  const request = await mustRequest(out, requestId);
  if (request.status !== 'pending') return updateCards(out, request);
  const resource = resourceById(out.policy().policy, request.resourceId);
  const owners = out.access.approversOf(request);
  const posted = await out.db
    .selectFrom('approval_cards')
    .select(['owner', 'channel'])
    .where('request_id', '=', requestId)
    .execute();
  const card = await cardOf(out, request);
  if (resource?.approvalChannel) {
    if (!posted.some((p) => p.channel === resource.approvalChannel))
      await postCard(out, request, resource.approvalChannel, null, card);
  } else {
    for (const owner of owners) {
      if (posted.some((p) => p.owner === owner)) continue;
      await postCard(out, request, await out.to.dmChannel(owner), owner, card);
    }
  }
  await sendToPerson(out, request.requester, 'request', { requestId }, ui.sentToApprovers(request, owners.length));
  // An extension waiting shows on the messages of the grant it extends (no second Extend there).
  if (request.extendsGrantId) await refreshMessagesAbout(out, { grantId: request.extendsGrantId });
}

/** An approval that was not yet enough: the cards show who approved. */
export async function requestProgress(out: Outbound, requestId: RequestId): Promise<void> {
  await updateCards(out, await mustRequest(out, requestId));
  await refreshMessagesAbout(out, { requestId });
}

/** A request approved, denied or expired: the cards say so, and the requester hears. */
export async function requestDecided(out: Outbound, requestId: RequestId): Promise<void> {
  const request = await mustRequest(out, requestId);
  await updateCards(out, request);
  // The requester's messages about it (and about the grant it extends) stop offering what no longer applies.
  await refreshMessagesAbout(out, { requestId });
  if (request.status === 'approved') {
    const grant = await out.access.grantOfRequest(request);
    if (grant) await sendToPerson(out, request.requester, 'approved', { requestId }, ui.approvedDM(request, grant));
  } else if (request.status === 'denied') {
    await out.to.dm(request.requester, ui.deniedDM(request));
  } else if (request.status === 'expired') {
    await out.to.dm(request.requester, ui.requestExpiredDM(request));
  }
}

/** Each owner who has not approved yet hears again, by DM. */
export async function remindOwners(out: Outbound, requestId: RequestId): Promise<void> {
  const request = await mustRequest(out, requestId);
  if (request.status !== 'pending') return;
  const approved = new Set(request.approvals.map((a) => a.approver));
  for (const owner of out.access.approversOf(request)) {
    if (approved.has(owner)) continue;
    await out.to.dm(owner, ui.ownerReminderDM(request));
  }
}

async function postCard(
  out: Outbound,
  request: AccessRequest,
  channel: string,
  owner: SlackUserId | null,
  card: ui.Message,
): Promise<void> {
  const result = await out.client.chat.postMessage({ channel, text: card.text, blocks: card.blocks });
  await out.db
    .insertInto('approval_cards')
    .values({ request_id: request.id, channel: result.channel ?? channel, ts: result.ts!, owner })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/**
 * The card as it stands now: the request's state, who asks (by name when Slack gives it)
 * and what they had of the resource before, who may decide, the grant an extension would
 * move, and the live gateway sessions of its grant. A name Slack cannot give is left out:
 * the card is posted with the mention alone rather than not at all.
 */
async function cardOf(out: Outbound, request: AccessRequest): Promise<ui.Message> {
  const requesterName = async () => {
    try {
      const { realName: full, displayName: display } = await out.to.nameOf(request.requester);
      // The mention shows the display name (the full name when there is none): the full name is added when it differs.
      return full && display && full.toLowerCase() !== display.toLowerCase() ? full : undefined;
    } catch (err) {
      out.log.warn({ err: describeSlackError(err), userId: request.requester }, 'no name for an approval card');
      return undefined;
    }
  };
  const extended = request.extendsGrantId ? grantToExtend(out.access.ctx, request.extendsGrantId) : undefined;
  const [liveSessions, name, history, grant] = await Promise.all([
    liveSessionsOfRequest(out.db, out.policy().policy, request),
    requesterName(),
    requesterHistory(out.access.ctx, request.requester, request.resourceId, {
      before: request.createdAt,
      excludeRequestId: request.id,
      excludeGrantId: request.extendsGrantId,
    }),
    extended,
  ]);
  const now = out.now().getTime();
  const extendedGrant =
    grant === undefined
      ? undefined
      : grant && {
          originalReason: grant.originalReason,
          startsAt: grant.startsAt,
          endsAt: grant.over ? (grant.endedAt ?? grant.endsAt) : grant.endsAt,
          heldMs: (grant.endedAt?.getTime() ?? Math.min(now, grant.endsAt.getTime())) - grant.startsAt.getTime(),
          ended: grant.over,
        };
  return ui.approvalCard(request, {
    viewerIsApprover: true,
    liveSessions,
    history,
    approvers: out.access.approversOf(request),
    ...(name ? { requesterName: name } : {}),
    ...(extendedGrant !== undefined ? { extendedGrant } : {}),
  });
}

/**
 * Sets every owner's card to the request's current state: who decided, when, who is
 * connected with its grant. A card deleted meanwhile is logged and skipped, so that it
 * cannot hold back what follows (the requester's DM, a session's summary) forever.
 */
async function updateCards(out: Outbound, request: AccessRequest): Promise<void> {
  const cards = await out.db
    .selectFrom('approval_cards')
    .select(['channel', 'ts'])
    .where('request_id', '=', request.id)
    .execute();
  const card = await cardOf(out, request);
  for (const { channel, ts } of cards) {
    try {
      await out.client.chat.update({ channel, ts, text: card.text, blocks: card.blocks });
    } catch (err) {
      if (!MESSAGE_GONE.has(describeSlackError(err))) throw err;
      out.log.warn(
        { err: describeSlackError(err), requestId: request.id, channel, ts },
        'an approval card is gone; not updated',
      );
    }
  }
}

/** The cards of the request a grant was approved from, set to its current state (a gateway session began or ended). */
export async function updateCardsOfGrant(out: Outbound, grantId: GrantId): Promise<void> {
  const grant = await out.db.selectFrom('grants').select('request_id').where('id', '=', grantId).executeTakeFirst();
  if (!grant) {
    out.log.warn({ grantId }, 'a gateway session names a grant not on record; no card to update');
    return;
  }
  await updateCards(out, await mustRequest(out, grant.request_id));
}

async function mustRequest(out: Outbound, id: RequestId): Promise<AccessRequest> {
  const request = await out.access.findRequest(id);
  if (!request) throw new Error(`request ${id} not found`);
  return request;
}
