import fs from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../log.ts';
import type { CommandHint, SandboxClient, Surface } from './client.ts';
import type { FakeSlack, RouteHandler } from './fake-slack/fake-slack.ts';
import { sendJson } from './fake-slack/http.ts';
import { BOT_USER_ID, dmChannelOf, isObject, isUserId, str } from './fake-slack/protocol.ts';
import type { ProvisioningNotice } from './provisioning-notice.ts';
import type { StateValues } from './fake-slack/driver.ts';
import type { SandboxWorkspace } from './workspace.ts';

const LIVE_PATH = '/sandbox/live';
const PAGE_DIR = fileURLToPath(new URL('./page/', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.png': 'image/png',
};

/** A message as the page draws it: posted ones and this person's ephemerals, in order. */
interface ShownMessage {
  ts: string;
  user: string;
  text: string;
  blocks?: unknown[];
  /** Files shared in the message (an MFA QR code), served from /sandbox/files/<id>. */
  files?: { id: string; name: string; title: string }[];
  ephemeral: boolean;
  edited: boolean;
}

export interface PageSettings {
  fake: FakeSlack;
  client: SandboxClient;
  workspace: SandboxWorkspace;
  commands: readonly CommandHint[];
  /** Whether grants provision for real or as a dry run: the page's banner. */
  provisioning: ProvisioningNotice;
  log: Logger;
}

class BadRequest extends Error {}

function field(body: Record<string, unknown>, name: string): string {
  const value = str(body[name]);
  if (!value) throw new BadRequest(`${name} is required`);
  return value;
}

function userField(body: Record<string, unknown>): string {
  const userId = field(body, 'user');
  if (!isUserId(userId)) throw new BadRequest(`${userId} is not a Slack user id`);
  return userId;
}

function surfaceField(body: Record<string, unknown>): Surface {
  const { surface } = body;
  if (isObject(surface) && isObject(surface.message)) {
    return {
      message: {
        channel: field(surface.message, 'channel'),
        ts: field(surface.message, 'ts'),
        ephemeral: surface.message.ephemeral === true,
      },
    };
  }
  if (isObject(surface) && typeof surface.viewId === 'string') return { viewId: surface.viewId };
  throw new BadRequest('surface must be {message: {channel, ts}} or {viewId}');
}

function valuesField(body: Record<string, unknown>): StateValues {
  return isObject(body.values) ? (body.values as StateValues) : {};
}

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * Only the page itself may use these routes: the Host must be this machine (no DNS
 * rebinding), and a request that carries an Origin must come from that same host (no
 * other site in the browser acting as someone in the sandbox).
 */
function fromThePage(request: IncomingMessage, port: number): boolean {
  const host = request.headers.host ?? '';
  if (!LOOPBACK_HOSTS.some((name) => host === `${name}:${port}`)) return false;
  const origin = request.headers.origin;
  return origin === undefined || origin === `http://${host}`;
}

/**
 * The sandbox's web page on the stand-in's port: the page itself, the workspace as one
 * person sees it (JSON), live updates (a WebSocket), and what the person does.
 */
export function mountPage({ fake, client, workspace, commands, provisioning, log }: PageSettings): {
  close(): Promise<void>;
} {
  const port = Number(new URL(fake.origin).port);
  const mount = (prefix: string, handler: RouteHandler) =>
    fake.mount(prefix, (request, response, url, body) =>
      fromThePage(request, port)
        ? handler(request, response, url, body)
        : sendJson(response, 403, { error: 'forbidden' }),
    );

  const shownIn = (channel: string, userId: string): ShownMessage[] => {
    const posted = fake.messagesIn(channel).map((m) => ({
      ts: m.ts,
      user: m.user,
      text: m.text,
      ...(m.blocks ? { blocks: m.blocks } : {}),
      ...(m.files ? { files: m.files } : {}),
      ephemeral: false,
      edited: m.edited !== undefined,
    }));
    const ephemeral = fake
      .ephemerals(userId)
      .filter((e) => e.channel === channel)
      .map((e) => ({
        ts: e.message_ts,
        user: BOT_USER_ID,
        text: e.text,
        ...(e.blocks ? { blocks: e.blocks } : {}),
        ephemeral: true,
        edited: false,
      }));
    // Every ts has 10 digits, a dot and 6: as text they sort as they were issued.
    return [...posted, ...ephemeral].sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  };

  const state = (userId: string) => ({
    channels: Object.fromEntries(
      [...workspace.channels.map((c) => c.id), dmChannelOf(userId)].map((id) => [id, shownIn(id, userId)]),
    ),
    home: fake.homeOf(userId) ?? null,
    modals: fake.openModals(userId),
  });

  const actions: Record<string, (body: Record<string, unknown>) => Promise<unknown>> = {
    command: async (body) => client.command(userField(body), field(body, 'channel'), field(body, 'text')),
    click: async (body) =>
      client.click({
        userId: userField(body),
        actionId: field(body, 'actionId'),
        surface: surfaceField(body),
        values: valuesField(body),
        ...(str(body.value) !== undefined ? { value: str(body.value) } : {}),
        ...(str(body.blockId) !== undefined ? { blockId: str(body.blockId) } : {}),
      }),
    submit: async (body) => client.submit(userField(body), field(body, 'viewId'), valuesField(body)),
    cancel: async (body) => client.cancel(userField(body), field(body, 'viewId')),
    home: async (body) => client.openHome(userField(body)),
  };

  mount('/', (_request, response) => sendFile(response, 'index.html'));
  mount('/sandbox/assets', (_request, response, url) => sendFile(response, path.basename(url.pathname)));
  mount('/sandbox/files', (_request, response, url) => {
    const file = fake.file(path.basename(url.pathname));
    if (!file?.bytes || file.deleted) return sendJson(response, 404, { error: 'file_not_found' });
    response.writeHead(200, {
      'content-type': TYPES[path.extname(file.name)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
    });
    response.end(file.bytes);
  });
  mount('/sandbox/workspace', (_request, response) =>
    sendJson(response, 200, { ...workspace, commands, provisioning, bot: fake.user(BOT_USER_ID) }),
  );
  mount('/sandbox/state', (_request, response, url) => {
    const userId = url.searchParams.get('user') ?? '';
    if (!isUserId(userId)) return sendJson(response, 400, { error: 'pass ?user=<a Slack user id>' });
    sendJson(response, 200, state(userId));
  });
  // Live updates over a WebSocket, not Server-Sent Events: a browser allows 6 HTTP
  // connections per host, and a tab per person soon needs more.
  const live = new WebSocketServer({ noServer: true });
  fake.mountSocket(LIVE_PATH, (request, socket, head) => {
    if (!fromThePage(request, port)) return void socket.destroy();
    live.handleUpgrade(request, socket, head, (ws) => live.emit('connection', ws, request));
  });
  live.on('connection', (ws) => {
    // Many changes in one tick (a batch of audit posts) become one message.
    let queued = false;
    const unsubscribe = fake.onChange(() => {
      if (queued) return;
      queued = true;
      setImmediate(() => {
        queued = false;
        if (ws.readyState === WebSocket.OPEN) ws.send('changed');
      });
    });
    ws.on('close', unsubscribe);
  });
  mount('/sandbox/do', async (request, response, url, raw) => {
    const action = actions[path.basename(url.pathname)];
    if (request.method !== 'POST' || !action) return sendJson(response, 404, { error: 'not_found' });
    try {
      const body: unknown = JSON.parse(raw || '{}');
      if (!isObject(body)) throw new BadRequest('send a JSON object');
      const result = await action(body);
      sendJson(response, 200, { ok: true, ...(isObject(result) ? result : {}) });
    } catch (err) {
      if (err instanceof BadRequest || err instanceof SyntaxError)
        return sendJson(response, 400, { ok: false, error: err.message });
      log.warn({ err }, 'sandbox: the app did not take what the page sent');
      sendJson(response, 502, { ok: false, error: (err as Error).message });
    }
  });
  return {
    async close() {
      for (const ws of live.clients) ws.terminate();
      await new Promise<void>((resolve) => live.close(() => resolve()));
    },
  };
}

async function sendFile(response: ServerResponse, name: string): Promise<void> {
  try {
    const body = await fs.readFile(path.join(PAGE_DIR, name));
    response.writeHead(200, {
      'content-type': `${TYPES[path.extname(name)] ?? 'application/octet-stream'}; charset=utf-8`,
      'cache-control': 'no-store',
    });
    response.end(body);
  } catch {
    sendJson(response, 404, { error: 'not_found' });
  }
}
