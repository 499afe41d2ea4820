import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../log.ts';
import { sweepSeconds } from '../metrics/metrics.ts';

export interface Job {
  name: string;
  /** node-cron pattern, seconds first: `* * * * * *` runs every second. */
  pattern: string;
  run: () => Promise<unknown>;
}

/**
 * Runs the sweeps with node-cron. A run never overlaps the previous run of the same job, a
 * failing run is logged and tried again at the next tick, and stop() waits for runs in
 * flight. Several replicas may run the same jobs: each job claims its rows with
 * FOR UPDATE SKIP LOCKED, so the work is split, never repeated.
 */
export class Scheduler {
  private readonly tasks: ScheduledTask[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly jobs: Job[],
    private readonly log: Logger,
  ) {}

  start(): void {
    for (const job of this.jobs) {
      const task = cron.schedule(job.pattern, () => this.runOnce(job), {
        name: job.name,
        noOverlap: true,
        suppressMissedWarning: true,
        logger: this.cronLogger(job.name),
      });
      this.tasks.push(task);
    }
  }

  /** Runs a job now, outside its schedule: at start-up, to catch up on downtime, and in tests. */
  async runOnce(job: Job): Promise<void> {
    const timer = sweepSeconds.startTimer({ job: job.name });
    const run = job.run().then(
      (result) => {
        timer({ outcome: 'ok' });
        if (typeof result === 'number' && result > 0)
          this.log.debug({ job: job.name, count: result }, 'sweep did work');
      },
      (err: unknown) => {
        timer({ outcome: 'error' });
        this.log.error({ err, job: job.name }, 'sweep failed; it runs again at its next tick');
      },
    );
    this.inFlight.add(run);
    try {
      await run;
    } finally {
      this.inFlight.delete(run);
    }
  }

  async runAll(): Promise<void> {
    for (const job of this.jobs) await this.runOnce(job);
  }

  /** node-cron's own messages, through pino. A tick skipped because the last run is still going is expected under load. */
  private cronLogger(job: string) {
    const log = this.log.child({ job });
    return {
      info: (message: string) => log.debug(message),
      warn: (message: string) => log.debug(message),
      error: (message: string | Error, err?: Error) => log.error({ err: err ?? message }, 'node-cron error'),
      debug: (message: string | Error) => log.debug(String(message)),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.tasks.map(async (task) => task.destroy()));
    this.tasks.length = 0;
    await Promise.all([...this.inFlight]);
  }
}

/** A node-cron pattern for "every `seconds` seconds" (1–59), or every `seconds / 60` minutes. */
export function everySeconds(seconds: number): string {
  if (seconds < 60) return seconds === 1 ? '* * * * * *' : `*/${seconds} * * * * *`;
  return `0 */${Math.max(1, Math.round(seconds / 60))} * * * *`;
}
