import { sql, type Transaction } from 'kysely';
import { raiseAlert, type AlertInput } from '../access/alerts.ts';
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
  /**
   * Watch only while holding a session advisory lock: one replica watches and keeps its
   * windows warm, the others wait to take over (trying every `leaderRetryMs`). Without it,
   * replicas take turns round by round, each turn a rebuild. Exactly once holds either way
   * (the cursor row's lock); this only saves the rebuilds.
   */
  leadership?: boolean;
  leaderRetryMs?: number;
}

/** Held by the replica that watches, for as long as it does. */
export const WATCHER_LOCK_KEY = 0x7761_7463; // "watc"
/** How often the leader checks that its connection (and so its lock) is still there. */
const LEADER_CHECK_MS = 5000;

/** Commits in flight can put an event's time a little out of seq order: a replay reaches this much further back. */
const REPLAY_MARGIN_MS = 5000;
/** Seqs read per query of a replay. */
const REPLAY_PAGE = 20_000;

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
  /** Rebuilds since start, and the events the last one replayed: for tests and the log. */
  rebuilds = 0;
  replayed = 0;

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

  async stop(): Promise<void> {
    this.leading = false;
    this.wakeLeader?.();
    await this.pump.stop();
    await this.holding;
  }

  private leading = false;
  private holding: Promise<void> | null = null;
  private wakeLeader: (() => void) | null = null;
  private lastTry = -Infinity;

  /** Whether this replica may watch now: always, or while it holds the watcher's lock. */
  private async lead(): Promise<boolean> {
    if (!this.options.leadership || this.leading) return true;
    const now = performance.now();
    if (this.holding || now - this.lastTry < (this.options.leaderRetryMs ?? 5000)) return false;
    this.lastTry = now;
    return new Promise<boolean>((resolve) => {
      this.holding = this.options.db
        .connection()
        .execute(async (conn) => {
          const { rows } = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${WATCHER_LOCK_KEY}) as ok`.execute(
            conn,
          );
          if (!rows[0]?.ok) return resolve(false);
          this.leading = true;
          // Another replica watched until now: this one's memory is not the chain's.
          this.engine = null;
          resolve(true);
          this.options.log.info('watching the audit chain (this replica holds the watcher lock)');
          while (this.leading) {
            await new Promise<void>((wake) => {
              this.wakeLeader = wake;
              setTimeout(wake, LEADER_CHECK_MS).unref();
            });
            // A lost connection lost the lock with it: found here, and watching stops.
            if (this.leading) await sql`select 1`.execute(conn);
          }
          await sql`select pg_advisory_unlock(${WATCHER_LOCK_KEY})`.execute(conn);
        })
        .catch((err: unknown) => {
          if (this.leading) this.options.log.warn({ err }, 'lost the watcher lock; another replica may take over');
          resolve(false);
        })
        .finally(() => {
          this.leading = false;
          this.holding = null;
        });
    });
  }

  /** Watches the next batch of events, if no other replica is; resolves with how many it read. */
  async round(): Promise<number> {
    if (!(await this.lead())) return 0;
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
      for (const found of await this.engine.observe(event)) if (await this.raise(trx, found)) raised += 1;
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
    if (cursor === 0) return engine;
    const last = await readEvents(trx, cursor - 1, cursor);
    const until = (last[0]?.time ?? this.options.now()).getTime();
    let replayed = 0;
    // Each detector from its own lookback, a page at a time: a minute of statements for the
    // database detector, an hour of requests for sprees, never an hour of everything.
    for (const { detector, lookbackMs, actions } of engine.replays) {
      let from = await seqBefore(trx, new Date(until - lookbackMs - REPLAY_MARGIN_MS), cursor);
      while (from < cursor) {
        const to = Math.min(cursor, from + REPLAY_PAGE);
        for (const event of await readEvents(trx, from, to, actions)) {
          await engine.replay(detector, event);
          replayed += 1;
        }
        from = to;
      }
    }
    this.replayed = replayed;
    this.options.log.debug({ cursor, replayed }, 'detector windows rebuilt from the chain');
    return engine;
  }

  /**
   * Records one alert under a savepoint: should recording it fail all the same (its fields
   * are bounded, so it should not), the failure is logged as the error it is and the round
   * goes on, instead of failing at this event for ever and watching nothing after it.
   */
  private async raise(trx: Transaction<Database>, found: AlertInput): Promise<boolean> {
    await sql`savepoint raise_alert`.execute(trx);
    try {
      const id = await raiseAlert(trx, found);
      await sql`release savepoint raise_alert`.execute(trx);
      return id !== null;
    } catch (err) {
      await sql`rollback to savepoint raise_alert`.execute(trx);
      this.options.log.error(
        { err, detector: found.detector, incident: found.incidentKey, evidence: found.evidence.slice(0, 10) },
        'an alert could not be recorded; watching goes on',
      );
      return false;
    }
  }
}
