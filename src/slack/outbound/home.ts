import type { SlackUserId } from '../../access/ids.ts';
import { homeView } from '../home.ts';
import type { Outbound } from './outbound.ts';

/** Publishes a person's Home tab as it stands now. */
export async function publishHome(out: Outbound, userId: SlackUserId): Promise<void> {
  await out.client.views.publish({ user_id: userId, view: await homeView(out.access, userId) });
}
