import { blockKitProblems } from './block-kit-limits.ts';
import {
  APP_ID,
  BOT_ID,
  BOT_USER_ID,
  TEAM_ID,
  dmChannelOf,
  fail,
  flag,
  int,
  isObject,
  isUserId,
  missing,
  ok,
  str,
  type Answer,
  type Args,
  type Clock,
  type MethodHandler,
} from './protocol.ts';

/** A message as Slack stores it; `text`/`blocks` are the latest after updates. */
export interface SlackMessage {
  type: 'message';
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  attachments?: unknown[];
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  thread_ts?: string;
  /** Files shared with the message (files.completeUploadExternal with a channel). */
  files?: SharedFile[];
  user: string;
  bot_id: string;
  app_id: string;
  team: string;
  edited?: { user: string; ts: string };
}

export interface SharedFile {
  id: string;
  name: string;
  title: string;
}

export interface EphemeralMessage {
  channel: string;
  user: string;
  text: string;
  blocks?: unknown[];
  message_ts: string;
  /** `ack`: the text a slash command's ack carried, which Slack shows to the one who typed it. */
  via: 'chat.postEphemeral' | 'response_url' | 'ack';
}

/** Where a response_url came from, which decides what replace_original replaces. */
export interface ResponseContext {
  userId: string;
  channel: string;
  message?: { channel: string; ts: string };
}

/** What to answer a response_url POST with. */
export interface ResponseOutcome {
  status: number;
  body: Answer;
}

/** Slack turns a user id into the bot's DM with that user. */
function channelOf(args: Args): string | undefined {
  const channel = str(args.channel);
  if (!channel) return undefined;
  return isUserId(channel) ? dmChannelOf(channel) : channel;
}

/** The rules every message-bearing call shares: Block Kit limits, fallback text, metadata. */
function contentProblem(args: Args): Answer | undefined {
  if (args.blocks !== undefined) {
    const problems = blockKitProblems('message', args.blocks);
    if (problems.length > 0) return fail('invalid_blocks', problems);
  }
  const hasBlocks = Array.isArray(args.blocks) && args.blocks.length > 0;
  if (!str(args.text) && !hasBlocks && args.attachments === undefined) return fail('no_text');
  const metadata = args.metadata;
  if (
    metadata !== undefined &&
    !(isObject(metadata) && typeof metadata.event_type === 'string' && isObject(metadata.event_payload))
  ) {
    return fail('invalid_metadata_format', ['metadata needs a string event_type and an object event_payload']);
  }
  return undefined;
}

/** Copies what a call sets into the stored message; absent fields leave it as it was. */
function applyContent(message: SlackMessage, args: Args): void {
  if (args.text !== undefined) message.text = str(args.text) ?? '';
  if (Array.isArray(args.blocks)) message.blocks = args.blocks;
  if (Array.isArray(args.attachments)) message.attachments = args.attachments;
  if (isObject(args.metadata)) message.metadata = args.metadata as SlackMessage['metadata'];
}

/** Channels, their messages and ephemeral messages: chat.* and conversations.*. */
export class MessageStore {
  private readonly channels = new Map<string, SlackMessage[]>();
  private readonly ephemeralList: EphemeralMessage[] = [];

  constructor(private readonly clock: Clock) {}

  readonly handlers: Record<string, MethodHandler> = {
    'chat.postMessage': (args) => this.post(args),
    'chat.update': (args) => this.update(args),
    'chat.delete': (args) => this.remove(args),
    'chat.postEphemeral': (args) => this.postEphemeral(args),
    'conversations.open': (args) => this.open(args),
    'conversations.history': (args) => this.history(args),
  };

  /** Every message in every channel, for keeping them across a restart. */
  all(): SlackMessage[] {
    return [...this.channels.values()].flat();
  }

  /** Puts back messages kept by all(), in their channels and order. */
  restore(messages: readonly SlackMessage[]): void {
    for (const message of messages) {
      this.channels.set(message.channel, [...this.messagesIn(message.channel), message]);
      this.clock.observe(message.ts);
    }
  }

  messagesIn(channel: string): SlackMessage[] {
    return [...(this.channels.get(channel) ?? [])];
  }

  find(channel: string, ts: string): SlackMessage | undefined {
    return this.channels.get(channel)?.find((m) => m.ts === ts);
  }

  ephemerals(userId?: string): EphemeralMessage[] {
    return this.ephemeralList.filter((e) => userId === undefined || e.user === userId);
  }

  /** Does to the channel what Slack does when the app POSTs to a response_url. */
  respond(context: ResponseContext, body: Args): ResponseOutcome {
    const original = context.message && this.find(context.message.channel, context.message.ts);
    if (flag(body.delete_original)) {
      if (original) this.discard(original);
      return { status: 200, body: ok() };
    }
    const problem = contentProblem(body);
    // Slack rejects a bad response_url body with a non-2xx status; Bolt's respond() then throws.
    if (problem) return { status: 400, body: problem };
    if (original && flag(body.replace_original)) {
      applyContent(original, body);
      original.edited = { user: BOT_USER_ID, ts: this.clock.nextTs() };
    } else if (str(body.response_type) === 'in_channel') {
      this.store(context.channel, body);
    } else {
      this.ephemeralList.push({ ...this.ephemeralOf(context.channel, context.userId, body), via: 'response_url' });
    }
    return { status: 200, body: ok() };
  }

