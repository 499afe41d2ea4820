import { randomBytes } from 'node:crypto';
import { APP_ID, BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, type FakeSlack, type SlackMessage } from './fake-slack.ts';
import { dmChannelOf } from './protocol.ts';

export interface CommandChannel {
  channelId?: string;
  channelName?: string;
}

/** `view.state.values`: input values by block_id, then action_id. */
export type StateValues = Record<string, Record<string, { type: string; [field: string]: unknown }>>;

export interface ButtonClick {
  userId: string;
  actionId: string;
  /** Picks among buttons sharing an action_id; defaults to the button's own value. */
  value?: string;
  blockId?: string;
  /** A message the button is on; if the fake holds it, the button must be there. */
  message?: { channel: string; ts: string; ephemeral?: boolean };
  /** A modal or Home tab the button is on (by id; other fields override the stored view). */
  view?: { id: string; [field: string]: unknown };
  /** Input values in the view at the time of the click. */
  values?: StateValues;
  /**
   * Pressed on a copy the person's client had not redrawn yet (an update on its way, a
   * second device): the button need not be on the message as the fake holds it now.
   */
  stale?: boolean;
}

export interface ViewSubmission {
  userId: string;
  /** Required unless `viewId` names a view the fake holds. */
  callbackId?: string;
  values: StateValues;
  privateMetadata?: string;
  viewId?: string;
}

/** A slash command's form fields (a type alias, so it fits URLSearchParams). */
export type SlashCommandPayload = {
  token: string;
  team_id: string;
  team_domain: string;
  channel_id: string;
  channel_name: string;
  user_id: string;
  user_name: string;
  command: string;
  text: string;
  api_app_id: string;
  is_enterprise_install: string;
  response_url: string;
  trigger_id: string;
};

export type InteractionPayload = Record<string, unknown> & { trigger_id: string; response_url?: string };

/** The verification token Slack still puts in payloads; Bolt ignores it. */
const VERIFICATION_TOKEN = 'fake-verification-token';

interface FoundButton {
  blockId: string | undefined;
  element: Record<string, unknown>;
}

/** Buttons in actions blocks and section accessories. */
function buttonsIn(blocks: unknown): FoundButton[] {
  if (!Array.isArray(blocks)) return [];
  return blocks.flatMap((block: Record<string, unknown>) => {
    const blockId = typeof block.block_id === 'string' ? block.block_id : undefined;
    const elements: unknown[] = Array.isArray(block.elements)
      ? block.elements
      : block.accessory
        ? [block.accessory]
        : [];
    return elements
      .filter((el): el is Record<string, unknown> => (el as { type?: unknown }).type === 'button')
      .map((element) => ({ blockId, element }));
  });
}

/** A stored message as Slack embeds it in block_actions: without its channel. */
function messagePayload(message: SlackMessage): Omit<SlackMessage, 'channel'> {
  const { channel: _channel, ...rest } = message;
  return rest;
}

function channelName(channel: string): string {
  return channel.startsWith('D') ? 'directmessage' : channel.toLowerCase();
}

/**
 * The bodies Slack sends an app (slash commands, block_actions, view_submission and event
 * callbacks, as docs.slack.dev documents them), with trigger ids and response_urls the
 * fake issued, so whatever the app does with them next reaches the fake. Shared by the
 * HTTP driver and Socket Mode envelopes.
 */
export class SlackPayloads {
  private issued = 0;

  constructor(
    private readonly fake: FakeSlack,
    private readonly teamId = TEAM_ID,
  ) {}

  command(userId: string, command: string, text = '', where: CommandChannel = {}): SlashCommandPayload {
    const channelId = where.channelId ?? 'C0GENERAL';
    return {
      token: VERIFICATION_TOKEN,
      team_id: this.teamId,
      team_domain: TEAM_DOMAIN,
      channel_id: channelId,
      channel_name: where.channelName ?? (channelId.startsWith('D') ? 'directmessage' : 'general'),
      user_id: userId,
      user_name: this.fake.user(userId).name,
      command,
      text,
      api_app_id: APP_ID,
      is_enterprise_install: 'false',
      response_url: this.fake.responseUrl(this.nextId('cmd'), { userId, channel: channelId }),
      trigger_id: this.fake.issueTriggerId(userId),
    };
  }

