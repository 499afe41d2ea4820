import type { HomeView } from '@slack/types';
import type { SlackUserId } from '../access/ids.ts';
import type { AccessService } from '../access/service.ts';
import * as ui from './blocks/index.ts';
import { liveSessionsOwnedBy } from './gateway-sessions.ts';

/** A person's Home tab as it stands now: drawn when opened, and redrawn by the notifier. */
export async function homeView(access: AccessService, userId: SlackUserId): Promise<HomeView> {
  const [{ grants, requests }, waiting, mfa, liveSessions] = await Promise.all([
    access.holdingsOf(userId),
    access.awaitingDecisionPage(userId),
    access.mfa.available ? access.mfa.status(userId) : null,
    liveSessionsOwnedBy(access, userId),
  ]);
  return ui.appHome({
    userId,
    grants,
    requests,
    approvalsWaiting: waiting.requests,
    approvalsWaitingTotal: waiting.total,
    mfa,
    liveSessions,
    now: access.ctx.now(),
  });
}
