import type { Transaction } from 'kysely';
import type pg from 'pg';
import type { Db } from '../db/database.ts';
import type { Database } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import type { AuditAction } from './actions.ts';
import { appendEvent } from './append.ts';
import type { VerifyResult } from './checker.ts';
import type { AuditEventInput } from './event.ts';
import { exportChain } from './export.ts';
import { AuditSequencer, type SequencerOptions } from './sequencer.ts';
import type { AnchoredVerifyResult } from './checkpoints/checks.ts';
import { verifyChain, type VerifyOptions } from './verify.ts';
import { verifyAnchored, type AnchoredVerifyOptions } from './checkpoints/verify-anchored.ts';
import { checkCheckpointNotes } from './checkpoints/note-checks.ts';

export interface AuditLogOptions extends SequencerOptions {
  /**
   * Called after each commit that queued events. By default it nudges this log's own
   * sequencer; the running app passes one that wakes the sequencer in its background
   * thread instead, so the chaining work stays off the thread that answers Slack.
   */
  nudge?: () => void;
}

/**
 * The audit log as the rest of Gatehouse sees it: record events with a state change,
 * verify, export. The chain itself is built by the sequencer. It records the actions of
 * actions.ts; test support builds one that also takes made-up `test.*` actions.
 */
export class AuditLog<Action extends string = AuditAction> {
  readonly sequencer: AuditSequencer;

  private readonly nudge: () => void;

  constructor(
    private readonly db: Db,
    private readonly pool: pg.Pool,
    log: Logger,
    options: AuditLogOptions = {},
  ) {
    this.sequencer = new AuditSequencer(db, log.child({ component: 'audit-sequencer' }), options);
    this.nudge = options.nudge ?? (() => this.sequencer.nudge());
  }

  /** Queues an event inside the caller's transaction. */
  append(trx: Transaction<Database> | Db, input: AuditEventInput<Action>): Promise<void> {
    return appendEvent<Action>(trx, input);
  }

  /**
   * Runs `work` in one transaction; events it appends commit with it. After the commit a
   * sequencer is nudged, so the events reach the chain within milliseconds.
   */
  async transact<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    const result = await this.db.transaction().execute(work);
    this.nudge();
    return result;
  }

  /**
   * Runs one statement that queues events along with its change (a data-modifying CTE is
   * atomic on its own, and costs one round trip where a transaction costs several); the
   * sequencer is nudged after it. Build the event rows with `queueRow`.
   */
  async statement<T>(run: (db: Db) => Promise<T>): Promise<T> {
    const result = await run(this.db);
    this.nudge();
    return result;
  }

  /** Records one event in a transaction of its own: a single INSERT, one round trip. */
  async record(input: AuditEventInput<Action>): Promise<void> {
    await appendEvent<Action>(this.db, input);
    this.nudge();
  }

  /** Chains everything committed so far; for tests and commands that read the log next. */
  flush(): Promise<number> {
    return this.sequencer.flush();
  }

  verify(options?: VerifyOptions): Promise<VerifyResult> {
    return verifyChain(this.pool, options);
  }

  /**
   * The chain, then the signed checkpoints and the anchors (see verifyAnchored), then, with
   * the key and a whole chain, every checkpoint's signed note against the Merkle tree, as
   * `audit verify` does: a tree changed under its signed roots would give proofs that fail.
   */
  async verifyAnchored(options: AnchoredVerifyOptions = {}): Promise<AnchoredVerifyResult> {
    const result = await verifyAnchored(this.pool, options);
    if (!options.publicKey || result.failure) return result;
    const notes = await checkCheckpointNotes(this.pool, this.db, options.publicKey);
    result.treeNotes = { checked: notes.checked, withoutNote: notes.withoutNote };
    for (const problem of notes.problems)
      result.problems.push({
        reason: 'bad-note',
        source: `database checkpoint #${problem.id}`,
        seq: problem.seq,
        message: problem.message,
      });
    result.ok &&= notes.ok;
    return result;
  }

  export(file: string): Promise<{ events: number }> {
    return exportChain(this.pool, file);
  }
}
