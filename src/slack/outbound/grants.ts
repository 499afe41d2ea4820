import { sendCredentialsOnce } from '../../access/delivery.ts';
import type { Notification } from '../../access/notifications.ts';
import * as ui from '../blocks/index.ts';
import type { Outbound } from './outbound.ts';
import { refreshMessagesAbout } from '../person-messages.ts';
import { sendToPerson } from './person-dms.ts';

type GrantNotice = Extract<
  Notification,
  {
    kind:
      | 'notify_grant_active'
      | 'notify_grant_expiring'
      | 'notify_grant_ended'
      | 'notify_grant_failing'
      | 'notify_grant_changed';
  }
>;

/**
 * A grant active (with any login made for it, sent once, in a message of its own), ending
 * soon, ended, or failing: its holder hears, and the messages already sent about it and its
 * request are set to where it stands now.
 */
export async function grantNotice(out: Outbound, n: GrantNotice): Promise<void> {
  const grant = await out.access.findGrant(n.grantId);
  if (!grant) return;
  const subject = { grantId: grant.id };
  await refreshMessagesAbout(out, subject);
  switch (n.kind) {
    case 'notify_grant_active': {
      const pendingExtension = await out.access.pendingExtensionOf(grant.id);
      await sendToPerson(out, grant.userId, 'grant', subject, ui.accessActiveDM(grant, { pendingExtension }));
      return sendCredentialsOnce(out.access.ctx, grant.id, async (credentials) => {
        if (credentials) await sendToPerson(out, grant.userId, 'credentials', subject, ui.loginDM(grant, credentials));
      });
    }
    case 'notify_grant_expiring': {
      // Warned, then extended before this went out: the extension's messages said it; nothing is ending.
      if (grant.status !== 'active' || !grant.warnedAt) return;
      const minutesLeft = Math.max(0, (grant.endsAt.getTime() - out.now().getTime()) / 60_000);
      const pendingExtension = await out.access.pendingExtensionOf(grant.id);
      return sendToPerson(
        out,
        grant.userId,
        'expiring',
        subject,
        ui.expiringSoonDM(grant, minutesLeft, { pendingExtension }),
      );
    }
    case 'notify_grant_ended':
      await out.to.dm(grant.userId, ui.grantEndedDM(grant));
      return;
    case 'notify_grant_failing':
      return sendToPerson(out, grant.userId, 'failing', subject, ui.provisioningFailingDM(grant));
    case 'notify_grant_changed':
      return;
  }
}
