/**
 * The database gateway (issue 13): pgbench's select-only load directly on PostgreSQL and
 * through the gateway, in the same run, with Gatehouse's bare commit latency beside it
 * (the gateway commits each statement's record before it sends the statement on); then
 * grant end → session closed for many live sessions. Results: docs/benchmarks.md §6.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { GroupAppender } from '../src/audit/group-append.ts';
import { verifyChain } from '../src/audit/verify.ts';
import { createPool } from '../src/db/database.ts';
import { silentLogger } from '../src/log.ts';
import type { BenchServer } from './cluster.ts';
import { benchEnds, type EndsResults } from './gateway-ends.ts';
import { pgbench, PGBENCH_MODES, type PgbenchMode, type PgbenchRun } from './gateway-pgbench.ts';
import { contractor, startGatewayWorld, type Endpoint, type GatewayWorld } from './gateway-world.ts';
import { busyPercent, machineCpu, waitForQuiet } from './machine-cpu.ts';
import { summarize, type Summary } from './percentiles.ts';

export const CLIENT_COUNTS = [1, 16] as const;
/** How long the chain may take to catch up after a run before the bench goes on regardless. */
const DRAIN_LIMIT_MS = 120_000;
/** Before each pair of runs, the longest wait for a quiet machine (the first pair waits up to 60 s). */
const PAIR_QUIET_WAIT_MS = 10_000;

export interface GatewayBenchOptions {
  seconds: number;
  modes: PgbenchMode[];
  sessions: number;
  sessionGrants: number;
  commits: number;
  pgbench: string;
}

/** The gateway's side of one run through it. */
export interface GatewaySide {
  /** process.cpuUsage over the run, as % of one core. */
  cpuPercent: number;
  rssPeakMb: number;
  /** Group commits of the records, and the events they carried. */
  commits: number;
  events: number;
  /** Statements the gateway put on the record (its sessions' own counts), and how many the chain holds. */
  statements: number;
  onChain: number;
  sessions: string[];
  /** Events chained per second during the run, what was still queued when it ended, and the time to chain that. */
  chainedPerSecond: number;
  queuedAtEnd: number;
  drainSeconds: number;
}

export interface LoadRun {
  mode: PgbenchMode;
  clients: number;
  path: 'direct' | 'gateway';
  pgbench: PgbenchRun;
  gateway: GatewaySide | null;
  machineBusy: number | null;
  load1: number;
}

export interface GatewayResults {
  seconds: number;
  /** Measured before the load and after it. */
  commitFloor: [CommitFloor, CommitFloor];
  idleRssMb: number;
  runs: LoadRun[];
  ends: EndsResults;
  chain: { ok: boolean; events: number };
}

const whole = (env: NodeJS.ProcessEnv, key: string, fallback: number, min: number, max: number): number => {
  const value = Number(env[key] ?? fallback);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`${key} must be a whole number from ${min} to ${max}`);
  return value;
};

/** The BENCH_GATEWAY_* settings (bench/run.ts lists them), checked. */
export function parseGatewayOptions(env: NodeJS.ProcessEnv): GatewayBenchOptions {
  const modes = (env.BENCH_GATEWAY_MODES ?? PGBENCH_MODES.join(',')).split(',').map((mode) => mode.trim());
  for (const mode of modes)
    if (!(PGBENCH_MODES as readonly string[]).includes(mode))
      throw new Error(`BENCH_GATEWAY_MODES: unknown mode "${mode}"; choose from ${PGBENCH_MODES.join(', ')}`);
  const sessionGrants = whole(env, 'BENCH_GATEWAY_GRANTS', 10, 1, 1000);
  return {
    seconds: whole(env, 'BENCH_GATEWAY_SECONDS', 5, 1, 600),
    modes: modes as PgbenchMode[],
    sessions: whole(env, 'BENCH_GATEWAY_SESSIONS', 100, sessionGrants, 200),
    sessionGrants,
    commits: whole(env, 'BENCH_GATEWAY_COMMITS', 1000, 1, 1_000_000),
    pgbench: env.BENCH_PGBENCH ?? '/usr/lib/postgresql/15/bin/pgbench',
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const rssMb = () => process.memoryUsage.rss() / 2 ** 20;

/** What one recorded statement costs at least, one at a time on Gatehouse's database, ms. */
export interface CommitFloor {
  /** A single-row INSERT into a scratch table, autocommitted: the bare commit. */
  insert: Summary;
  /** The gateway's own record of a statement, alone: GroupAppender.append, as a session awaits it. */
  record: Summary;
}

async function commitFloor(world: GatewayWorld, n: number): Promise<CommitFloor> {
  const client = new pg.Client({ connectionString: world.gatehouseUrl });
  await client.connect();
  const insert: number[] = [];
  try {
    await client.query('create table bench_commit_floor (id bigserial primary key, note text not null)');
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      await client.query('insert into bench_commit_floor (note) values ($1)', [`commit ${i}`]);
      insert.push(performance.now() - started);
    }
  } finally {
    await client.query('drop table if exists bench_commit_floor').catch(() => undefined);
    await client.end();
  }
  const recorder = new GroupAppender(world.db, silentLogger());
  const record: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await recorder.append({
      actor: contractor(0),
      action: 'gateway.statement',
      subject: 'bench_commit_floor',
      body: { n: i + 1, via: 'simple', sql: `SELECT abalance FROM pgbench_accounts WHERE aid = ${1 + i};` },
    });
    record.push(performance.now() - started);
  }
  await recorder.close();
  return { insert: summarize(insert), record: summarize(record) };
}

