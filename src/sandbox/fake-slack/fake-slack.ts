import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Directory, type SlackUser, type UserOverrides } from './directory.ts';
import { FileStore, type SlackFile } from './files.ts';
import { bearerToken, parseArgs, readBody, sendJson } from './http.ts';
import { MessageStore, type EphemeralMessage, type ResponseContext, type SlackMessage } from './messages.ts';
import { Clock, dmChannelOf, fail, ok, type Answer, type Args, type MethodHandler } from './protocol.ts';
import { FakeSocketMode, SOCKET_PATH, type EnvelopeOptions, type EnvelopeType, type SocketAck } from './socket.ts';
import { ViewStore, type SlackView } from './views.ts';
import { Waitlist, type WaitOptions } from './waiters.ts';

export type { EphemeralMessage, SlackFile, SlackMessage, SlackUser, SlackView, SocketAck, WaitOptions };
export { APP_ID, BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID } from './protocol.ts';

/** How the next call(s) to a method fail, instead of reaching the method. */
export type Failure =
  | { status: 429; retryAfter: number }
  | { status: 500 | 502 | 503 | 504 }
  /** The method runs (a post is stored) and this status is answered instead: an answer lost on the way back. */
  | { status: 500 | 502 | 503 | 504; afterDoing: true }
  | { error: string }
  /** Never answered (until stop): for client timeouts. */
  | { hang: true };

export interface RecordedCall {
  method: string;
  /** Arguments as sent, with JSON form fields (`blocks`, `view`, `metadata`, `attachments`) parsed. */
  args: Args;
  token: string | null;
  /** True when failNext answered this call instead of the method. */
  failed: boolean;
  /** The `error` Slack answered (injected or not); null when the call succeeded. */
  error: string | null;
}

/** A call the fake has done (holdNext) whose answer waits for the test. */
export interface HeldAnswer {
  /** Resolves with the call once the fake has done it: a post is stored, and the app still waits. */
  readonly done: Promise<RecordedCall>;
  /** Sends the answer the method gave. */
  release(): void;
}

/** A POST the app made to a response_url, e.g. through Bolt's respond(). */
export interface RecordedResponse {
  id: string;
  body: Args;
  /** The HTTP status the fake answered: 200, 400 for bad blocks, 404 for unknown or used-up URLs. */
  status: number;
}

/** What Slack's body says for an injected failure; null for a hang, which never answers. */
function injectedError(failure: Failure): string | null {
  if ('hang' in failure) return null;
  if ('error' in failure) return failure.error;
  return failure.status === 429 ? 'ratelimited' : 'internal_error';
}

/** Slack lets a response_url be used 5 times (within 30 minutes). */
const RESPONSE_URL_USES = 5;

/** Serves a path outside Slack's own (`/api/`, `/response/`, the socket): the sandbox's page. */
export type RouteHandler = (
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
  body: string,
) => void | Promise<void>;

/** Takes an HTTP upgrade (a WebSocket) for a path of its own. */
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** A request a SlackDriver sent the app: its raw body, as signed. */
export interface SentToApp {
  contentType: string;
  body: string;
}

export interface StartOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
}

/**
 * Slack's Web API, response_urls and Socket Mode on a loopback port, for the real app to
 * talk to. It answers like Slack, keeps what was posted, records every call, and fails on
 * request (failNext). State outlives reset(), as a workspace outlives a test.
 */
