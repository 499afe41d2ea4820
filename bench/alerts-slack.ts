/** The alerts benchmark's fake Slack (alerts-slack-child.ts), from the parent's side. */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { FromSlackChild, ToSlackChild } from './alerts-slack-child.ts';
import { ALERT_CHANNEL } from './alerts-world.ts';

/** The fake Slack in its process, with the time each message reached the alert channel, by ts. */
export class AlertChannelWatch {
  readonly postedAt = new Map<string, number>();

  private constructor(
    private readonly child: ChildProcess,
    readonly apiUrl: string,
  ) {
    child.on('message', (message: FromSlackChild) => {
      if (message.type === 'posted') this.postedAt.set(message.ts, message.at);
    });
  }

  static async start(): Promise<AlertChannelWatch> {
    const child = fork(fileURLToPath(new URL('./alerts-slack-child.ts', import.meta.url)), [ALERT_CHANNEL], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const [ready] = (await once(child, 'message')) as [FromSlackChild];
    if (ready.type !== 'ready') throw new Error('the fake Slack process did not start');
    return new AlertChannelWatch(child, ready.apiUrl);
  }

  async calls(): Promise<Record<string, number>> {
    const answer = new Promise<Record<string, number>>((resolve) => {
      const onMessage = (message: FromSlackChild) => {
        if (message.type !== 'calls') return;
        this.child.off('message', onMessage);
        resolve(message.calls);
      };
      this.child.on('message', onMessage);
    });
    this.child.send({ type: 'calls' } satisfies ToSlackChild);
    return answer;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.send({ type: 'stop' } satisfies ToSlackChild);
    await exited;
  }
}
