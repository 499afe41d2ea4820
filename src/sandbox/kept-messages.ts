import fs from 'node:fs/promises';
import type { Logger } from '../log.ts';
import type { FakeSlack, SlackMessage } from './fake-slack/fake-slack.ts';

/**
 * The stand-in's channels in a file beside the sandbox's embedded database, so that after
 * a restart the audit channel and the DMs still show what the audit chain holds (and the
 * checkpoints posted there still anchor it). Written after changes, one write at a time.
 */
export class KeptMessages {
  private writing: Promise<void> = Promise.resolve();
  private queued = false;
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly fake: FakeSlack,
    private readonly file: string,
    private readonly log: Logger,
  ) {
    this.unsubscribe = fake.onChange(() => this.schedule());
  }

  static async open(fake: FakeSlack, file: string, log: Logger): Promise<KeptMessages> {
    const kept = await readKept(file);
    if (kept.length > 0) {
      fake.restoreMessages(kept);
      log.info({ file, messages: kept.length }, 'sandbox: channels restored from the last run');
    }
    return new KeptMessages(fake, file, log);
  }

  /** Stops listening and writes what the channels hold now. */
  async close(): Promise<void> {
    this.unsubscribe();
    this.schedule();
    await this.writing;
  }

  private schedule(): void {
    if (this.queued) return;
    this.queued = true;
    this.writing = this.writing.then(async () => {
      this.queued = false;
      const temporary = `${this.file}.tmp`;
      try {
        await fs.writeFile(temporary, JSON.stringify(this.fake.allMessages()));
        await fs.rename(temporary, this.file);
      } catch (err) {
        this.log.warn({ err, file: this.file }, 'sandbox: could not keep the channels for the next run');
      }
    });
  }
}

async function readKept(file: string): Promise<SlackMessage[]> {
  try {
    const value: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
    return Array.isArray(value) ? (value as SlackMessage[]) : [];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(
      `The sandbox's kept channels in ${file} cannot be read (${(err as Error).message}): delete the file to start the channels afresh.`,
    );
  }
}
