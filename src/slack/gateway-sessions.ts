import { liveSessions, type GatewaySessionRow } from '../access/gateway-sessions.ts';
import type { SlackUserId } from '../access/ids.ts';
import type { AccessService } from '../access/service.ts';
import type { AccessRequest } from '../access/types.ts';
import type { Db } from '../db/database.ts';
import { resourceById, type Policy, type ResourcePolicy } from '../config/policy.ts';
import { gatewayConfigOf } from '../provisioners/postgres-gateway.ts';
import type { ShownSession } from './blocks/index.ts';

/** Gateway sessions as the Slack surfaces show them; the access rules find, list and end them. */

/** A session with its resource's name under the policy in force (its id, when the policy no longer lists it). */
export function shownSession(policy: Policy, session: GatewaySessionRow): ShownSession {
  const resource = resourceById(policy, session.resource_id);
  return { session, resource: { id: session.resource_id, name: resource?.name ?? session.resource_id } };
}

const throughGateway = (resource: ResourcePolicy): boolean => gatewayConfigOf(resource.provisioner) !== null;

/**
 * The live sessions on the resources `userId` owns, for their App Home; null when they own
 * no resource reached through the gateway and none of theirs has a session.
 */
export async function liveSessionsOwnedBy(access: AccessService, userId: SlackUserId): Promise<ShownSession[] | null> {
  const { policy } = access.ctx.policy();
  const owned = policy.resources.filter((resource) => resource.owners.includes(userId));
  if (owned.length === 0) return null;
  const sessions = await liveSessions(
    access.ctx.db,
    owned.map((resource) => resource.id),
  );
  if (sessions.length === 0 && !owned.some(throughGateway)) return null;
  return sessions.map((session) => shownSession(policy, session));
}

/**
 * The live sessions of the grant a request was approved into, for its approval cards: the
 * access rules' live sessions of its resource (their liveness rule), those of that grant.
 */
export async function liveSessionsOfRequest(
  db: Db,
  policy: Policy,
  request: Pick<AccessRequest, 'id' | 'resourceId' | 'status'>,
): Promise<ShownSession[]> {
  if (request.status !== 'approved') return [];
  const grants = await db.selectFrom('grants').select('id').where('request_id', '=', request.id).execute();
  if (grants.length === 0) return [];
  const ofGrant = new Set<string>(grants.map((grant) => grant.id));
  const sessions = await liveSessions(db, [request.resourceId]);
  return sessions.filter((session) => ofGrant.has(session.grant_id)).map((session) => shownSession(policy, session));
}
