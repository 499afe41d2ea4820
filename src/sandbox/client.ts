import type { FakeSlack } from './fake-slack/fake-slack.ts';
import type { SlackDriver, StateValues } from './fake-slack/driver.ts';

/** Where a button was clicked: a message (an ephemeral one too), or a modal or Home tab. */
export type Surface = { message: { channel: string; ts: string; ephemeral?: boolean } } | { viewId: string };

export interface Click {
  userId: string;
  actionId: string;
  value?: string;
  blockId?: string;
  surface: Surface;
  /** The inputs of the view at the time of the click. */
  values?: StateValues;
}

/** What a submission did to the modal: closed it, or left it open (with errors by block_id, or redrawn or pushed). */
export type SubmitOutcome = { closed: true } | { closed: false; errors: Record<string, string> };

export interface CommandHint {
  command: string;
  description: string;
  usageHint?: string;
}

/** Slack's words when an app does not answer an interaction in time or answers with an error. */
const dispatchFailed = (what: string, status: number) =>
  `${what} failed with the error "dispatch_failed" (the app answered HTTP ${status}).`;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * What Slack's own client does for a person: turns what they type and click into signed
 * requests to the app (through the driver), and shows the app's acks the way Slack does.
 */
export class SandboxClient {
  constructor(
    private readonly fake: FakeSlack,
    private readonly driver: SlackDriver,
    private readonly commands: readonly CommandHint[],
  ) {}

  /** A line typed in a channel's composer: `/command text`. */
  async command(userId: string, channel: string, line: string): Promise<void> {
    const [name = ''] = line.trim().split(/\s+/);
    const text = line.trim().slice(name.length).trim();
    if (!this.commands.some((c) => c.command === name)) {
      const known = this.commands.map((c) => c.command).join(', ');
      this.fake.ackEphemeral(channel, userId, {
        text: `${name || line} is not a valid command. This app has ${known}.`,
      });
      return;
    }
    const reply = await this.driver.command(userId, name, text, { channelId: channel });
    if (reply.status !== 200) {
      this.fake.ackEphemeral(channel, userId, { text: dispatchFailed(name, reply.status) });
    } else if (isRecord(reply.body) && (reply.body.text !== undefined || reply.body.blocks !== undefined)) {
      this.fake.ackEphemeral(channel, userId, reply.body);
    }
  }

  async click(click: Click): Promise<void> {
    const surface =
      'message' in click.surface ? { message: click.surface.message } : { view: { id: click.surface.viewId } };
    const reply = await this.driver.clickButton({
      userId: click.userId,
      actionId: click.actionId,
      ...(click.value !== undefined ? { value: click.value } : {}),
      ...(click.blockId !== undefined ? { blockId: click.blockId } : {}),
      ...(click.values ? { values: click.values } : {}),
      ...surface,
    });
    if (reply.status === 200) return;
    // Under a message Slack says so in the channel; on a modal or Home tab the page does.
    if ('message' in click.surface)
      this.fake.ackEphemeral(click.surface.message.channel, click.userId, {
        text: dispatchFailed('That button', reply.status),
      });
    else throw new Error(dispatchFailed('The click', reply.status));
  }

  /** Submits a modal; Slack closes it unless the app acks with `response_action: errors`. */
  async submit(userId: string, viewId: string, values: StateValues): Promise<SubmitOutcome> {
    const reply = await this.driver.submitView({ userId, viewId, values });
    if (reply.status !== 200) throw new Error(dispatchFailed('The form', reply.status));
    const body = isRecord(reply.body) ? reply.body : {};
    if (body.response_action === 'errors' && isRecord(body.errors)) {
      return {
        closed: false,
        errors: Object.fromEntries(Object.entries(body.errors).map(([block, message]) => [block, String(message)])),
      };
    }
    if (body.response_action === 'update' || body.response_action === 'push') {
      const answer = this.fake.answerSubmission(userId, viewId, body);
      // Slack shows the person a generic failure when an app answers with a view it rejects.
      if (!answer.ok) throw new Error(`The app answered the form with a view Slack rejects (${answer.error}).`);
      return { closed: false, errors: {} };
    }
    const stack = this.fake.openModals(userId);
    // `clear` closes the whole stack; a plain ack closes the view submitted.
    const closing = body.response_action === 'clear' ? stack[0]?.id : viewId;
    if (closing) this.fake.closeView(userId, closing);
    return { closed: true };
  }

  cancel(userId: string, viewId: string): void {
    this.fake.closeView(userId, viewId);
  }

  /** The person opens the bot's Home tab: Slack sends app_home_opened. */
  async openHome(userId: string): Promise<void> {
    const reply = await this.driver.homeOpened(userId);
    if (reply.status !== 200) throw new Error(dispatchFailed('Opening the Home tab', reply.status));
  }
}
