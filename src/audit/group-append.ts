import type { Db } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { queueRow } from './append.ts';
import type { AuditEventInput } from './event.ts';

interface Waiting {
  /** Null for a mark (commitQueued): it waits on the commit of what is before it, and inserts nothing. */
  row: ReturnType<typeof queueRow> | null;
  done?: { resolve: () => void; reject: (err: Error) => void };
}

/** Longest an event nothing waits on waits for a commit to join before it starts one. */
const LATER_MS = 20;
/**
 * Commits in flight at once: one. The sequencer chains the queue's rows in id order as they
 * become visible, so two commits in flight could chain a later batch before an earlier one
 * and put a statement before its predecessor's outcome, or a session's end before its last
 * statement. One in flight keeps each session's events on the chain in the order they
 * happened (measured: four in flight gave about 30 % more commits a second, not more).
 */
const MAX_IN_FLIGHT = 1;
/** After a failed commit, events kept for a later try wait this long before the next (unless an append comes). */
const RETRY_MS = 1_000;
/** Events kept for a later try at most, while the log cannot be written; the oldest go first, logged. */
const MAX_KEPT = 10_000;

/**
 * Group commit into the audit log's queue, for callers that record at a high rate from
 * many places at once (the gateway's statements). `append` resolves once its event is
 * committed. Events that arrive while a commit is in flight go together into the next,
 * as one INSERT: N sessions pay for one commit each round, not N. `appendLater`
 * is for records nothing waits on (a statement's outcome): they ride with the next commit,
 * and are kept and tried again when one fails.
 */
export class GroupAppender {
  private queue: Waiting[] = [];
  /** Commits in flight: at most `maxInFlight` (MAX_IN_FLIGHT says why one). */
  private readonly flushing = new Set<Promise<void>>();
  private later: NodeJS.Timeout | null = null;
  /** The last commit failed: kept events are tried again after RETRY_MS, not at once. */
  private failing = false;
  private closed = false;
  /** How many commits, and how many events they carried, for the benchmark. */
  readonly stats = { commits: 0, events: 0 };

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly maxInFlight = MAX_IN_FLIGHT,
  ) {}

  /** Resolves when the event is committed; rejects when it cannot be (the caller must then not act). */
  append(input: AuditEventInput): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the audit log is closed'));
    return new Promise<void>((resolve, reject) => {
      // An event that cannot be encoded rejects like a failed commit: the caller must not act.
      this.queue.push({ row: queueRow(input), done: { resolve, reject } });
      this.kick();
    });
  }

  /**
   * Queues the event with the next commit, which an `append` starts (the next statement
   * carries its predecessor's outcome) or, if none comes, a timer LATER_MS on. If that
   * commit fails the event is kept for the one after.
   */
  appendLater(input: AuditEventInput): void {
    if (this.closed) {
      this.log.error({ action: input.action, subject: input.subject }, 'an audit event came after the log was closed');
      return;
    }
    let row: ReturnType<typeof queueRow>;
    try {
      row = queueRow(input);
    } catch (err) {
      // Nothing waits to be told: say so here, and never throw into the caller's work.
      this.log.error({ err, action: input.action, subject: input.subject }, 'an audit event could not be recorded');
      return;
    }
    this.queue.push({ row });
    this.later ??= setTimeout(() => {
      this.later = null;
      this.kick();
    }, LATER_MS);
  }

  /**
   * Commits what is queued now, appendLater's events included, without waiting for their
   * timer: resolves once they are committed, rejects if that commit fails (they are kept).
   * For a caller about to record, in a transaction of its own, an event that must come
   * after them on the chain (a session's end after its last statement's outcome).
   */
  commitQueued(): Promise<void> {
    if (this.queue.length === 0 && this.flushing.size === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('the audit log is closed'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ row: null, done: { resolve, reject } });
      this.kick();
    });
  }

  /** Commits what is queued and stops taking new events. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.later) clearTimeout(this.later);
    this.later = null;
    while (this.flushing.size > 0) await Promise.all(this.flushing);
    if (this.queue.length > 0) await this.flush();
    const lost = this.queue.filter((item) => !item.done).length;
    if (lost > 0) this.log.error({ lost }, 'gateway records could not be written to the audit log before shutdown');
  }

  private kick(): void {
    if (this.flushing.size >= this.maxInFlight || this.queue.length === 0) return;
    const flushing: Promise<void> = this.flush().finally(() => {
      this.flushing.delete(flushing);
      // What someone waits on goes next at once; the rest when the timer or an append comes.
      if (this.queue.some((item) => item.done)) this.kick();
      else if (this.queue.length > 0)
        this.later ??= setTimeout(
          () => {
            this.later = null;
            this.kick();
          },
          this.failing ? RETRY_MS : LATER_MS,
        );
    });
    this.flushing.add(flushing);
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const rows = batch.flatMap((item) => (item.row ? [item.row] : []));
    try {
      if (rows.length > 0) await this.db.insertInto('audit_queue').values(rows).execute();
      this.failing = false;
      this.stats.commits += rows.length > 0 ? 1 : 0;
      this.stats.events += rows.length;
      for (const item of batch) item.done?.resolve();
    } catch (err) {
      this.failing = true;
      const error = err instanceof Error ? err : new Error(String(err));
      for (const item of batch) item.done?.reject(error);
      const kept = batch.filter((item) => !item.done);
      this.queue = [...kept, ...this.queue];
      if (this.queue.length > MAX_KEPT) {
        const dropped = this.queue.splice(0, this.queue.length - MAX_KEPT);
        this.log.error({ dropped: dropped.length }, 'gateway outcome records dropped: the audit log was unavailable');
      }
      this.log.warn({ err: error.message, events: batch.length }, 'the audit log could not record gateway events');
    }
  }
}
