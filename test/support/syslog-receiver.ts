import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';

/** One RFC 5424 message as received: its header fields, structured data and MSG. */
export interface SyslogRecord {
  pri: number;
  time: string;
  hostname: string;
  appName: string;
  msgId: string;
  params: Record<string, string>;
  msg: string;
}

/** Parses one RFC 5424 message with one SD-ELEMENT, as Gatehouse writes them. */
export function parseSyslog(message: string): SyslogRecord {
  const head = /^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[(\S+)((?: [a-z_]+="(?:[^"\\\]]|\\["\\\]])*")*)\] \uFEFF/.exec(
    message,
  );
  if (!head) throw new Error(`not an RFC 5424 message as Gatehouse writes them: ${message.slice(0, 200)}`);
  const params: Record<string, string> = {};
  for (const m of head[8]!.matchAll(/ ([a-z_]+)="((?:[^"\\\]]|\\["\\\]])*)"/g))
    params[m[1]!] = m[2]!.replace(/\\(["\\\]])/g, '$1');
  return {
    pri: Number(head[1]),
    time: head[2]!,
    hostname: head[3]!,
    appName: head[4]!,
    msgId: head[6]!,
    params,
    msg: message.slice(head[0].length),
  };
}

/**
 * A syslog server over TCP, or TLS with the certificate given, reading octet-counted
 * frames (RFC 6587 §3.4.1). A frame that is not `LENGTH SP MESSAGE` fails the test that
 * reads `errors`.
 */
export class SyslogReceiver {
  readonly records: SyslogRecord[] = [];
  readonly errors: string[] = [];
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private listeners: (() => void)[] = [];
  port = 0;

  constructor(private readonly tlsOptions?: { key: Buffer; cert: Buffer }) {}

  async start(): Promise<void> {
    const onSocket = (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        for (;;) {
          const space = buffered.indexOf(0x20);
          if (space < 0) break;
          const length = Number(buffered.subarray(0, space).toString('ascii'));
          if (!Number.isInteger(length) || length <= 0) {
            this.errors.push(`bad frame length: ${buffered.subarray(0, space).toString('ascii')}`);
            socket.destroy();
            return;
          }
          if (buffered.length < space + 1 + length) break;
          const message = buffered.subarray(space + 1, space + 1 + length).toString('utf8');
          buffered = buffered.subarray(space + 1 + length);
          try {
            this.records.push(parseSyslog(message));
          } catch (err) {
            this.errors.push((err as Error).message);
          }
        }
        this.notify();
      });
    };
    const server = this.tlsOptions ? tls.createServer(this.tlsOptions, onSocket) : net.createServer(onSocket);
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Closes every connection and stops listening: connections are refused until start() again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get url(): string {
    return `${this.tlsOptions ? 'tls' : 'tcp'}://127.0.0.1:${this.port}`;
  }

  until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!done()) return;
        this.listeners = this.listeners.filter((l) => l !== check);
        resolve();
      };
      this.listeners.push(check);
    });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
