import { sendCredentialsOnce } from '../../access/delivery.ts';
import type { Notification } from '../../access/notifications.ts';
import * as ui from '../blocks/index.ts';
import type { Outbound } from './outbound.ts';

type GrantNotice = Extract<
  Notification,
  { kind: 'notify_grant_active' | 'notify_grant_expiring' | 'notify_grant_ended' | 'notify_grant_failing' }
>;

/** A grant active (with any credentials made for it, sent once), ending soon, ended, or failing to provision: its holder hears. */
export async function grantNotice(out: Outbound, n: GrantNotice): Promise<void> {
  const grant = await out.access.findGrant(n.grantId);
  if (!grant) return;
  if (n.kind === 'notify_grant_active') {
    return sendCredentialsOnce(out.access.ctx, grant.id, (credentials) =>
      out.to.dm(grant.userId, ui.accessActiveDM(grant, credentials ?? undefined)),
    );
  }
  const message =
    n.kind === 'notify_grant_expiring'
      ? ui.expiringSoonDM(grant, Math.max(0, (grant.endsAt.getTime() - out.now().getTime()) / 60_000))
      : n.kind === 'notify_grant_ended'
        ? ui.grantEndedDM(grant)
        : ui.provisioningFailingDM(grant);
  await out.to.dm(grant.userId, message);
}
