import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import type { Logger } from '../log.ts';
import type { AnchoredVerifyResult } from '../audit/checkpoints/checks.ts';
import type { BackgroundData, FromBackground, MetricsJson, ToBackground, VerifyRequest } from './protocol.ts';
import type { ChainedCue } from '../audit/sequencer.ts';

const BOOT = new URL('./thread-boot.mjs', import.meta.url);
const ENTRY = new URL('./worker.ts', import.meta.url).href;
/** After an unexpected exit the thread is started again after this long, doubling while restarts fail, up to a minute. */
const RESTART_DELAY_MS = 1000;
const MAX_RESTART_DELAY_MS = 60_000;
/** A stopping thread that has not ended after this long (its last deliveries included) is ended. */
const STOP_TIMEOUT_MS = 30_000;
/** How long a scrape waits for the background thread's metrics before answering without them. */
const SCRAPE_TIMEOUT_MS = 1_000;

/** Where `log` writes its lines: the background thread's lines are written there too, as they are. */
function lineSink(log: Logger): { write(line: string): unknown } | null {
  const stream = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as
    { write?: (line: string) => unknown } | undefined;
  return stream && typeof stream.write === 'function' ? (stream as { write(line: string): unknown }) : null;
}

/**
 * Runs the background work (src/background/worker.ts) in a worker thread, so the main
 * thread's event loop is left to Slack's requests. The thread sequences the audit log
 * (the main thread nudges it after each commit), and is told when the main thread chained
 * events itself (a flush), writes its log lines through the main thread, and is
 * started again if it ever dies: its work is all driven from the database, so a restart
 * loses nothing.
 */
export class BackgroundThread {
  private worker: Worker | null = null;
  /** Whether the current worker said it is ready. */
  private ready = false;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly sink: { write(line: string): unknown } | null;
  private readonly forward = () => this.post({ type: 'chained' });
  /** Verifications asked of the current worker, by id, until it answers (or ends). */
  private readonly verifying = new Map<
    number,
    { resolve(result: AnchoredVerifyResult): void; reject(err: Error): void }
  >();
  private nextVerifyId = 1;
  private readonly scrapes = new Map<number, (metrics: MetricsJson | null) => void>();
  private nextScrapeId = 1;

  private constructor(
    private readonly data: Omit<BackgroundData, 'entry'>,
    private readonly log: Logger,
    private readonly cue: ChainedCue,
  ) {
    this.sink = lineSink(log);
  }

  /** Starts the thread and resolves once its sweeps caught up and its notifier runs; rejects with its start-up error. */
  static async start(data: Omit<BackgroundData, 'entry'>, log: Logger, cue: ChainedCue): Promise<BackgroundThread> {
    const thread = new BackgroundThread(data, log, cue);
    await thread.spawn();
    cue.on('chained', thread.forward);
    return thread;
  }

  private spawn(): Promise<void> {
    const worker = new Worker(BOOT, {
      workerData: { ...this.data, entry: ENTRY } satisfies BackgroundData,
      name: 'gatehouse-background',
    });
    this.worker = worker;
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: FromBackground) => {
        switch (message.type) {
          case 'log':
            this.sink?.write(message.line);
            return;
          case 'ready':
            ready = true;
            this.ready = true;
            resolve();
            return;
          case 'failed':
            // The thread undid its start before saying so; end it.
            reject(new Error(message.message));
            void worker.terminate();
            return;
          case 'stopped':
            if (message.error) this.log.error({ error: message.error }, 'the background work did not stop cleanly');
            void worker.terminate();
            return;
          case 'metrics':
            this.scrapes.get(message.id)?.(message.metrics);
            this.scrapes.delete(message.id);
            return;
          case 'verified': {
            const waiting = this.verifying.get(message.id);
            this.verifying.delete(message.id);
            if (message.result) waiting?.resolve(message.result);
            else waiting?.reject(new Error(message.error ?? 'the verification failed'));
            return;
          }
        }
      });
      worker.on('error', (err) => {
        this.log.error({ err }, 'the background thread failed');
        if (!ready) reject(err);
      });
      worker.on('exit', (code) => {
        if (this.worker === worker) {
          this.worker = null;
          this.ready = false;
        }
        for (const waiting of this.verifying.values())
          waiting.reject(new Error(`the background thread ended (code ${code}) during the verification`));
        this.verifying.clear();
        if (!ready) {
          reject(new Error(`the background thread exited with code ${code} while starting`));
          return;
        }
        if (this.stopping) return;
        this.scheduleRestart(RESTART_DELAY_MS, code);
      });
    });
  }

  private scheduleRestart(delayMs: number, code: number | null): void {
    this.log.error({ code, restartInMs: delayMs }, 'the background thread stopped unexpectedly; starting it again');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.spawn().catch((err: unknown) => {
        this.log.error({ err }, 'the background thread could not be started again');
        if (!this.stopping) this.scheduleRestart(Math.min(MAX_RESTART_DELAY_MS, delayMs * 2), null);
      });
    }, delayMs);
  }

  /** Whether a started thread is running now (false between a crash and its restart). */
  get running(): boolean {
    return this.worker !== null && this.ready;
  }

  /** Events were committed in the main thread: the background sequencer chains them. */
  nudge(): void {
    this.post({ type: 'nudge' });
  }

  /**
   * Recomputes the chain and checks the checkpoints in the background thread, whose CPU
   * time (seconds for a million events) then does not hold up the acks on this one.
   * Rejects if the thread is not running or ends meanwhile.
   */
  verify(request: VerifyRequest): Promise<AnchoredVerifyResult> {
    if (!this.running) return Promise.reject(new Error('the background thread is not running'));
    const id = this.nextVerifyId++;
    return new Promise((resolve, reject) => {
      this.verifying.set(id, { resolve, reject });
      this.post({ type: 'verify', id, ...request });
    });
  }

  /**
   * The background thread's metrics, for a scrape; null when it is not running or does not
   * answer within a second (a scrape must not hang on a busy thread).
   */
  metrics(): Promise<MetricsJson | null> {
    if (!this.running) return Promise.resolve(null);
    const id = this.nextScrapeId++;
    return new Promise((resolve) => {
      const timeout = setTimeout(() => {
        this.scrapes.delete(id);
        resolve(null);
      }, SCRAPE_TIMEOUT_MS);
      this.scrapes.set(id, (metrics) => {
        clearTimeout(timeout);
        resolve(metrics);
      });
      this.post({ type: 'metrics', id });
    });
  }

  private post(message: ToBackground): void {
    this.worker?.postMessage(message);
  }

  /** Stops the sweeps, the notifier and the feed, letting runs in flight finish, and ends the thread. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.cue.off('chained', this.forward);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (!worker) return;
    const exited = once(worker, 'exit');
    this.post({ type: 'stop' });
    const overdue = setTimeout(() => {
      this.log.error({ afterMs: STOP_TIMEOUT_MS }, 'the background thread did not stop in time; ending it');
      void worker.terminate();
    }, STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(overdue);
  }
}
