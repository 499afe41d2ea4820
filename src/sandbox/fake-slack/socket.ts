import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { APP_ID } from './protocol.ts';

export type EnvelopeType = 'slash_commands' | 'interactive' | 'events_api';

/** What the app sends back for an envelope: the ack, with its body under `payload`. */
export interface SocketAck {
  envelope_id: string;
  payload?: unknown;
}

export interface EnvelopeOptions {
  retryAttempt?: number;
  retryReason?: string;
  timeoutMs?: number;
}

export const SOCKET_PATH = '/socket';

/**
 * Slack's side of a Socket Mode connection: greets each client with `hello`, sends
 * envelopes, and hands back the client's ack for each.
 */
export class FakeSocketMode {
  private readonly server = new WebSocketServer({ noServer: true });
  private readonly clients = new Set<WebSocket>();
  private readonly pending = new Map<string, (ack: SocketAck) => void>();
  private readonly connectListeners = new Set<() => void>();

  constructor() {
    this.server.on('connection', (socket) => this.accept(socket));
  }

  /** Takes the HTTP upgrade for SOCKET_PATH; the fake's one port serves both. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.server.handleUpgrade(request, socket, head, (ws) => this.server.emit('connection', ws, request));
  }

  get connections(): number {
    return this.clients.size;
  }

  send(type: EnvelopeType, payload: unknown, options: EnvelopeOptions = {}): Promise<SocketAck> {
    const [client] = this.clients;
    if (!client) throw new Error('No Socket Mode client is connected: await app.start() before sending envelopes.');
    const envelopeId = randomUUID();
    const envelope = {
      envelope_id: envelopeId,
      type,
      payload,
      accepts_response_payload: true,
      ...(options.retryAttempt === undefined
        ? {}
        : { retry_attempt: options.retryAttempt, retry_reason: options.retryReason ?? 'timeout' }),
    };
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise<SocketAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(envelopeId);
        reject(
          new Error(
            `The app did not ack ${type} envelope ${envelopeId} within ${timeoutMs} ms; was a listener registered and did it call ack()?`,
          ),
        );
      }, timeoutMs);
      this.pending.set(envelopeId, (ack) => {
        clearTimeout(timer);
        resolve(ack);
      });
      client.send(JSON.stringify(envelope));
    });
  }

  /** Resolves once a client has connected (immediately if one is). */
  connected(): Promise<void> {
    if (this.clients.size > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const listener = (): void => {
        this.connectListeners.delete(listener);
        resolve();
      };
      this.connectListeners.add(listener);
    });
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: WebSocket): void {
    this.clients.add(socket);
    socket.on('close', () => this.clients.delete(socket));
    socket.on('message', (data) => this.receive(String(data)));
    socket.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.clients.size,
        debug_info: { host: 'fake' },
        connection_info: { app_id: APP_ID },
      }),
    );
    for (const listener of [...this.connectListeners]) listener();
  }

  private receive(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const envelopeId = (message as Partial<SocketAck>).envelope_id;
    if (typeof envelopeId !== 'string') return;
    const resolve = this.pending.get(envelopeId);
    this.pending.delete(envelopeId);
    resolve?.(message as SocketAck);
  }
}
