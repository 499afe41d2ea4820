import { LIVE_GRANT_STATUSES } from '../access/types.ts';
import type { Db } from '../db/database.ts';
import { Listener } from '../db/listener.ts';
import type { Logger } from '../log.ts';

/** The channel migration 0007's trigger notifies when grants are added or an end moves. */
export const GRANT_ENDS_CHANNEL = 'gatehouse_grant_ends';

/** Longest the timer sleeps before it looks again, whatever it was told. */
const MAX_SLEEP_MS = 60_000;
/** A due grant another replica holds, or a failed run: look again after this long. */
const RETRY_MS = 200;
/** After a look that failed (the database unreachable): try again after this long. */
const FAILED_LOOK_MS = 1_000;

export interface ExpiryTimerOptions {
  db: Db;
  /** For the connection that LISTENs (a pool's connections come and go). */
  databaseUrl: string;
  /** Ends the grants that are due; returns how many it ended. */
  endDue: () => Promise<number>;
  log: Logger;
  now?: () => number;
}

/**
 * Ends each grant on the instant it is due, instead of at the next sweep tick: a timer is
 * armed for the earliest end of a live grant, and re-armed when it fires and whenever a
 * grant is added or an end moves, on this replica or another (a NOTIFY from the grants
 * table's trigger, on a connection of its own). Claiming is the sweep's (SKIP LOCKED), so
 * replicas whose timers fire together split the work; the sweep stays as the backstop
 * for anything missed while the listening connection was down.
 */
export class ExpiryTimer {
  private timer: NodeJS.Timeout | null = null;
  private readonly listener: Listener;
  private running: Promise<void> | null = null;
  /** Set when asked to look again while a look is under way. */
  private again = false;
  private stopped = true;
  private readonly now: () => number;

  constructor(private readonly options: ExpiryTimerOptions) {
    this.now = options.now ?? Date.now;
    this.listener = new Listener({
      databaseUrl: options.databaseUrl,
      channel: GRANT_ENDS_CHANNEL,
      applicationName: 'gatehouse-expiry-timer',
      onNotify: () => this.rearm(),
      // Look again once listening: a change may have come while it was not.
      onReconnected: () => this.rearm(),
      log: options.log,
      lostMessage:
        'the expiry timer has no database connection to listen on; it tries again, and the sweep ends grants meanwhile',
    });
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.listener.start();
    this.rearm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await this.listener.stop();
  }

  /** Looks for the earliest end again (after a change, or when the timer fires). */
  rearm(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.look().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.rearm();
      }
    });
  }

  /** Ends what is due, then sleeps until the next end (or MAX_SLEEP_MS). */
  private async look(): Promise<void> {
    let delay: number;
    try {
      let next = await this.earliestEnd();
      if (next !== null && next <= this.now()) {
        const ended = await this.options.endDue();
        next = await this.earliestEnd();
        // Something still due after a run that ended nothing: another replica holds it (or
        // it cannot be claimed now), so look again a little later. After a run that ended
        // some, what is due now fell due meanwhile (or was past the run's limit): at once.
        if (ended === 0 && next !== null && next <= this.now()) next = this.now() + RETRY_MS;
      }
      delay = next === null ? MAX_SLEEP_MS : Math.min(MAX_SLEEP_MS, Math.max(0, next - this.now()));
    } catch (err) {
      this.options.log.warn({ err }, 'the expiry timer could not look for due grants; the sweep ends them meanwhile');
      delay = FAILED_LOOK_MS;
    }
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.rearm();
    }, delay);
  }

  private async earliestEnd(): Promise<number | null> {
    const row = await this.options.db
      .selectFrom('grants')
      .select((eb) => eb.fn.min('ends_at').as('next'))
      .where('status', 'in', LIVE_GRANT_STATUSES)
      .executeTakeFirst();
    return row?.next ? new Date(row.next).getTime() : null;
  }
}
