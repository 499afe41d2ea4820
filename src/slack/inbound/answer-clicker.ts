import type { AllMiddlewareArgs, BlockButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import type { Message } from '../blocks/kit.ts';

/** What a button's listener has to answer the person who pressed it. */
export type Click = Pick<
  SlackActionMiddlewareArgs<BlockButtonAction> & AllMiddlewareArgs,
  'body' | 'respond' | 'client'
>;

/**
 * Said to the person who pressed a button, and to no one else: as an ephemeral under the
 * message, or, from the App Home (whose clicks come without a response_url, so Bolt gives
 * no respond()), in the bot's Messages tab.
 */
export async function answerClicker({ body, respond, client }: Click, message: Message): Promise<void> {
  if (body.response_url) await respond({ response_type: 'ephemeral', replace_original: false, ...message });
  else await client.chat.postMessage({ channel: body.user.id, text: message.text, blocks: message.blocks });
}