export class FakeSlack {
  /** Every Web API call, oldest first. */
  readonly calls: RecordedCall[] = [];
  readonly responses: RecordedResponse[] = [];
  /** Every request sent to the app as Slack (by a SlackDriver on this fake), oldest first. */
  readonly sentToApp: SentToApp[] = [];
  readonly clock = new Clock();
  private readonly messages = new MessageStore(this.clock);
  private readonly views = new ViewStore(this.clock);
  private readonly directory = new Directory();
  private readonly fileStore = new FileStore(this.messages, () => this.origin);
  private readonly socket = new FakeSocketMode();
  private readonly failures = new Map<string, Failure[]>();
  private readonly holds = new Map<string, { done: (call: RecordedCall) => void; released: Promise<void> }[]>();
  private readonly responseUrls = new Map<string, ResponseContext & { uses: number }>();
  private readonly callWaiters = new Waitlist(
    () => this.calls,
    (c) => `${c.method}${c.error ? ` → ${c.error}` : ''}`,
  );
  private readonly responseWaiters = new Waitlist(
    () => this.responses,
    (r) => `${r.id} ${JSON.stringify(r.body).slice(0, 200)}`,
  );
  private readonly changeListeners = new Set<() => void>();
  private readonly routes = new Map<string, RouteHandler>();
  private readonly socketRoutes = new Map<string, UpgradeHandler>();
  private readonly handlers: Record<string, MethodHandler> = {
    ...this.messages.handlers,
    ...this.views.handlers,
    ...this.directory.handlers,
    ...this.fileStore.handlers,
    'apps.connections.open': () => ok({ url: this.socketUrl }),
  };

  private constructor(private readonly server: Server) {}

