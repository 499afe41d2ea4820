import { EventEmitter } from 'node:events';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import { chainHash, GENESIS_HASH } from './chain.ts';
import { encodeEvent, EVENT_VERSION } from './event.ts';
import { completesBlock, extendTree } from './tree/extend.ts';

/** Advisory lock key held while sequencing: the one place every replica meets. */
export const SEQUENCER_LOCK_KEY = 0x6761_7465; // "gate"

export interface SequencerOptions {
  /** How often to look for queued events written by other processes. */
  intervalMs?: number;
  /** Events moved into the chain per transaction. */
  batchSize?: number;
  /** How long a nudge waits for more commits to join its run. */
  nudgeDelayMs?: number;
}

interface QueuedRow {
  id: number;
  time: string;
  actor: string;
  action: string;
  subject: string | null;
  body: string;
}

/**
 * Moves queued events into the hash chain in batches. Any number of processes may run one:
 * each batch takes a transaction-scoped advisory lock, reads the head after taking it (a
 * separate statement under READ COMMITTED, so the read is never stale), and deletes the
 * queue rows it chains in the same transaction, so an event is chained exactly once.
 */
export interface ChainedBatch {
  count: number;
  /** Seq of the last event chained. */
  headSeq: number;
}

/**
 * Tells whoever delivers from the chain (the outbox notifier, the audit feed) that events
 * reached it: time to look. A sequencer is one; so is a cue forwarded from another thread.
 */
export interface ChainedCue {
  on(event: 'chained', listener: () => void): unknown;
  off(event: 'chained', listener: () => void): unknown;
}

export class AuditSequencer extends EventEmitter<{ chained: [ChainedBatch] }> {
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly nudgeDelayMs: number;
  private nudged = false;
  private running: Promise<number> | null = null;
  private next: Promise<number> | null = null;
  private stopped = true;
  private failures = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: Logger,
    options: SequencerOptions = {},
  ) {
    super();
    this.intervalMs = options.intervalMs ?? 250;
    this.batchSize = options.batchSize ?? 1000;
    this.nudgeDelayMs = options.nudgeDelayMs ?? 5;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops polling and chains what is already queued. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush().catch((err: unknown) =>
      this.log.warn({ err }, 'audit events left queued at shutdown; the next start chains them'),
    );
  }

  /**
   * Asks for a run soon, after a commit that queued events. Nudges within a few
   * milliseconds share one run, so a busy bot chains in batches rather than one by one.
   */
  nudge(): void {
    if (this.stopped || this.nudged) return;
    this.nudged = true;
    setTimeout(() => {
      this.nudged = false;
      if (!this.stopped) this.schedule(0);
    }, this.nudgeDelayMs).unref();
  }

  /**
   * Chains everything queued and committed before the call; resolves with how many events
   * the run that covers it chained. Callers that arrive during a run share the next one.
   */
  async flush(): Promise<number> {
    if (!this.running) return this.startRun();
    this.next ??= this.running
      .catch(() => 0)
      .then(() => {
        this.next = null;
        return this.startRun();
      });
    return this.next;
  }

  private startRun(): Promise<number> {
    const run = this.drain().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }

  private async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const moved = await this.sequenceBatch();
      total += moved;
      if (moved < this.batchSize) return total;
    }
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    this.timer = null;
    try {
      await this.flush();
      this.failures = 0;
    } catch (err) {
      this.failures += 1;
      this.log.error({ err, failures: this.failures }, 'audit sequencing failed; events stay queued and are retried');
    }
    if (!this.stopped && !this.timer) {
      const backoff = this.failures === 0 ? this.intervalMs : Math.min(30_000, this.intervalMs * 2 ** this.failures);
      this.schedule(backoff);
    }
  }

  /**
   * The Merkle tree over the chain (docs/merkle.md) grows in the batch's commit, so it
   * does not lag it. It is a cache of hashes the events already hold: a failure here is
   * logged and undone to a savepoint, never allowed to stop the chain (every replica's
   * events, gateway statements included, wait on it); the next batch that completes a
   * block starts from where the stored tree ends and catches it up.
   */
  private async growTree(trx: Transaction<Database>, firstSeq: number, values: { hash: Buffer }[]): Promise<void> {
    if (!completesBlock(firstSeq, values.length)) return;
    await sql`savepoint gatehouse_tree`.execute(trx);
    try {
      await extendTree(
        trx,
        firstSeq,
        values.map((value) => value.hash),
      );
      await sql`release savepoint gatehouse_tree`.execute(trx);
    } catch (err) {
      await sql`rollback to savepoint gatehouse_tree`.execute(trx);
      this.log.error(
        { err, firstSeq },
        'the Merkle tree could not be extended; chaining goes on, and it catches up later',
      );
    }
  }

  /** One transaction: lock, read head, take a batch from the queue, chain it. Emits `chained` after the commit. */
  async sequenceBatch(): Promise<number> {
    const batch = await this.db.transaction().execute(async (trx): Promise<ChainedBatch> => {
      await sql`select pg_advisory_xact_lock(${SEQUENCER_LOCK_KEY})`.execute(trx);
      const head = await trx
        .selectFrom('audit_events')
        .select(['seq', 'hash'])
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      const taken = await sql<QueuedRow>`
        delete from audit_queue
        where id in (select id from audit_queue order by id limit ${this.batchSize} for update skip locked)
        returning id, actor, action, subject, body,
          to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as time
      `.execute(trx);
      if (taken.rows.length === 0) return { count: 0, headSeq: head?.seq ?? 0 };
      const rows = taken.rows.sort((a, b) => a.id - b.id);
      let seq = head?.seq ?? 0;
      let prevHash = head?.hash ?? GENESIS_HASH;
      const values = rows.map((row) => {
        seq += 1;
        const canonical = encodeEvent({
          v: EVENT_VERSION,
          seq,
          time: row.time,
          actor: row.actor,
          action: row.action,
          subject: row.subject,
          body: JSON.parse(row.body) as Record<string, unknown>,
        });
        const hash = chainHash(prevHash, canonical);
        const value = { seq, canonical, prev_hash: prevHash, hash };
        prevHash = hash;
        return value;
      });
      await trx.insertInto('audit_events').values(values).execute();
      await this.growTree(trx, (head?.seq ?? 0) + 1, values);
      return { count: values.length, headSeq: seq };
    });
    if (batch.count > 0) {
      this.log.debug({ count: batch.count, seq: batch.headSeq }, 'audit events chained');
      this.emit('chained', batch);
    }
    return batch.count;
  }
}
