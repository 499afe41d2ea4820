import { sql } from 'kysely';
import type { ChainedCue } from '../audit/sequencer.ts';
import type { Db } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { siemEvents, siemFailures } from '../metrics/metrics.ts';
import { Pump } from '../outbox/pump.ts';
import type { SiemDestination } from './destination.ts';
import { readSiemEvents } from './siem-event.ts';

export interface SiemStreamerOptions {
  cue: ChainedCue;
  log: Logger;
  now: () => Date;
  /** Events sent per batch (GATEHOUSE_SIEM_BATCH). */
  batch?: number;
  /** The first retry's wait after a failed batch; it doubles up to 30 s. */
  retryBaseMs?: number;
  /** How often to look for events chained by other replicas when nothing wakes it. */
  pollMs?: number;
}

/**
 * What a failed send says in the log: its message and code, never the request (whose
 * headers hold the destination's token).
 */
function describeFailure(err: unknown): { message: string; code?: unknown } {
  if (!(err instanceof Error)) return { message: String(err) };
  const code = (err as { code?: unknown }).code;
  return code === undefined ? { message: err.message } : { message: err.message, code };
}

/**
 * Streams the chain to one SIEM destination, in seq order, from committed state. How far
 * the destination got is its row in siem_cursor, locked with SKIP LOCKED while a batch is
 * read and sent, so with several replicas one streams at a time; the row moves in that
 * same transaction, and only once the receiver has accepted the batch. A failed batch
 * leaves the row where it was and is sent again, with backoff, for as long as it takes:
 * nothing is skipped. A crash after the receiver accepted a batch and before the commit
 * sends that batch again on the next round (at least once at that boundary; records
 * carry seq and hash for the receiver to drop repeats: docs/siem.md).
 */
export class SiemStreamer {
  private readonly pump: Pump;
  private readonly batch: number;

  constructor(
    private readonly db: Db,
    private readonly destination: SiemDestination,
    private readonly options: SiemStreamerOptions,
  ) {
    this.batch = options.batch ?? 500;
    const base = options.retryBaseMs ?? 500;
    this.pump = new Pump({
      round: () => this.sendOnce(),
      failed: (err, failures) => {
        const next = Math.min(30_000, base * 2 ** Math.min(failures - 1, 10));
        siemFailures.inc({ destination: destination.name });
        this.options.log.warn(
          { err: describeFailure(err), destination: destination.name, failures, retryInMs: next },
          'streaming audit events to the SIEM failed; the batch will be sent again',
        );
        return next;
      },
      cue: options.cue,
      now: options.now,
      pollMs: options.pollMs ?? 1000,
    });
  }

  /** Whether this destination's cursor row is known to exist. */
  private cursorAdded = false;

  start(): void {
    this.pump.start();
  }

  /** No more batches; the one in flight finishes (and commits, if accepted) first. */
  async stop(): Promise<void> {
    await this.pump.stop();
    await this.destination.close();
  }

  /** Sends the next batch, if there is one and no other replica is sending; resolves with how many events went. */
  async sendOnce(): Promise<number> {
    const name = this.destination.name;
    if (!this.cursorAdded) {
      // A destination seen for the first time starts at 0: it receives the whole log.
      await sql`
        insert into siem_cursor (destination, delivered_seq) values (${name}, 0)
        on conflict (destination) do nothing`.execute(this.db);
      this.cursorAdded = true;
    }
    const sent = await this.db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ delivered_seq: string }>`
        select delivered_seq from siem_cursor where destination = ${name} for update skip locked`.execute(trx);
      // Another replica is streaming to this destination.
      if (!rows[0]) return 0;
      const after = Number(rows[0].delivered_seq);
      const events = await readSiemEvents(trx, after, this.batch);
      if (events.length === 0) return 0;
      await this.destination.send(events);
      await sql`
        update siem_cursor set delivered_seq = ${events.at(-1)!.seq}, updated_at = now()
         where destination = ${name}`.execute(trx);
      return events.length;
    });
    if (sent > 0) siemEvents.inc({ destination: name }, sent);
    return sent;
  }
}