  blockActions(click: ButtonClick): InteractionPayload {
    const stored = click.message ? this.fake.message(click.message.channel, click.message.ts) : undefined;
    const storedView = click.view ? this.fake.view(click.view.id) : undefined;
    const view = click.view ? { ...storedView, ...click.view } : undefined;
    // A surface the fake holds must show the button; one it does not (an ephemeral) is taken on trust.
    const known = click.message ? stored : storedView;
    const button = this.findButton(
      click,
      click.message ? stored?.blocks : view?.blocks,
      known !== undefined && click.stale !== true,
    );
    const value = click.value ?? button?.element.value;
    const action = {
      type: 'button',
      action_id: click.actionId,
      block_id: click.blockId ?? button?.blockId ?? 'fake-block',
      text: button?.element.text ?? { type: 'plain_text', text: click.actionId, emoji: true },
      ...(button?.element.style ? { style: button.element.style } : {}),
      ...(value !== undefined ? { value } : {}),
      action_ts: this.slackTs(),
    };
    const base = {
      type: 'block_actions',
      user: this.userRef(click.userId),
      api_app_id: APP_ID,
      token: VERIFICATION_TOKEN,
      trigger_id: this.fake.issueTriggerId(click.userId),
      team: { id: this.teamId, domain: TEAM_DOMAIN },
      enterprise: null,
      is_enterprise_install: false,
      state: { values: click.values ?? {} },
      actions: [action],
    };
    if (click.message) {
      const { channel, ts } = click.message;
      return {
        ...base,
        container: {
          type: 'message',
          message_ts: ts,
          channel_id: channel,
          is_ephemeral: click.message.ephemeral === true,
        },
        channel: { id: channel, name: channelName(channel) },
        message: stored ? messagePayload(stored) : { type: 'message', ts, text: '' },
        response_url: this.fake.responseUrl(this.nextId('act'), {
          userId: click.userId,
          channel,
          message: { channel, ts },
        }),
      };
    }
    if (view) return { ...base, container: { type: 'view', view_id: view.id }, view };
    throw new Error('clickButton needs `message: {channel, ts}` or `view: {id}`: the surface the button is on.');
  }

  viewSubmission(submission: ViewSubmission): InteractionPayload {
    const stored = submission.viewId ? this.fake.view(submission.viewId) : undefined;
    const callbackId = submission.callbackId ?? stored?.callback_id;
    if (callbackId === undefined)
      throw new Error('submitView needs `callbackId`, or `viewId` of a view the fake opened.');
    if (stored && submission.callbackId !== undefined && stored.callback_id !== submission.callbackId) {
      throw new Error(`View ${stored.id} has callback_id "${stored.callback_id}", not "${submission.callbackId}".`);
    }
    const id = submission.viewId ?? this.nextId('V');
    const view = {
      id,
      team_id: this.teamId,
      type: 'modal',
      blocks: [],
      title: { type: 'plain_text', text: 'Modal' },
      close: null,
      submit: null,
      root_view_id: id,
      previous_view_id: null,
      app_id: APP_ID,
      external_id: '',
      bot_id: BOT_ID,
      hash: `${Math.floor(this.fake.clock.now() / 1000)}.fake`,
      clear_on_close: false,
      notify_on_close: false,
      ...stored,
      callback_id: callbackId,
      private_metadata: submission.privateMetadata ?? stored?.private_metadata ?? '',
      state: { values: submission.values },
    };
    return {
      type: 'view_submission',
      team: { id: this.teamId, domain: TEAM_DOMAIN },
      user: this.userRef(submission.userId),
      api_app_id: APP_ID,
      token: VERIFICATION_TOKEN,
      trigger_id: this.fake.issueTriggerId(submission.userId),
      view,
      response_urls: [],
      enterprise: null,
      is_enterprise_install: false,
    };
  }

  /** The Events API wrapper around `event`, as Slack posts it. */
  eventCallback(event: Record<string, unknown>, eventId?: string): Record<string, unknown> {
    return {
      token: VERIFICATION_TOKEN,
      team_id: this.teamId,
      api_app_id: APP_ID,
      event: { event_ts: this.slackTs(), ...event },
      type: 'event_callback',
      event_id: eventId ?? this.nextId('Ev'),
      event_time: Math.floor(this.fake.clock.now() / 1000),
      authorizations: [
        { enterprise_id: null, team_id: this.teamId, user_id: BOT_USER_ID, is_bot: true, is_enterprise_install: false },
      ],
      is_ext_shared_channel: false,
    };
  }

  /** The event of a user opening the bot's Home tab, with the view they see, if any. */
  appHomeOpened(userId: string): Record<string, unknown> {
    const view = this.fake.homeOf(userId);
    return {
      type: 'app_home_opened',
      user: userId,
      channel: dmChannelOf(userId),
      tab: 'home',
      ...(view ? { view } : {}),
      event_ts: this.slackTs(),
    };
  }

  private findButton(click: ButtonClick, blocks: unknown, mustExist: boolean): FoundButton | undefined {
    const buttons = buttonsIn(blocks);
    const found = buttons.find(
      ({ blockId, element }) =>
        element.action_id === click.actionId &&
        (click.value === undefined || element.value === click.value) &&
        (click.blockId === undefined || blockId === click.blockId),
    );
    if (!found && mustExist) {
      const offered =
        buttons.map(({ element }) => `${String(element.action_id)}=${String(element.value)}`).join(', ') || 'none';
      throw new Error(
        `No button ${click.actionId}${click.value === undefined ? '' : `=${click.value}`} to click; the surface has: ${offered}.`,
      );
    }
    return found;
  }

  private userRef(userId: string): Record<string, string> {
    const { name } = this.fake.user(userId);
    return { id: userId, username: name, name, team_id: this.teamId };
  }

  private slackTs(): string {
    return (this.fake.clock.now() / 1000).toFixed(6);
  }

  private nextId(prefix: string): string {
    this.issued += 1;
    return `${prefix}${String(this.issued).padStart(4, '0')}${randomBytes(4).toString('hex').toUpperCase()}`;
  }
}
