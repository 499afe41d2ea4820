import { readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import type { SiemDestination } from './destination.ts';
import type { SiemEvent } from './siem-event.ts';
import { octetCounted, syslogMessage, type SyslogHeader } from './syslog-format.ts';

export interface SyslogOptions {
  /** tcp://host:port or tls://host:port. */
  url: string;
  /** PEM file of the CA that signed the server's certificate (tls://); unset: the system's CAs. */
  caFile: string | undefined;
  /** HOSTNAME in each message; unset: this machine's name. */
  hostname: string | undefined;
  appName: string;
  logId: string;
  /** How long connecting and writing one batch may take. */
  timeoutMs?: number;
}

/** The tls:// or tcp:// destination named by the URL, its CA read now so a bad path stops start-up. */
export async function syslogDestination(options: SyslogOptions): Promise<SyslogDestination> {
  const ca = options.caFile
    ? await readFile(options.caFile).catch((err: NodeJS.ErrnoException) => {
        throw new Error(
          `GATEHOUSE_SIEM_SYSLOG_CA_FILE: cannot read ${options.caFile} (${err.code ?? err.message}). Set it to the PEM file of the CA that signed the syslog server's certificate, or unset it to trust the system's CAs.`,
        );
      })
    : undefined;
  return new SyslogDestination(options, ca);
}

/**
 * Audit events to a syslog server over TCP or TLS, one RFC 5424 message per event,
 * octet-counted (RFC 5425/6587). Syslog has no acknowledgement: a batch counts as accepted
 * once the connection has taken all of it (written without error), which a receiver that
 * dies with it unread can still lose; docs/siem.md says so. A connection that fails is
 * dropped and made again for the next try.
 */
export class SyslogDestination implements SiemDestination {
  readonly name = 'syslog';
  private socket: net.Socket | null = null;
  private readonly target: { tls: boolean; host: string; port: number };
  private readonly header: SyslogHeader;

  constructor(
    private readonly options: SyslogOptions,
    private readonly ca: Buffer | undefined,
  ) {
    const url = new URL(options.url);
    this.target = { tls: url.protocol === 'tls:', host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) };
    this.header = {
      hostname: options.hostname ?? (os.hostname() || '-'),
      appName: options.appName,
      logId: options.logId,
    };
  }

  async send(events: SiemEvent[]): Promise<void> {
    const data = Buffer.concat(events.map((event) => octetCounted(syslogMessage(event, this.header))));
    const socket = this.socket ?? (await this.connect());
    try {
      await this.within(
        new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.write(data, (err) => {
            socket.off('error', reject);
            if (err) reject(err);
            else resolve();
          });
        }),
        'writing to the syslog server',
      );
    } catch (err) {
      this.drop(socket);
      throw err;
    }
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 2000).unref();
    });
  }

  private async connect(): Promise<net.Socket> {
    const { host, port } = this.target;
    const socket = this.target.tls
      ? tls.connect({ host, port, ca: this.ca, ...(net.isIP(host) ? {} : { servername: host }) })
      : net.connect({ host, port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    try {
      await this.within(
        new Promise<void>((resolve, reject) => {
          socket.once(this.target.tls ? 'secureConnect' : 'connect', () => resolve());
          socket.once('error', reject);
        }),
        `connecting to the syslog server at ${host}:${port}`,
      );
    } catch (err) {
      socket.destroy();
      throw err;
    }
    // A connection the server closes or breaks is made again for the next batch.
    socket.on('error', () => this.drop(socket));
    socket.on('close', () => this.drop(socket));
    // The server does not speak in syslog: anything it sends is read and ignored.
    socket.resume();
    this.socket = socket;
    return socket;
  }

  private drop(socket: net.Socket): void {
    if (this.socket === socket) this.socket = null;
    socket.destroy();
  }

  private within<T>(work: Promise<T>, what: string): Promise<T> {
    const ms = this.options.timeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }
}
