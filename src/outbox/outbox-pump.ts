import type { ChainedCue } from '../audit/sequencer.ts';
import type { Db } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { claimAllFor, claimDue, markDelivered, postpone } from './outbox.ts';
import { Pump } from './pump.ts';

/** Where the outbox's messages go: it renders and sends each, and says how to retry what failed. */
export interface Destination<M extends { kind: string }> {
  /** Renders and sends one message; throws to have it tried again later. */
  deliver(message: M): Promise<void>;
  /**
   * A kind whose rows are merged by a payload field: however many are queued for one
   * value, it is sent once per round (a busy owner's Home tab is published once, not per change).
   */
  merged?: { kind: M['kind']; by: string; deliver(value: string): Promise<void> };
  /** How long to wait before trying again after this failure (the `attempt`th). */
  retryDelayMs(err: unknown, attempt: number): number;
  /** The failure in a few words, for the log and the row's last error. */
  describe(err: unknown): string;
}

export interface OutboxPumpOptions {
  cue: ChainedCue;
  log: Logger;
  now: () => Date;
  pollMs?: number;
}

/**
 * Delivers the outbox to one destination: rows are claimed with SKIP LOCKED and leased, so
 * replicas share the work; each is marked delivered once the destination has it, or
 * postponed with the destination's backoff (Slack's Retry-After) until it does. Woken by
 * every chained batch, and polling for rows queued by other replicas.
 */
export class OutboxPump<M extends { kind: string }> {
  private readonly pump: Pump;

  constructor(
    private readonly db: Db,
    private readonly destination: Destination<M>,
    private readonly options: OutboxPumpOptions,
  ) {
    const pollMs = options.pollMs ?? 1000;
    this.pump = new Pump({
      round: () => this.deliverDue(),
      failed: (err) => {
        options.log.error({ err }, 'outbox delivery failed');
        return pollMs;
      },
      cue: options.cue,
      now: options.now,
      pollMs,
    });
  }

  start(): void {
    this.pump.start();
  }

  stop(): Promise<void> {
    return this.pump.stop();
  }

  /** Delivers what is due, batch after batch, until nothing is left or `ms` have passed: for shutdown. */
  drain(ms: number): Promise<void> {
    return this.pump.drain(ms);
  }

  /** Claims and delivers the messages that are due; returns how many were delivered. */
  async deliverDue(limit = 20): Promise<number> {
    const merged = this.destination.merged;
    const mergedValues = new Set<string>();
    let delivered = 0;
    for (const row of await claimDue(this.db, limit)) {
      if (merged && row.kind === merged.kind) {
        mergedValues.add(String(row.payload[merged.by]));
        continue;
      }
      try {
        await this.destination.deliver({ kind: row.kind, ...row.payload } as unknown as M);
        await markDelivered(this.db, [row.id]);
        delivered += 1;
      } catch (err) {
        await this.postpone([row.id], row.attempts, err, { notification: row.kind, outboxId: row.id });
      }
    }
    for (const value of mergedValues) delivered += await this.deliverMerged(merged!, value);
    return delivered;
  }

  /**
   * Sends one merged message, covering every queued row of it: those rows are leased first
   * (they committed before the render that follows, so it shows their changes), then marked
   * delivered once the destination has it. If it fails, they wait and are tried again.
   */
  private async deliverMerged(merged: NonNullable<Destination<M>['merged']>, value: string): Promise<number> {
    const rows = await claimAllFor(this.db, merged.kind, merged.by, value);
    const ids = rows.map((row) => row.id);
    try {
      await merged.deliver(value);
    } catch (err) {
      await this.postpone(ids, Math.max(1, ...rows.map((row) => row.attempts)), err, {
        notification: merged.kind,
        [merged.by]: value,
      });
      return 0;
    }
    await markDelivered(this.db, ids);
    return ids.length;
  }

  /** Rows the destination did not take: logged, and tried again after its Retry-After or with backoff. */
  private async postpone(ids: number[], attempts: number, err: unknown, about: Record<string, unknown>): Promise<void> {
    const delay = this.destination.retryDelayMs(err, attempts);
    const why = this.destination.describe(err);
    this.options.log.warn(
      { err: why, ...about, attempt: attempts, retryInMs: delay },
      'notification not delivered; will retry',
    );
    await postpone(this.db, ids, new Date(this.options.now().getTime() + delay), why);
  }
}
