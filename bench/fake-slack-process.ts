import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export type FakeSlackRequest =
  | { type: 'response-urls'; entries: { id: string; userId: string }[] }
  | { type: 'counts' }
  | { type: 'anchored'; channel: string }
  | { type: 'stop' };

export interface SlackCounts {
  /** Web API calls the app made, by method. */
  calls: Record<string, number>;
  /** Calls the fake answered with `ok: false`. */
  callErrors: number;
  /** response_url posts, by the HTTP status the fake answered. */
  responses: Record<string, number>;
}

export type FakeSlackReply =
  | { type: 'ready'; origin: string; apiUrl: string }
  | { type: 'registered'; count: number }
  | ({ type: 'counts' } & SlackCounts)
  | { type: 'anchored'; seq: number };

/** The fake Slack running in a child process (bench/fake-slack-child.ts), on loopback. */
export class FakeSlackProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly origin: string,
    readonly apiUrl: string,
  ) {}

  static async start(): Promise<FakeSlackProcess> {
    const child = fork(fileURLToPath(new URL('./fake-slack-child.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await FakeSlackProcess.reply(child, 'ready');
    return new FakeSlackProcess(child, ready.origin, ready.apiUrl);
  }

  /** The response_url Slack would put in a command with this id; the fake accepts 5 posts to it. */
  responseUrl(id: string): string {
    return `${this.origin}/response/${encodeURIComponent(id)}`;
  }

  async registerResponseUrls(entries: { id: string; userId: string }[]): Promise<void> {
    this.child.send({ type: 'response-urls', entries } satisfies FakeSlackRequest);
    await FakeSlackProcess.reply(this.child, 'registered');
  }

  async counts(): Promise<SlackCounts> {
    this.child.send({ type: 'counts' } satisfies FakeSlackRequest);
    const { calls, callErrors, responses } = await FakeSlackProcess.reply(this.child, 'counts');
    return { calls, callErrors, responses };
  }

  /** The highest seq a checkpoint posted to `channel` covers (in any post's metadata); 0 when none. */
  async anchoredSeq(channel: string): Promise<number> {
    this.child.send({ type: 'anchored', channel } satisfies FakeSlackRequest);
    return (await FakeSlackProcess.reply(this.child, 'anchored')).seq;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.send({ type: 'stop' } satisfies FakeSlackRequest);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  private static reply<T extends FakeSlackReply['type']>(
    child: ChildProcess,
    type: T,
  ): Promise<Extract<FakeSlackReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: FakeSlackReply) => {
        if (message.type !== type) return;
        cleanup();
        resolve(message as Extract<FakeSlackReply, { type: T }>);
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`the fake Slack process exited (${code}) while the benchmark waited for "${type}"`));
      };
      const cleanup = () => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
    });
  }
}
