/**
 * The alerts benchmark's two processes, from the parent's side: the sequencer
 * (alerts-chain-child.ts) and the watcher (alerts-watch-child.ts). The parent passes each
 * chained batch on to the watcher and each nudge back to the sequencer, as the app's
 * threads do, and asks each for its CPU time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** Detectors over a stretch of the chain, apart from the watcher's rounds. */
export interface PassesResult {
  events: number;
  /** Reading the events as the watcher's rounds do, nothing else. */
  readMs: number;
  /** Reading their canonical text instead, parsed in the process (the view parses it in PostgreSQL). */
  rawReadMs: number;
  /** The detectors over the same events, with their facts read from the database; nothing raised. */
  detectMs: number;
  /** The incidents they found, by detector. */
  findings: Record<string, number>;
}

export interface Usage {
  /** CPU time (user + system) since the process started. */
  cpuMs: number;
  rssMb: number;
}

export type ToChainChild =
  { type: 'start'; id: number } | { type: 'nudge' } | { type: 'cpu'; id: number } | { type: 'stop' };

export type ToWatchChild =
  | { type: 'start'; id: number; policyText: string; batch: number }
  | { type: 'chained' }
  | { type: 'cpu'; id: number }
  | { type: 'passes'; id: number; policyText: string; from: number; to: number; batch: number }
  | { type: 'stop' };

export type FromChild =
  | { type: 'ready' }
  | { type: 'chained'; headSeq: number }
  | { type: 'nudge' }
  | { type: 'started'; id: number; firstRoundMs?: number; lookbacksMs?: number[] }
  | ({ type: 'cpu'; id: number; rebuilds?: number; replays?: number[] } & Usage)
  | ({ type: 'passes'; id: number } & PassesResult);

type Reply<T extends FromChild['type']> = Extract<FromChild, { type: T }>;

/** One child process, forked with tsx, answering requests by id. */
class Child<To extends { type: string }> {
  private nextId = 1;

  private constructor(readonly process: ChildProcess) {}

  static async fork<To extends { type: string }>(file: string, url: string): Promise<Child<To>> {
    const child = fork(fileURLToPath(new URL(file, import.meta.url)), [url], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const made = new Child<To>(child);
    await made.reply('ready', null);
    return made;
  }

  send(message: To): void {
    if (this.process.connected) this.process.send(message);
  }

  /** Sends a request carrying a fresh id and resolves with the answer of `type` to it. */
  ask<T extends FromChild['type']>(type: T, request: (id: number) => To): Promise<Reply<T>> {
    const id = this.nextId++;
    const answer = this.reply(type, id);
    this.send(request(id));
    return answer;
  }

  private reply<T extends FromChild['type']>(type: T, id: number | null): Promise<Reply<T>> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: FromChild) => {
        if (message.type !== type || (id !== null && (message as { id?: number }).id !== id)) return;
        cleanup();
        resolve(message as Reply<T>);
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`a benchmark process exited (${code}) while the parent waited for "${type}"`));
      };
      const cleanup = () => {
        this.process.off('message', onMessage);
        this.process.off('exit', onExit);
      };
      this.process.on('message', onMessage);
      this.process.on('exit', onExit);
    });
  }

  async stop(stopMessage: To): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = once(this.process, 'exit');
    this.send(stopMessage);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}

/** The sequencer in its process; `onChained` hears each batch it chains. */
export class ChainProcess {
  private constructor(private readonly child: Child<ToChainChild>) {}

  static async start(url: string): Promise<ChainProcess> {
    return new ChainProcess(await Child.fork<ToChainChild>('./alerts-chain-child.ts', url));
  }

  onChained(listener: (headSeq: number) => void): void {
    this.child.process.on('message', (message: FromChild) => {
      if (message.type === 'chained') listener(message.headSeq);
    });
  }

  async begin(): Promise<void> {
    await this.child.ask('started', (id) => ({ type: 'start', id }));
  }

  nudge(): void {
    this.child.send({ type: 'nudge' });
  }

  usage(): Promise<Usage> {
    return this.child.ask('cpu', (id) => ({ type: 'cpu', id }));
  }

  stop(): Promise<void> {
    return this.child.stop({ type: 'stop' });
  }
}

/** The watcher in its process, woken by `chain`'s batches and nudging it back. */
export class WatchProcess {
  private constructor(private readonly child: Child<ToWatchChild>) {}

  static async start(url: string, chain: ChainProcess): Promise<WatchProcess> {
    const child = await Child.fork<ToWatchChild>('./alerts-watch-child.ts', url);
    chain.onChained(() => child.send({ type: 'chained' }));
    child.process.on('message', (message: FromChild) => {
      if (message.type === 'nudge') chain.nudge();
    });
    return new WatchProcess(child);
  }

  /** Starts watching; resolves after the first round, with its time and how far back each detector's replay reaches (ms). */
  async begin(policyText: string, batch: number): Promise<{ firstRoundMs: number; lookbacksMs: number[] }> {
    const started = await this.child.ask('started', (id) => ({ type: 'start', id, policyText, batch }));
    return { firstRoundMs: started.firstRoundMs ?? Number.NaN, lookbacksMs: started.lookbacksMs ?? [] };
  }

  usage(): Promise<Usage & { rebuilds: number; replays: number[] }> {
    return this.child
      .ask('cpu', (id) => ({ type: 'cpu', id }))
      .then((u) => ({ cpuMs: u.cpuMs, rssMb: u.rssMb, rebuilds: u.rebuilds ?? 0, replays: u.replays ?? [] }));
  }

  passes(policyText: string, from: number, to: number, batch: number): Promise<PassesResult> {
    return this.child.ask('passes', (id) => ({ type: 'passes', id, policyText, from, to, batch }));
  }

  stop(): Promise<void> {
    return this.child.stop({ type: 'stop' });
  }
}
