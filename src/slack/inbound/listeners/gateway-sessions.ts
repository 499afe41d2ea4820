import type { App, BlockButtonAction } from '@slack/bolt';
import { resourceById } from '../../../config/policy.ts';
import * as ui from '../../blocks/index.ts';
import { findSession } from '../../../access/gateway-sessions.ts';
import { shownSession } from '../../gateway-sessions.ts';
import { homeView } from '../../home.ts';
import type { SlackDeps } from '../deps.ts';
import { userOf } from '../ids.ts';

/**
 * End session, on an owner's App Home or on the approval card of the session's request. The
 * access rule decides (only an owner of the session's resource may, and only once); this
 * answers the clicker and redraws the tab they clicked on, where the session then shows as
 * ending. A card is answered under it, and updated once the session has ended.
 */
export function registerGatewaySessions(app: App, deps: SlackDeps): void {
  app.action<BlockButtonAction>(ui.ACTION.endGatewaySession, async ({ ack, body, action, respond, client }) => {
    await ack();
    const userId = userOf(body);
    const sessionId = action.value ?? '';
    const result = await deps.access.endGatewaySession(sessionId, userId);
    const session = result.ok ? result.session : await findSession(deps.access.ctx.db, sessionId);
    const { policy } = deps.policy();
    const owners = session ? (resourceById(policy, session.resource_id)?.owners ?? []) : [];
    const answer = ui.endSessionAnswer(result, sessionId, session ? shownSession(policy, session) : null, owners);
    const fromHome = body.view?.type === 'home';
    if (fromHome) await client.views.publish({ user_id: userId, view: await homeView(deps.access, userId) });
    // On the Home tab, the redrawn tab shows the session ending; anything else is said in the Messages tab.
    if (body.response_url) await respond({ response_type: 'ephemeral', replace_original: false, ...answer });
    else if (!result.ok || !fromHome)
      await client.chat.postMessage({ channel: userId, text: answer.text, blocks: answer.blocks });
  });
}
