import type { App, BlockButtonAction } from '@slack/bolt';
import { asSlackUserId } from '../../../access/ids.ts';
import { decideReviewItem } from '../../../access/reviews-decide.ts';
import * as ui from '../../blocks/index.ts';
import { answerClicker } from '../answer-clicker.ts';
import type { SlackDeps } from '../deps.ts';
import { userOf } from '../ids.ts';

/**
 * Keep and Remove on an access review. The access rules decide (owners only, once per
 * person: a second click or a second owner is told who decided already; a stranger is told
 * who may, on the record); every copy of the review is updated through the outbox.
 */
export function registerReviews(app: App, deps: SlackDeps): void {
  for (const [actionId, decision] of [
    [ui.ACTION.reviewKeep, 'keep'],
    [ui.ACTION.reviewRemove, 'remove'],
  ] as const) {
    app.action<BlockButtonAction>(actionId, async ({ ack, body, action, respond, client }) => {
      await ack();
      const { reviewId, person } = ui.parseReviewButtonValue(action.value);
      const outcome = await decideReviewItem(deps.access.ctx, reviewId, asSlackUserId(person), decision, userOf(body));
      await answerClicker({ body, respond, client }, ui.reviewDecisionAnswer(outcome));
    });
  }
}
