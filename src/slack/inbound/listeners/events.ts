import type { App } from '@slack/bolt';
import { asSlackUserId } from '../../../access/ids.ts';
import type { SlackDeps } from '../deps.ts';
import { homeView } from '../../home.ts';

/** App Home: drawn when opened, and redrawn by the notifier when anything of the user's changes. */
export function registerEvents(app: App, deps: SlackDeps): void {
  app.event('app_home_opened', async ({ event, client }) => {
    if (event.tab !== 'home') return;
    const view = await homeView(deps.access, asSlackUserId(event.user));
    await client.views.publish({ user_id: event.user, view });
  });
}
