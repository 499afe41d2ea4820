import type { AnyMiddlewareArgs, Middleware, RespondFn } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { isDatabaseUnavailable } from '../../db/errors.ts';
import type { Logger } from '../../log.ts';
import * as ui from '../blocks/index.ts';
import { describeSlackError } from '../slack-errors.ts';

/** The code of an error from a Web API call, or from respond(). */
const SLACK_ERROR = /^slack_(webapi_|bolt_respond_error)/;

/** What kind of failure `err` is, for the words the person sees. */
export function classifyFailure(err: unknown): ui.Failure {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && SLACK_ERROR.test(code)) return { kind: 'slack', error: describeSlackError(err) };
  if (isDatabaseUnavailable(err)) return { kind: 'database' };
  return { kind: 'other' };
}

/** The parts of a request's arguments an answer needs, whatever its kind. */
interface Incoming {
  body: {
    type?: string;
    user_id?: string;
    user?: { id?: string };
    command?: string;
    response_url?: string;
    view?: { callback_id?: string; blocks?: { type?: string; block_id?: string }[] };
    event?: { type?: string; user?: string; tab?: string };
  };
  ack?: (response?: unknown) => Promise<void>;
  respond?: RespondFn;
  client: WebClient;
}

/** The field a form shows a failure on when its blocks are not in the submission. */
const FIELD_OF_VIEW: Record<string, string> = {
  [ui.VIEW.requestModal]: ui.REQUEST_MODAL.resource.block,
  [ui.VIEW.denyModal]: ui.DENY_MODAL.reason.block,
  [ui.VIEW.mfaModal]: ui.MFA_MODAL.code.block,
};

function personOf(body: Incoming['body']): string | undefined {
  return body.user_id ?? body.user?.id ?? body.event?.user;
}

/**
 * Tells the person, on the surface they used: under the command or the clicked message
 * (ephemeral), on the form (a field error; the form stays open), in the Home tab, or
 * else by direct message.
 */
async function answer({ body, ack, respond, client }: Incoming, failure: ui.Failure): Promise<void> {
  const message = ui.failureMessage(failure);
  const userId = personOf(body);
  if (body.type === 'view_submission') {
    // Form listeners ack last, with their outcome: a failure comes before it.
    const field =
      body.view?.blocks?.find((block) => block.type === 'input')?.block_id ??
      FIELD_OF_VIEW[body.view?.callback_id ?? ''];
    try {
      if (field && ack)
        return await ack({ response_action: 'errors', errors: { [field]: ui.truncate(message.text, 2000) } });
      await ack?.();
    } catch {
      // Already acked: the form closed, so the answer goes by direct message.
    }
  } else if (body.type === 'event_callback') {
    if (body.event?.type === 'app_home_opened' && body.event.tab === 'home' && userId) {
      await client.views.publish({ user_id: userId, view: ui.failureHome(failure) });
    }
    return;
  } else if (body.response_url && respond) {
    return void (await respond({ response_type: 'ephemeral', replace_original: false, ...message }));
  }
  if (userId) await client.chat.postMessage({ channel: userId, text: message.text, blocks: message.blocks });
}

/**
 * Global middleware around every listener: a listener that fails (the database gone, Slack
 * refusing a call, a bug) is logged once and the person is told, instead of Slack's silence
 * after the ack. The domain commits each intent in one transaction, so "nothing was
 * recorded" holds when the database is what failed.
 */
export function answerFailures(log: Logger): Middleware<AnyMiddlewareArgs> {
  return async (args) => {
    try {
      await args.next();
    } catch (err) {
      const incoming = args as unknown as Incoming;
      const failure = classifyFailure(err);
      const userId = personOf(incoming.body);
      log.error(
        { err, failure: failure.kind, userId, surface: incoming.body.type ?? 'slash_command' },
        'a Slack listener failed; telling the person',
      );
      try {
        await answer(incoming, failure);
      } catch (answerErr) {
        log.error({ err: answerErr, userId }, 'could not tell the person that what they asked failed');
      }
    }
  };
}
