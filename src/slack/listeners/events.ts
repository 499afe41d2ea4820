import type { App } from '@slack/bolt';
import * as ui from '../blocks/index.ts';
import type { SlackDeps } from '../deps.ts';

/** App Home: drawn when opened, and redrawn by the notifier when anything of the user's changes. */
export function registerEvents(app: App, deps: SlackDeps): void {
  app.event('app_home_opened', async ({ event, client }) => {
    if (event.tab !== 'home') return;
    const [{ grants, requests }, waiting] = await Promise.all([deps.access.holdingsOf(event.user), deps.access.awaitingDecisionPage(event.user)]);
    const view = ui.appHome({ userId: event.user, grants, requests, approvalsWaiting: waiting.requests, approvalsWaitingTotal: waiting.total, now: new Date() });
    await client.views.publish({ user_id: event.user, view });
  });
}
