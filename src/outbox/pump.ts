import type { ChainedCue } from '../audit/sequencer.ts';

export interface PumpOptions {
  /** One round of work; resolves with how much it did (0: nothing was due). */
  round: () => Promise<number>;
  /** A round that threw: logs it and says how long to wait before the next (`failures` in a row, from 1). */
  failed: (err: unknown, failures: number) => number;
  /** Every change that queues work also records an audit event, so a chained batch is the cue to look. */
  cue: ChainedCue;
  now: () => Date;
  /** How long to wait before looking again when a round found nothing (work queued by other replicas). */
  pollMs?: number;
  /** The least time from the end of a round that did work to the start of the next (Slack allows about one post a second per channel). */
  minIntervalMs?: number;
}

/**
 * Runs rounds of delivery: at once after a round that did work or when the cue wakes it,
 * every `pollMs` when there was nothing to do, and after the `failed` delay when a round
 * threw: a wake then does not cut that delay short (a 429's Retry-After is Slack's to set,
 * and events go on being chained meanwhile). One round at a time; a wake during a round
 * makes the next one start at once, or once the failure's delay has passed.
 */
export class Pump {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private wokenWhileRunning = false;
  private stopped = true;
  private failures = 0;
  private lastWorkAt = -Infinity;
  /** After a failed round, no round starts before this (Slack's Retry-After, or the backoff), whatever wakes the pump. */
  private retryAt = -Infinity;
  private readonly pollMs: number;
  private readonly minIntervalMs: number;
  private readonly wake = () => this.schedule(0);

  constructor(private readonly options: PumpOptions) {
    this.pollMs = options.pollMs ?? 1000;
    this.minIntervalMs = options.minIntervalMs ?? 0;
  }

  start(): void {
    this.stopped = false;
    this.options.cue.on('chained', this.wake);
    this.schedule(0);
  }

  /** No more rounds; resolves once the one under way has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.options.cue.off('chained', this.wake);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Runs rounds until one finds nothing to do or `ms` have passed: for shutdown. */
  async drain(ms: number): Promise<void> {
    const deadline = this.options.now().getTime() + ms;
    while (this.options.now().getTime() < deadline) {
      if ((await this.options.round()) === 0) return;
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.running) {
      this.wokenWhileRunning = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    const now = this.options.now().getTime();
    const wait = Math.max(delayMs, this.lastWorkAt + this.minIntervalMs - now, this.retryAt - now);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.wokenWhileRunning = false;
      this.running = this.turn().then((next) => {
        this.running = null;
        this.schedule(this.wokenWhileRunning && this.failures === 0 ? 0 : next);
      });
    }, wait);
  }

  /** One round; resolves with how long to wait before the next. */
  private async turn(): Promise<number> {
    try {
      const done = await this.options.round();
      this.failures = 0;
      this.retryAt = -Infinity;
      if (done === 0) return this.pollMs;
      this.lastWorkAt = this.options.now().getTime();
      return 0;
    } catch (err) {
      this.failures += 1;
      const delay = this.options.failed(err, this.failures);
      this.retryAt = this.options.now().getTime() + delay;
      return delay;
    }
  }
}
