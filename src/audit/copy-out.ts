import type pg from 'pg';

/** Backend message codes (PostgreSQL protocol 3): CopyData, CopyDone, ErrorResponse. */
const COPY_DATA = 0x64;
const COPY_DONE = 0x63;
const ERROR_RESPONSE = 0x45;
const HEADER = 5;

/** Called with each CopyData message's payload: `buf[start, end)`, valid only until it returns. */
export type CopyDataHandler = (buf: Buffer, start: number, end: number) => void;

interface PgConnection {
  stream: NodeJS.EventEmitter;
  query(text: string): void;
}

/**
 * A `COPY … TO STDOUT` whose data is handed over in place, in the socket's own buffers: a
 * pg "submittable", as pg-copy-streams' is, but without cutting every CopyData message out of
 * the received bytes and joining them again. PostgreSQL sends one CopyData message per row,
 * so a row is usually whole in one read; only a message split between two reads is copied.
 * While the COPY runs this reads the socket instead of pg; from CopyDone (or an
 * ErrorResponse) on, the bytes go back to pg, which ends the query as usual.
 */
class CopyOutQuery {
  private connection: PgConnection | null = null;
  private pgHandler: ((chunk: Buffer) => void) | null = null;
  private partial: Buffer | null = null;
  private error: Error | null = null;
  readonly done: Promise<void>;
  private settle!: { resolve: () => void; reject: (err: Error) => void };

  constructor(
    readonly text: string,
    private readonly onData: CopyDataHandler,
  ) {
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
  }

  /** Called by pg when the query's turn comes. */
  submit(connection: PgConnection): void {
    this.connection = connection;
    const listeners = connection.stream.listeners('data') as ((chunk: Buffer) => void)[];
    if (listeners.length !== 1) throw new Error('cannot take over the connection: it has no single data listener');
    this.pgHandler = listeners[0]!;
    connection.stream.removeListener('data', this.pgHandler);
    connection.stream.on('data', this.receive);
    connection.query(this.text);
  }

  /** An ErrorResponse, or the connection lost: the query has failed (pg still reads what follows). */
  handleError(err: Error): void {
    this.giveBack(Buffer.alloc(0));
    this.settle.reject(this.error ?? err);
  }

  handleCommandComplete(): void {}

  handleReadyForQuery(): void {
    if (this.error) this.settle.reject(this.error);
    else this.settle.resolve();
  }

  private readonly receive = (chunk: Buffer): void => this.read(chunk);

  private read(chunk: Buffer): void {
    let pos = 0;
    // A message split between reads: completed from this chunk, then handled like the others.
    while (this.partial) {
      const part = this.partial;
      const want = part.length < HEADER ? HEADER - part.length : 1 + part.readInt32BE(1) - part.length;
      const take = Math.min(want, chunk.length - pos);
      const grown = Buffer.concat([part, chunk.subarray(pos, pos + take)]);
      pos += take;
      if (take < want) {
        this.partial = grown;
        return;
      }
      if (grown.length < HEADER || grown.length < 1 + grown.readInt32BE(1)) {
        this.partial = grown;
        continue;
      }
      this.partial = null;
      if (grown[0] === ERROR_RESPONSE) return this.giveBack(Buffer.concat([grown, chunk.subarray(pos)]));
      if (grown[0] === COPY_DONE) return this.giveBack(chunk.subarray(pos));
      if (grown[0] === COPY_DATA) this.data(grown, 0);
    }
    const end = chunk.length;
    while (end - pos >= HEADER) {
      const code = chunk[pos];
      if (code === ERROR_RESPONSE) return this.giveBack(chunk.subarray(pos));
      const total = 1 + chunk.readInt32BE(pos + 1);
      if (end - pos < total) break;
      if (code === COPY_DATA) this.data(chunk, pos);
      else if (code === COPY_DONE) return this.giveBack(chunk.subarray(pos + total));
      // Anything else (CopyOutResponse, a notice, a parameter change) needs nothing.
      pos += total;
    }
    if (pos < end) this.partial = Buffer.from(chunk.subarray(pos));
  }

  /** The CopyData message at `buf[at…]`, whole. */
  private data(buf: Buffer, at: number): void {
    if (this.error) return;
    try {
      this.onData(buf, at + HEADER, at + 1 + buf.readInt32BE(at + 1));
    } catch (err) {
      // The rest of the COPY is read and dropped, so the query ends cleanly on the
      // connection; it then fails with this error.
      this.error = err as Error;
    }
  }

  /** From here on pg reads the socket again, starting with `rest`. */
  private giveBack(rest: Buffer): void {
    const { connection, pgHandler } = this;
    if (!connection || !pgHandler) return;
    connection.stream.removeListener('data', this.receive);
    connection.stream.on('data', pgHandler);
    this.pgHandler = null;
    if (rest.length > 0) pgHandler(rest);
  }
}

/** Runs `text` (a COPY … TO STDOUT) on `client`, handing each CopyData payload to `onData` in place. */
export async function copyOut(client: pg.PoolClient, text: string, onData: CopyDataHandler): Promise<void> {
  const query = new CopyOutQuery(text, onData);
  (client as unknown as { query(q: CopyOutQuery): void }).query(query);
  await query.done;
}