  static async start(options: StartOptions = {}): Promise<FakeSlack> {
    const server = createServer();
    const fake = new FakeSlack(server);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      fake
        .handle(request, response)
        .catch((err: unknown) => sendJson(response, 500, { ok: false, error: 'fatal_error', detail: String(err) }));
    });
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      fake.upgrade(request, socket, head),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return fake;
  }

  async stop(): Promise<void> {
    this.callWaiters.rejectAll('FakeSlack stopped while a test was waiting for a call');
    this.responseWaiters.rejectAll('FakeSlack stopped while a test was waiting for a response_url post');
    await this.socket.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  get origin(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** For `clientOptions.slackApiUrl` (and `SLACK_API_URL`). */
  get apiUrl(): string {
    return `${this.origin}/api/`;
  }

  get socketUrl(): string {
    return `${this.origin.replace('http:', 'ws:')}${SOCKET_PATH}`;
  }

  /**
   * A response_url this fake serves. `context` says where the interaction happened: a
   * `replace_original` response then updates that message, others become ephemerals.
   */
  responseUrl(id: string, context: ResponseContext = { userId: 'U0UNKNOWN', channel: 'C0UNKNOWN' }): string {
    if (!this.responseUrls.has(id)) this.responseUrls.set(id, { ...context, uses: 0 });
    return `${this.origin}/response/${encodeURIComponent(id)}`;
  }

  /** A trigger id views.open/push will accept, as if `userId` had just interacted. */
  issueTriggerId(userId: string): string {
    return this.views.issueTrigger(userId);
  }

  /** Moves fake time on, e.g. past a trigger id's 3 seconds. */
  advanceClock(ms: number): void {
    this.clock.advance(ms);
  }

  callsTo(method: string): RecordedCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  /**
   * Resolves with the matching call as soon as it is recorded (now, if it already was).
   * Recorded means answered by the fake; the app may still be reading the answer.
   */
  waitForCall(
    method: string,
    predicate: (call: RecordedCall) => boolean = () => true,
    options?: WaitOptions,
  ): Promise<RecordedCall> {
    return this.callWaiters.wait(`${method} call`, (call) => call.method === method && predicate(call), options);
  }

  waitForResponse(
    predicate: (response: RecordedResponse) => boolean = () => true,
    options?: WaitOptions,
  ): Promise<RecordedResponse> {
    return this.responseWaiters.wait('response_url post', predicate, options);
  }

  /** Forgets recorded calls, responses and pending failures and holds; messages and views stay. */
  reset(): void {
    this.calls.length = 0;
    this.responses.length = 0;
    this.failures.clear();
    this.holds.clear();
  }

  failNext(method: string, failure: Failure, times = 1): void {
    const queue = this.failures.get(method) ?? [];
    this.failures.set(method, [...queue, ...Array.from({ length: times }, () => failure)]);
  }

  /**
   * Does the next call to `method` but holds its answer until release(): for what happens
   * while Slack has done something and the app does not know it yet.
   */
  holdNext(method: string): HeldAnswer {
    let done!: (call: RecordedCall) => void;
    let release!: () => void;
    const reached = new Promise<RecordedCall>((resolve) => (done = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.holds.set(method, [...(this.holds.get(method) ?? []), { done, released }]);
    return { done: reached, release };
  }

  messagesIn(channel: string): SlackMessage[] {
    return this.messages.messagesIn(channel);
  }

  /** Every message posted, in every channel (ephemerals and views are not kept, as in Slack). */
  allMessages(): SlackMessage[] {
    return this.messages.all();
  }

  /** Puts back messages from allMessages(): the sandbox's channels across a restart. */
  restoreMessages(messages: readonly SlackMessage[]): void {
    this.messages.restore(messages);
    this.changed();
  }

  message(channel: string, ts: string): SlackMessage | undefined {
    return this.messages.find(channel, ts);
  }

  /** Messages in the bot's DM with `userId` (posted to `D<userId>` or to the user id). */
  dmsTo(userId: string): SlackMessage[] {
    return this.messages.messagesIn(dmChannelOf(userId));
  }

  ephemerals(userId?: string): EphemeralMessage[] {
    return this.messages.ephemerals(userId);
  }

  homeOf(userId: string): SlackView | undefined {
    return this.views.homeOf(userId);
  }

  openedViews(userId?: string): SlackView[] {
    return this.views.opened(userId);
  }

  /** A modal or Home tab by id. */
  view(id: string): SlackView | undefined {
    return this.views.byId(id);
  }

  /** A file uploaded through files.uploadV2's three steps, with its bytes. */
  file(id: string): SlackFile | undefined {
    return this.fileStore.file(id);
  }

  files(): SlackFile[] {
    return this.fileStore.all();
  }

  user(id: string): SlackUser {
    return this.directory.user(id);
  }

  setUser(id: string, overrides: UserOverrides): void {
    this.directory.setUser(id, overrides);
  }

  setUsergroup(id: string, userIds: string[]): void {
    this.directory.setUsergroup(id, userIds);
  }

  usergroupMembers(id: string): string[] | undefined {
    return this.directory.usergroupMembers(id);
  }

  /** Closes a modal the way a person does (Cancel, ×, or a submission Slack accepted). */
  closeView(userId: string, viewId: string): void {
    this.views.close(userId, viewId);
    this.changed();
  }

  /** Applies a submission's `response_action: update | push` to `userId`'s modals, as Slack does. */
  answerSubmission(userId: string, viewId: string, ack: Args): Answer {
    const answer = this.views.answerSubmission(userId, viewId, ack);
    this.changed();
    return answer;
  }

  /** The modals open for `userId` now, bottom of the stack first. */
  openModals(userId: string): SlackView[] {
    return this.views.openStack(userId);
  }

  /** A slash command's ack with text: Slack shows it to the person who typed the command. */
  ackEphemeral(channel: string, userId: string, body: Args): void {
    this.messages.addEphemeral(channel, userId, body, 'ack');
    this.changed();
  }

  /** Serves `prefix` and the paths under it (`/` itself only) on this same port: the sandbox's page. */
  mount(prefix: string, handler: RouteHandler): void {
    this.routes.set(prefix, handler);
  }

  /** Takes WebSocket upgrades for `path` (Socket Mode keeps its own). */
  mountSocket(path: string, handler: UpgradeHandler): void {
    this.socketRoutes.set(path, handler);
  }

  /** Calls `listener` after anything a client could show changed; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Sends a Socket Mode envelope to the connected app and resolves with its ack. */
  socketSend(type: EnvelopeType, payload: unknown, options?: EnvelopeOptions): Promise<SocketAck> {
    return this.socket.send(type, payload, options);
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { pathname } = new URL(request.url ?? '/', this.origin);
    const mounted = this.socketRoutes.get(pathname);
    if (pathname === SOCKET_PATH) this.socket.upgrade(request, socket, head);
    else if (mounted) mounted(request, socket, head);
    else socket.destroy();
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.origin);
    const body = await readBody(request);
    if (url.pathname.startsWith('/upload/')) {
      const { status, text } = await this.fileStore.receive(
        decodeURIComponent(url.pathname.slice('/upload/'.length)),
        request.headers['content-type'],
        body,
      );
      response.writeHead(status, { 'content-type': 'text/plain' });
      response.end(text);
      return;
    }
    const raw = body.toString('utf8');
    const args = parseArgs(request.headers['content-type'], raw, url.searchParams);
    const mounted = [...this.routes].find(
      ([prefix]) => url.pathname === prefix || (prefix !== '/' && url.pathname.startsWith(`${prefix}/`)),
    );
    if (mounted) {
      await mounted[1](request, response, url, raw);
    } else if (url.pathname.startsWith('/api/')) {
      this.callApi(decodeURIComponent(url.pathname.slice('/api/'.length)), args, bearerToken(request), response);
    } else if (url.pathname.startsWith('/response/')) {
      this.postResponse(decodeURIComponent(url.pathname.slice('/response/'.length)), args ?? {}, response);
    } else {
      sendJson(response, 404, { ok: false, error: 'not_found' });
    }
  }

  private callApi(method: string, args: Args | undefined, token: string | null, response: ServerResponse): void {
    const failure = this.failures.get(method)?.shift();
    if (failure && 'afterDoing' in failure) {
      const answer = this.answer(method, args, token);
      this.record({
        method,
        args: args ?? {},
        token,
        failed: true,
        error: answer.ok ? 'internal_error' : answer.error,
      });
      sendJson(response, failure.status, fail('internal_error'));
      return;
    }
    if (failure) {
      const error = injectedError(failure);
      this.record({ method, args: args ?? {}, token, failed: true, error });
      if ('hang' in failure || error === null) return;
      const headers: Record<string, string> =
        'retryAfter' in failure ? { 'retry-after': String(failure.retryAfter) } : {};
      sendJson(response, 'status' in failure ? failure.status : 200, fail(error), headers);
      return;
    }
    const answer = this.answer(method, args, token);
    const call: RecordedCall = {
      method,
      args: args ?? {},
      token,
      failed: false,
      error: answer.ok ? null : answer.error,
    };
    this.record(call);
    const hold = this.holds.get(method)?.shift();
    if (hold) {
      hold.done(call);
      void hold.released.then(() => {
        if (!response.destroyed) sendJson(response, 200, answer);
      });
      return;
    }
    sendJson(response, 200, answer);
  }

  private answer(method: string, args: Args | undefined, token: string | null): Answer {
    if (!args) return fail('invalid_form_data', ['send application/x-www-form-urlencoded or application/json']);
    if (!token) return fail('not_authed', ['send the token as "Authorization: Bearer <token>"']);
    // App-level tokens (xapp-) open Socket Mode connections and nothing else.
    const wantsAppToken = method === 'apps.connections.open';
    if (wantsAppToken !== token.startsWith('xapp-')) return fail('not_allowed_token_type');
    const handler = this.handlers[method];
    return handler ? handler(args, token) : fail('unknown_method');
  }

  private postResponse(id: string, body: Args, response: ServerResponse): void {
    const context = this.responseUrls.get(id);
    let status: number;
    let answer: Answer;
    if (!context || context.uses >= RESPONSE_URL_USES) {
      // Slack's exact reply here is undocumented; a 404 makes Bolt's respond() throw, as it would.
      [status, answer] = [404, fail(context ? 'used_url' : 'invalid_url')];
    } else {
      context.uses += 1;
      ({ status, body: answer } = this.messages.respond(context, body));
    }
    this.responses.push({ id, body, status });
    this.responseWaiters.notify();
    this.changed();
    sendJson(response, status, answer);
  }

  private record(call: RecordedCall): void {
    this.calls.push(call);
    this.callWaiters.notify();
    this.changed();
  }

  private changed(): void {
    for (const listener of [...this.changeListeners]) listener();
  }
}