/** The audit sequencer in a child process at nice 10, as the app's background thread runs it. */
async function startChainer(url: string) {
  const child = fork(fileURLToPath(new URL('./gateway-chain-child.ts', import.meta.url)), [url], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await once(child, 'message');
  try {
    os.setPriority(child.pid!, 10);
  } catch {
    // not allowed here: it runs at the bench's priority
  }
  return {
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function benchGateway(server: BenchServer, options: GatewayBenchOptions): Promise<GatewayResults> {
  const world = await startGatewayWorld(server, { pgbench: options.pgbench, contractors: 1 + options.sessionGrants });
  const chainer = await startChainer(world.gatehouseUrl);
  const pool = createPool(world.gatehouseUrl, 2);
  pool.on('error', () => undefined);
  const logDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-bench-pgbench-'));
  const removeLogs = () => rmSync(logDir, { recursive: true, force: true });
  process.once('exit', removeLogs);
  try {
    const { login } = await world.grant(0);
    const count = async (text: string) => Number((await pool.query<{ n: string }>(text)).rows[0]?.n ?? 0);
    const queued = () => count('select count(*) as n from audit_queue');
    const head = () => count('select coalesce(max(seq), 0) as n from audit_events');

    const floorBefore = await commitFloor(world, options.commits);
    const idleRssMb = rssMb();
    const warm = { seconds: 1, clients: 1, mode: 'simple' as const, logDir };
    await pgbench(options.pgbench, world.direct, { ...warm, name: 'warm-direct' });
    await pgbench(options.pgbench, login, { ...warm, name: 'warm-gateway' });
    await waitForSessions(world);
    await waitForQuiet();

    const runs: LoadRun[] = [];
    let order = 0;
    for (const mode of options.modes) {
      for (const clients of CLIENT_COUNTS) {
        const paths = order++ % 2 === 0 ? (['direct', 'gateway'] as const) : (['gateway', 'direct'] as const);
        // The two runs of a pair are compared: they start after a quiet moment if one comes soon.
        await waitForQuiet(25, PAIR_QUIET_WAIT_MS);
        for (const which of paths) {
          const endpoint: Endpoint = which === 'direct' ? world.direct : login;
          const name = `${mode}-${clients}-${which}`;
          console.error(`  pgbench -M ${mode} -c ${clients}, ${which}, ${options.seconds} s…`);
          const load1 = os.loadavg()[0]!;
          const cpuBefore = await machineCpu();
          const stats = { ...world.gateway.recordStats };
          const headBefore = await head();
          const startedAt = new Date();
          const cpu = process.cpuUsage();
          const wall = performance.now();
          let rssPeak = rssMb();
          const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMb())), 100);
          const result = await pgbench(options.pgbench, endpoint, {
            seconds: options.seconds,
            clients,
            mode,
            logDir,
            name,
          });
          clearInterval(sampler);
          const used = process.cpuUsage(cpu);
          const wallMs = performance.now() - wall;
          const machineBusy = busyPercent(cpuBefore, await machineCpu());
          let gateway: GatewaySide | null = null;
          if (which === 'gateway') {
            const chained = (await head()) - headBefore;
            const queuedAtEnd = await queued();
            const sessions = await sessionsSince(world, startedAt);
            const summaries = await Promise.all(sessions.map((id) => world.gateway.sessionEnded(id)));
            const drainStarted = performance.now();
            while ((await queued()) > 0 && performance.now() - drainStarted < DRAIN_LIMIT_MS) await sleep(100);
            const after = world.gateway.recordStats;
            gateway = {
              cpuPercent: ((used.user + used.system) / 1000 / wallMs) * 100,
              rssPeakMb: rssPeak,
              commits: after.commits - stats.commits,
              events: after.events - stats.events,
              statements: summaries.reduce((sum, s) => sum + s.statements, 0),
              onChain: 0,
              sessions,
              chainedPerSecond: chained / (wallMs / 1000),
              queuedAtEnd,
              drainSeconds: (performance.now() - drainStarted) / 1000,
            };
          }
          if (!result.ok) console.error(`  pgbench failed: ${result.failure}`);
          runs.push({ mode, clients, path: which, pgbench: result, gateway, machineBusy, load1 });
        }
      }
    }

    console.error(`  grant end → session closed, ${options.sessions} sessions on ${options.sessionGrants} grants…`);
    const ends = await benchEnds(world, options.sessions, options.sessionGrants);

    // Every statement the gateway counted is on the chain, and the chain is whole.
    while ((await queued()) > 0) await sleep(100);
    const { rows } = await pool.query<{ subject: string; n: number }>(
      `select subject, count(*)::int as n from audit_log where action = 'gateway.statement' group by subject`,
    );
    const onChain = new Map(rows.map((row) => [row.subject, row.n]));
    for (const run of runs)
      if (run.gateway) run.gateway.onChain = run.gateway.sessions.reduce((sum, id) => sum + (onChain.get(id) ?? 0), 0);
    const verified = await verifyChain(pool);
    const floorAfter = await commitFloor(world, options.commits);
    return {
      seconds: options.seconds,
      commitFloor: [floorBefore, floorAfter],
      idleRssMb,
      runs,
      ends,
      chain: { ok: verified.ok, events: verified.checked },
    };
  } finally {
    process.off('exit', removeLogs);
    removeLogs();
    await pool.end();
    await chainer.stop();
    await world.stop();
  }
}

/** The gateway sessions started since `at`: a run's pgbench clients. */
async function sessionsSince(world: GatewayWorld, at: Date): Promise<string[]> {
  const rows = await world.db.selectFrom('gateway_sessions').select('id').where('started_at', '>=', at).execute();
  return rows.map((row) => row.id);
}

async function waitForSessions(world: GatewayWorld): Promise<void> {
  while (world.gateway.liveSessions().length > 0) await sleep(20);
}
