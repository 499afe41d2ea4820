/** The Slack world (chaos/slack-world.ts) in its own process, driven over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { WorldReply, WorldReport, WorldRequest, WorldSettings } from './slack-protocol.ts';

export class WorldProcess {
  private constructor(
    private readonly child: ChildProcess,
    /** SLACK_API_URL for the replicas: the fake's Web API behind the fault front. */
    readonly apiUrl: string,
  ) {}

  static async start(settings: WorldSettings): Promise<WorldProcess> {
    const child = fork(fileURLToPath(new URL('./slack-world.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, CHAOS_WORLD: JSON.stringify(settings) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await reply(child, 'ready');
    return new WorldProcess(child, ready.apiUrl);
  }

  async enrol(): Promise<number> {
    this.child.send({ type: 'enrol' } satisfies WorldRequest);
    return (await reply(this.child, 'enrolled')).users;
  }

  /** Starts the load; the promise resolves when it is over (every story ended or gave up). */
  load(seconds: number, quietTailSeconds: number): Promise<void> {
    const done = reply(this.child, 'load-done');
    this.child.send({ type: 'load', seconds, quietTailSeconds } satisfies WorldRequest);
    return done.then(() => undefined);
  }

  /** Every Web API call fails (429 and 500 in turn) for `ms`; resolves when it is over, with how many did. */
  async slackFault(ms: number): Promise<number> {
    const over = reply(this.child, 'fault-over');
    this.child.send({ type: 'fault', ms } satisfies WorldRequest);
    return (await over).failed;
  }

  async report(): Promise<WorldReport> {
    const answer = reply(this.child, 'report');
    this.child.send({ type: 'report' } satisfies WorldRequest);
    return (await answer).report;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.send({ type: 'stop' } satisfies WorldRequest);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

function reply<T extends WorldReply['type']>(child: ChildProcess, type: T): Promise<Extract<WorldReply, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: WorldReply) => {
      if (message.type === 'error') {
        cleanup();
        reject(new Error(`the Slack world failed: ${message.message}`));
        return;
      }
      if (message.type !== type) return;
      cleanup();
      resolve(message as Extract<WorldReply, { type: T }>);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`the Slack world process exited (${code}) while the run waited for "${type}"`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}
