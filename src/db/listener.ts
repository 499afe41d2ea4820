import pg from 'pg';
import type { Logger } from '../log.ts';

/** How long a lost listening connection waits before it connects again. */
const RECONNECT_MS = 1_000;

export interface ListenerOptions {
  databaseUrl: string;
  channel: string;
  /** Names the connection in pg_stat_activity. */
  applicationName: string;
  /** Each notification's payload ('' when it has none). */
  onNotify: (payload: string) => void;
  /** After a reconnect: anything may have changed while no one listened. */
  onReconnected: () => void;
  log: Logger;
  /** Logged when the connection is lost: what stands in meanwhile. */
  lostMessage: string;
}

/**
 * LISTENs on one channel on a connection of its own (a pool's connections come and go);
 * if the server drops it, or it cannot connect, it tries again every second and says so
 * once each time.
 */
export class Listener {
  private client: pg.Client | null = null;
  private reconnect: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly options: ListenerOptions) {}

  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnect) clearTimeout(this.reconnect);
    this.reconnect = null;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const { options } = this;
    const client = new pg.Client({ connectionString: options.databaseUrl, application_name: options.applicationName });
    const lost = (err?: Error) => {
      if (this.client !== client) return;
      this.client = null;
      client.end().catch(() => undefined);
      if (this.stopped) return;
      options.log.warn({ err }, options.lostMessage);
      this.reconnect = setTimeout(() => {
        this.reconnect = null;
        void this.connect().then(() => options.onReconnected());
      }, RECONNECT_MS);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (message) => options.onNotify(message.payload ?? ''));
    this.client = client;
    try {
      await client.connect();
      await client.query(`listen ${pg.escapeIdentifier(options.channel)}`);
    } catch (err) {
      lost(err as Error);
    }
  }
}
