import type { Logger } from '../log.ts';

/**
 * How to undo what a start got as far as doing: each part, once started, pushes how to
 * stop it; `stop` runs those steps newest first, on a failed start and at shutdown. A step
 * that fails is logged and the rest still run, so one stuck part never keeps a pool or a
 * database open. Stopping twice runs the steps once.
 */
export class ShutdownStack {
  private readonly steps: (() => Promise<unknown>)[] = [];
  private stopping: Promise<void> | null = null;

  /** `failure` is what the log says when a step fails. */
  constructor(
    private readonly log: Logger,
    private readonly failure = 'shutdown step failed',
  ) {}

  push(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }

  stop(): Promise<void> {
    this.stopping ??= this.unwind();
    return this.stopping;
  }

  private async unwind(): Promise<void> {
    for (const step of this.steps.splice(0).reverse())
      await step().catch((err: unknown) => this.log.error({ err }, this.failure));
  }
}
