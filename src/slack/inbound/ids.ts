import {
  asGrantId,
  asRequestId,
  asSlackUserId,
  type GrantId,
  type RequestId,
  type SlackUserId,
} from '../../access/ids.ts';

/**
 * The ids a Slack payload carries, typed where they arrive (src/db/ids.ts). Nothing is
 * checked here: the access rules look each id up and refuse one that names nothing.
 */

/** Who clicked, submitted or opened: `body.user.id` of an action, a view submission, an event. */
export const userOf = (body: { user: { id: string } }): SlackUserId => asSlackUserId(body.user.id);

/** A button's request id, which travels in its `value`. */
export const requestIdIn = (button: { value?: string }): RequestId => asRequestId(button.value ?? '');

/** A button's grant id, which travels in its `value`. */
export const grantIdIn = (button: { value?: string }): GrantId => asGrantId(button.value ?? '');

/** Who ran a slash command. */
export const commandUser = (command: { user_id: string }): SlackUserId => asSlackUserId(command.user_id);