  /** The message Slack posts when an upload is completed into a channel: the comment and the files. */
  shareFiles(channel: string, comment: string, files: SharedFile[]): SlackMessage {
    const message = this.store(channel, { text: comment });
    message.files = files;
    return message;
  }

  /** A deleted file takes its share messages with it (when it was their only file). */
  unshareFile(fileId: string): void {
    for (const [channel, messages] of this.channels) {
      this.channels.set(
        channel,
        messages.filter((m) => !(m.files?.length === 1 && m.files[0]?.id === fileId)),
      );
    }
  }

  addEphemeral(channel: string, user: string, args: Args, via: EphemeralMessage['via']): void {
    this.ephemeralList.push({ ...this.ephemeralOf(channel, user, args), via });
  }

  private discard(message: SlackMessage): void {
    this.channels.set(
      message.channel,
      this.messagesIn(message.channel).filter((m) => m !== message),
    );
  }

  private store(channel: string, args: Args): SlackMessage {
    const message: SlackMessage = {
      type: 'message',
      channel,
      ts: this.clock.nextTs(),
      text: '',
      user: BOT_USER_ID,
      bot_id: BOT_ID,
      app_id: APP_ID,
      team: TEAM_ID,
    };
    applyContent(message, args);
    const threadTs = str(args.thread_ts);
    if (threadTs) message.thread_ts = threadTs;
    this.channels.set(channel, [...this.messagesIn(channel), message]);
    return message;
  }

  private ephemeralOf(channel: string, user: string, args: Args): Omit<EphemeralMessage, 'via'> {
    const blocks = Array.isArray(args.blocks) ? { blocks: args.blocks } : {};
    return { channel, user, text: str(args.text) ?? '', ...blocks, message_ts: this.clock.nextTs() };
  }

  private post(args: Args): Answer {
    const channel = channelOf(args);
    if (!channel) return fail('channel_not_found');
    const problem = contentProblem(args);
    if (problem) return problem;
    const message = this.store(channel, args);
    return ok({ channel, ts: message.ts, message: { ...message, channel: undefined } });
  }

  private update(args: Args): Answer {
    const channel = channelOf(args);
    const message = channel && this.find(channel, str(args.ts) ?? '');
    if (!message) return fail('message_not_found');
    const problem = contentProblem(args);
    if (problem) return problem;
    applyContent(message, args);
    message.edited = { user: BOT_USER_ID, ts: this.clock.nextTs() };
    return ok({ channel, ts: message.ts, text: message.text, message: { ...message, channel: undefined } });
  }

  private remove(args: Args): Answer {
    const channel = channelOf(args);
    const message = channel && this.find(channel, str(args.ts) ?? '');
    if (!message) return fail('message_not_found');
    this.discard(message);
    return ok({ channel, ts: message.ts });
  }

  private postEphemeral(args: Args): Answer {
    const channel = channelOf(args);
    if (!channel) return fail('channel_not_found');
    const user = str(args.user);
    if (!user) return missing('user');
    const problem = contentProblem(args);
    if (problem) return problem;
    const ephemeral = this.ephemeralOf(channel, user, args);
    this.ephemeralList.push({ ...ephemeral, via: 'chat.postEphemeral' });
    return ok({ message_ts: ephemeral.message_ts });
  }

  private open(args: Args): Answer {
    const users = (str(args.users) ?? '').split(',').filter(Boolean);
    const [first] = users;
    if (!first) return fail('users_list_not_supplied');
    // One user: the bot's DM with them. Several: a group DM, named after its members.
    const id = users.length === 1 ? dmChannelOf(first) : `G${users.sort().join('')}`;
    return ok({ channel: { id } });
  }

  /** Top-level messages, newest first, as Slack pages them (`oldest`/`latest` exclusive). */
  private history(args: Args): Answer {
    const channel = channelOf(args);
    if (!channel) return fail('channel_not_found');
    const oldest = Number(str(args.oldest) ?? '0');
    const latest = Number(str(args.latest) ?? 'Infinity');
    const inclusive = flag(args.inclusive);
    const withMetadata = flag(args.include_all_metadata);
    const inRange = (ts: number): boolean => (inclusive ? ts >= oldest && ts <= latest : ts > oldest && ts < latest);
    const matching = this.messagesIn(channel)
      .filter((m) => (m.thread_ts === undefined || m.thread_ts === m.ts) && inRange(Number(m.ts)))
      .reverse();
    const limit = int(args.limit, 100);
    const messages = matching
      .slice(0, limit)
      .map(({ channel: _channel, metadata, ...rest }) => (withMetadata && metadata ? { ...rest, metadata } : rest));
    return ok({ messages, has_more: matching.length > limit, response_metadata: { next_cursor: '' } });
  }
}
