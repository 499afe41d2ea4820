/**
 * Three (or CHAOS_REPLICAS) Gatehouse replicas, each the real app as production runs it
 * (`node --import tsx src/main.ts`, HTTP mode) in a child process of its own, on a fixed
 * port so that a replica killed with SIGKILL comes back where the load balancer expects it.
 */
import fs from 'node:fs/promises';
import { childEnv, freePort, logLines, startNode, type Child, type LogLine } from '../test/support/process.ts';

export interface Replica {
  name: string;
  port: number;
  /** Where its database gateway listens (GATEHOUSE_GATEWAY_LISTEN). */
  gatewayPort: number;
  /** Where Slack's requests go: `http://127.0.0.1:<port>/slack/events`. */
  eventsUrl: string;
  /** True while a process runs (false between a kill and its restart). */
  up: boolean;
  /** How many times it was started (1 + restarts). */
  starts: number;
}

export class Replicas {
  readonly replicas: Replica[];
  private readonly children = new Map<string, Child>();
  /** warn/error/fatal log lines of every run of every replica, by message. */
  readonly problems: Record<string, number> = {};

  private constructor(
    ports: { port: number; gatewayPort: number }[],
    private readonly env: Record<string, string>,
    private readonly logFile: string,
  ) {
    this.replicas = ports.map(({ port, gatewayPort }, i) => ({
      name: `replica-${i + 1}`,
      port,
      gatewayPort,
      eventsUrl: `http://127.0.0.1:${port}/slack/events`,
      up: false,
      starts: 0,
    }));
  }

  static async start(count: number, env: Record<string, string>, logFile: string): Promise<Replicas> {
    const ports: { port: number; gatewayPort: number }[] = [];
    for (let i = 0; i < count; i++) ports.push({ port: await freePort(), gatewayPort: await freePort() });
    const replicas = new Replicas(ports, env, logFile);
    // One at a time: the first applies the migrations.
    for (const replica of replicas.replicas) await replicas.launch(replica);
    return replicas;
  }

  /**
   * Starts `replica` and resolves once its /readyz answers 200. A start that fails (the
   * database or Slack down at that moment: start-up stops with an error, by design) is
   * started again 2 s later, as an orchestrator restarts a crashed pod. Resolves with how
   * many starts failed.
   */
  async launch(replica: Replica): Promise<number> {
    const deadline = Date.now() + 300_000;
    let failedStarts = 0;
    for (;;) {
      const child = startNode(
        ['--import', 'tsx', 'src/main.ts'],
        childEnv({
          ...this.env,
          PORT: String(replica.port),
          GATEHOUSE_GATEWAY_LISTEN: `127.0.0.1:${replica.gatewayPort}`,
          LOG_LEVEL: 'warn',
        }),
      );
      this.children.set(replica.name, child);
      replica.starts += 1;
      let exited = false;
      void child.exited.then((exit) => {
        exited = true;
        return this.collect(replica, exit.output, exit.signal ?? String(exit.code));
      });
      for (;;) {
        if ((await readyz(replica.port)) === 200) {
          replica.up = true;
          return failedStarts;
        }
        if (exited) break;
        if (Date.now() > deadline) throw new Error(`${replica.name} was not ready within 300 s`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      failedStarts += 1;
      if (Date.now() > deadline) throw new Error(`${replica.name} did not start within 300 s`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  /** `kill -9`: the process ends at once, mid-whatever it was doing. */
  async kill(replica: Replica): Promise<void> {
    replica.up = false;
    await this.children.get(replica.name)?.stop('SIGKILL');
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      this.replicas.map(async (replica) => {
        replica.up = false;
        await this.children.get(replica.name)?.stop('SIGTERM');
      }),
    );
  }

  /** The /readyz status of each replica (0 when it does not answer). */
  async readiness(): Promise<{ name: string; status: number }[]> {
    return Promise.all(this.replicas.map(async (r) => ({ name: r.name, status: await readyz(r.port) })));
  }

  private async collect(replica: Replica, output: string, how: string): Promise<void> {
    await fs.appendFile(this.logFile, `--- ${replica.name} run ${replica.starts} ended (${how})\n${output}\n`);
    for (const text of output.split('\n')) {
      // A line cut short by SIGKILL is not JSON: skipped.
      let line: LogLine | undefined;
      try {
        line = logLines(text)[0];
      } catch {
        continue;
      }
      if (line && line.level >= 40) this.problems[line.msg] = (this.problems[line.msg] ?? 0) + 1;
    }
  }
}

export async function readyz(port: number): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}
