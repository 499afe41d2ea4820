import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** The checkout: children run from here, as an operator would run them. */
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr together, for "never appears anywhere" checks. */
  output: string;
}

interface LineWaiter {
  test: (line: string) => boolean;
  resolve: (line: string) => void;
  reject: (err: Error) => void;
}

const live = new Set<Child>();

/**
 * A process started by a test, whose output lines and exit can be awaited. Every line of
 * stdout and stderr is kept, so a waiter that arrives late still sees earlier lines.
 */
export class Child {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private readonly process: ChildProcess;
  private readonly lines: string[] = [];
  private readonly partial = { stdout: '', stderr: '' };
  private waiters: LineWaiter[] = [];
  private exit: Exit | null = null;

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.process = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    this.process.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.take('stdout', chunk));
    this.process.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.take('stderr', chunk));
    this.exited = new Promise((resolve, reject) => {
      this.process.once('error', reject);
      // 'close' comes after both pipes have ended, so the output is complete.
      this.process.once('close', (code, signal) => {
        live.delete(this);
        for (const stream of ['stdout', 'stderr'] as const) {
          if (this.partial[stream]) this.addLine(this.partial[stream]);
          this.partial[stream] = '';
        }
        this.exit = {
          code,
          signal,
          stdout: this.stdout,
          stderr: this.stderr,
          output: `${this.stdout}\n${this.stderr}`,
        };
        for (const waiter of this.waiters)
          waiter.reject(
            new Error(
              `the process exited (${describeExit(this.exit)}) before printing the line awaited\n${this.exit.output}`,
            ),
          );
        this.waiters = [];
        resolve(this.exit);
      });
    });
  }

  /** The first line (of stdout or stderr) that passes `test`, printed before or after the call. */
  waitForLine(test: (line: string) => boolean): Promise<string> {
    const seen = this.lines.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.exit)
      return Promise.reject(new Error(`the process has exited (${describeExit(this.exit)})\n${this.exit.output}`));
    return new Promise((resolve, reject) => this.waiters.push({ test, resolve, reject }));
  }

  /** Sends `signal` and waits for the process to end. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    if (!this.exit) this.process.kill(signal);
    return this.exited;
  }

  private take(stream: 'stdout' | 'stderr', chunk: string): void {
    this[stream] += chunk;
    const parts = (this.partial[stream] + chunk).split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const line of parts) this.addLine(line);
  }

  private addLine(line: string): void {
    this.lines.push(line);
    const matched = this.waiters.filter((waiter) => waiter.test(line));
    this.waiters = this.waiters.filter((waiter) => !matched.includes(waiter));
    for (const waiter of matched) waiter.resolve(line);
  }
}

function describeExit(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/** Starts `node <args>` in the checkout. */
export function startNode(args: string[], env: NodeJS.ProcessEnv): Child {
  return new Child(args, env);
}

/** Runs `node <args>` in the checkout to its end. */
export function runNode(args: string[], env: NodeJS.ProcessEnv): Promise<Exit> {
  return new Child(args, env).exited;
}

/** Kills (SIGKILL) whatever a failed test left running; for afterAll. */
export async function killLeftoverChildren(): Promise<void> {
  await Promise.all([...live].map((child) => child.stop('SIGKILL')));
}

/**
 * The environment a child gets: this one without any Gatehouse, Slack or database
 * setting (so the developer's shell cannot leak into a test), plus `settings`.
 */
export function childEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(SLACK_|GATEHOUSE_|AUDIT_)/.test(key)) continue;
    if (['DATABASE_URL', 'TEST_DATABASE_URL', 'PORT', 'LOG_LEVEL', 'NODE_OPTIONS'].includes(key)) continue;
    env[key] = value;
  }
  return { ...env, ...settings };
}

/** A TCP port free a moment ago: listen on port 0, note the port, close. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('the probe server has no port');
  return address.port;
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** pino's level numbers, for reading JSON log lines. */
export const LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** The pino JSON lines in `text`; other lines are skipped. */
export function logLines(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}
