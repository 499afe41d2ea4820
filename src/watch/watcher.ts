import { sql, type Transaction } from 'kysely';
import { raiseAlert } from '../access/alerts.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { ChainedCue } from '../audit/sequencer.ts';
import type { Policy } from '../config/policy.ts';
import type { Db } from '../db/database.ts';
import type { Database } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import { Pump } from '../outbox/pump.ts';
import { readEvents, seqBefore } from './chain.ts';
import type { Facts } from './detector.ts';
import { WatchEngine } from './engine.ts';
import { databaseFacts } from './facts.ts';

export interface WatcherOptions {
  db: Db;
  audit: AuditLog;
  /** The policy in force, read at each round: a new policy rebuilds the detectors. */
  policy: () => Policy;
  cue: ChainedCue;
  log: Logger;
  now: () => Date;
  /** Events read per round. */
  batch?: number;
  /** How often to look when nothing wakes it (events chained by other replicas). */
  pollMs?: number;
  facts?: Facts;
}

/** Commits in flight can put an event's time a little out of seq order: a replay reaches this much further back. */
const REPLAY_MARGIN_MS = 5000;

/**
 * Watches the chain: reads the events after its cursor in seq order, hands each to the
 * detectors, and records what they find as alerts, in one transaction with the cursor's
 * move. The cursor row is locked with SKIP LOCKED for the round, so with several replicas
 * one watches at a time and an event is watched exactly once, across restarts too. The
 * detectors' windows live in memory but come only from the chain: whenever the cursor is
 * not where this process left it (a start, another replica's round, a round that failed),
 * they are rebuilt by replaying the events within their lookback, with what that replay
 * finds thrown away (it was recorded, or not, the first time).
 */
export class Watcher {
  private readonly pump: Pump;
  private readonly batch: number;
  private readonly facts: Facts;
  private engine: WatchEngine | null = null;
  /** The cursor this process's engine has seen up to; null: its memory is not the chain's. */
  private seen: number | null = null;
  /** Rebuilds since start, for tests and the log. */
  rebuilds = 0;

  constructor(private readonly options: WatcherOptions) {
    this.batch = options.batch ?? 2000;
    this.facts = options.facts ?? databaseFacts(options.db);
    this.pump = new Pump({
      round: () => this.round(),
      failed: (err, failures) => {
        const next = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
        this.options.log.error({ err, failures, retryInMs: next }, 'watching the audit chain failed; will retry');
        return next;
      },
      cue: options.cue,
      now: options.now,
      pollMs: options.pollMs ?? 1000,
    });
  }

  start(): void {
    this.pump.start();
  }

  stop(): Promise<void> {
    return this.pump.stop();
  }

  /** Watches the next batch of events, if no other replica is; resolves with how many it read. */
  async round(): Promise<number> {
    let watched: { last: number; count: number } | null;
    try {
      watched = await this.options.audit.transact((trx) => this.watch(trx));
    } catch (err) {
      // Whatever the detectors took in is not on the chain's record: rebuild from the chain.
      this.engine = null;
      this.seen = null;
      throw err;
    }
    if (!watched) return 0;
    // Committed: the memory is the chain's up to here.
    this.seen = watched.last;
    return watched.count;
  }

  private async watch(trx: Transaction<Database>): Promise<{ last: number; count: number } | null> {
    const state = await trx.selectFrom('watch_state').select('cursor_seq').forUpdate().skipLocked().executeTakeFirst();
    // Another replica is watching.
    if (!state) return null;
    const cursor = state.cursor_seq;
    const events = await readEvents(trx, cursor, cursor + this.batch);
    if (events.length === 0) return null;
    const policy = this.options.policy();
    if (!this.engine || this.seen !== cursor || this.engine.policy !== policy)
      this.engine = await this.rebuild(trx, policy, cursor);
    this.seen = null;
    let raised = 0;
    for (const event of events)
      for (const found of await this.engine.observe(event)) if (await raiseAlert(trx, found)) raised += 1;
    const last = events.at(-1)!.seq;
    await trx
      .updateTable('watch_state')
      .set({ cursor_seq: last, updated_at: sql<Date>`now()` })
      .execute();
    if (raised > 0) this.options.log.info({ raised, upTo: last }, 'alerts raised');
    return { last, count: events.length };
  }

  /** Fresh detectors, their windows rebuilt from the chain up to `cursor`. */
  private async rebuild(trx: Transaction<Database>, policy: Policy, cursor: number): Promise<WatchEngine> {
    const engine = new WatchEngine(policy, this.facts, (err, detector, event) =>
      this.options.log.error(
        { err, detector, seq: event.seq, action: event.action },
        'a detector failed on an event; it was skipped for that event',
      ),
    );
    this.rebuilds += 1;
    if (engine.lookbackMs === 0 || cursor === 0) return engine;
    const last = await readEvents(trx, cursor - 1, cursor);
    const until = last[0]?.time ?? this.options.now();
    const from = await seqBefore(trx, new Date(until.getTime() - engine.lookbackMs - REPLAY_MARGIN_MS), cursor);
    const replayed = await readEvents(trx, from, cursor, engine.replayedActions);
    for (const event of replayed) await engine.replay(event);
    this.options.log.debug({ from, cursor, replayed: replayed.length }, 'detector windows rebuilt from the chain');
    return engine;
  }
}
