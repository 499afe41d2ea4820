/**
 * The watcher's throughput (issue 14): the stream offered at a rate with only the sequencer
 * running (the chain's own pace, the baseline), then the same with the watcher; a new
 * watcher process on that chain, which rebuilds its windows from it; and the watcher alone
 * on a backlog already chained (its ceiling), with where its time goes.
 */
import os from 'node:os';
import { sql } from 'kysely';
import { createDb, createPool, type Db } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { ChainProcess, WatchProcess, type PassesResult } from './alerts-children.ts';
import { offerLoad, queueBacklog, type OfferedLoad } from './alerts-load.ts';
import { AlertStream } from './alerts-stream.ts';
import { alertsPolicy, alertsPolicyText, seedWorld, type World } from './alerts-world.ts';
import type { BenchServer } from './cluster.ts';
import { busyPercent, machineCpu, waitForQuiet } from './machine-cpu.ts';

export interface ThroughputOptions {
  /** Events a second offered. */
  rate: number;
  seconds: number;
  /** Events chained before the watcher starts, for its ceiling. */
  backlog: number;
  /** The watcher's events per round (its default, 2,000). */
  batch: number;
}

export interface LoadRun {
  watcher: boolean;
  offered: OfferedLoad;
  /** Seqs the chain and the watcher's cursor moved while the load ran. */
  chained: number;
  watched: number;
  /** Chained but not yet watched (head − cursor), at the end and at most (sampled every 100 ms). */
  lagAtEnd: number;
  lagMax: number;
  queuedAtEnd: number;
  queuedMax: number;
  /** After the load: until the queue was empty and, with the watcher, its cursor at the head. */
  catchUpSeconds: number;
  /** CPU over the load, as % of one core. */
  watcherCpu: number | null;
  sequencerCpu: number;
  machineBusy: number | null;
  load1: number;
  watcherRssMb: number | null;
  /** Alerts raised during the run, by detector. */
  alerts: Record<string, number>;
  /** Events offered, by action. */
  made: Record<string, number>;
}

export interface RestartRun {
  /** Events on the chain when the new watcher started. */
  onChain: number;
  /** Events its rebuild replayed, and its first round (the rebuild and one batch). */
  replayed: number;
  firstRoundMs: number;
  /**
   * How far back each detector's replay reaches. Each reads its own stretch of the chain,
   * filtered by action in the audit_log view, so PostgreSQL parses every event in it.
   */
  lookbacksMs: number[];
  /** From its start until its cursor was at the head. */
  caughtUpSeconds: number;
  /** The new watcher's memory after it. */
  rssMb: number;
}

export interface BacklogRun {
  events: number;
  /** The sequencer alone on the queued backlog. */
  chainSeconds: number;
  sequencerCpu: number;
  /** The watcher alone on the chained backlog. */
  watchSeconds: number;
  watcherCpu: number;
  /** All cores, while the sequencer ran and while the watcher did. */
  machineBusy: [number | null, number | null];
  watcherRssMb: number;
  alerts: Record<string, number>;
  passes: PassesResult;
}

export interface ThroughputResults {
  options: ThroughputOptions;
  chainOnly: LoadRun;
  watched: LoadRun;
  restart: RestartRun | null;
  backlog: BacklogRun;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How long a run may take to catch up after its load before the bench goes on regardless. */
const CATCH_UP_LIMIT_MS = 300_000;
const SAMPLE_MS = 100;

interface BenchWorld {
  url: string;
  db: Db;
  world: World;
  policyText: string;
  stop(): Promise<void>;
}

async function openWorld(server: BenchServer, name: string): Promise<BenchWorld> {
  const url = await server.freshDatabase(name);
  const pool = createPool(url, 4);
  pool.on('error', () => undefined);
  const db = createDb(pool);
  await migrateToLatest(db);
  const now = new Date();
  const world = await seedWorld(db, alertsPolicy(now), now);
  return {
    url,
    db,
    world,
    policyText: alertsPolicyText(now),
    async stop() {
      await db.destroy();
      await server.dropDatabase(name);
    },
  };
}

/** The chain's head, the watcher's cursor and the queue's length. */
async function positions(db: Db): Promise<{ head: number; cursor: number; queued: number }> {
  const { rows } = await sql<{ head: string; cursor: string; queued: string }>`
    select (select coalesce(max(seq), 0) from audit_events) as head,
           (select cursor_seq from watch_state) as cursor,
           (select count(*) from audit_queue) as queued`.execute(db);
  const row = rows[0]!;
  return { head: Number(row.head), cursor: Number(row.cursor), queued: Number(row.queued) };
}

async function alertsByDetector(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('alerts')
    .select(['detector', sql<number>`count(*)::int`.as('n')])
    .groupBy('detector')
    .execute();
  return Object.fromEntries(rows.map((row) => [row.detector, row.n]));
}

/** Waits until `done` holds (checked every 50 ms) or the limit passes; resolves with the seconds waited. */
async function until(db: Db, done: (p: Awaited<ReturnType<typeof positions>>) => boolean): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < CATCH_UP_LIMIT_MS) {
    if (done(await positions(db))) break;
    await sleep(50);
  }
  return (performance.now() - started) / 1000;
}

const percentOfCore = (cpuMs: number, wallMs: number) => (100 * cpuMs) / wallMs;

async function loadRun(
  server: BenchServer,
  options: ThroughputOptions,
  withWatcher: boolean,
): Promise<{ run: LoadRun; restart: RestartRun | null }> {
  const name = withWatcher ? 'gatehouse_bench_alerts_watched' : 'gatehouse_bench_alerts_chain';
  const w = await openWorld(server, name);
  const chain = await ChainProcess.start(w.url);
  let watch: WatchProcess | null = null;
  try {
    await chain.begin();
    if (withWatcher) {
      watch = await WatchProcess.start(w.url, chain);
      await watch.begin(w.policyText, options.batch);
    }
    await waitForQuiet(25, 10_000);
    const stream = new AlertStream(w.world, withWatcher ? 'w' : 'c');
    const before = await positions(w.db);
    const cpu = { chain: await chain.usage(), watch: await watch?.usage(), machine: await machineCpu() };
    const load1 = os.loadavg()[0]!;
    const wall = performance.now();
    let lagMax = 0;
    let queuedMax = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const p = await positions(w.db);
        if (withWatcher) lagMax = Math.max(lagMax, p.head - p.cursor);
        queuedMax = Math.max(queuedMax, p.queued);
        await sleep(SAMPLE_MS);
      }
    })();
    const offered = await offerLoad(w.db, stream, options.rate, options.seconds);
    const wallMs = performance.now() - wall;
    const after = await positions(w.db);
    const used = { chain: await chain.usage(), watch: await watch?.usage(), machine: await machineCpu() };
    sampling = false;
    await sampler;
    const catchUpSeconds = await until(w.db, (p) => p.queued === 0 && (!withWatcher || p.cursor >= p.head));
    const run: LoadRun = {
      watcher: withWatcher,
      offered,
      chained: after.head - before.head,
      watched: after.cursor - before.cursor,
      lagAtEnd: withWatcher ? after.head - after.cursor : 0,
      lagMax: withWatcher ? Math.max(lagMax, after.head - after.cursor) : 0,
      queuedAtEnd: after.queued,
      queuedMax: Math.max(queuedMax, after.queued),
      catchUpSeconds,
      watcherCpu: watch && cpu.watch && used.watch ? percentOfCore(used.watch.cpuMs - cpu.watch.cpuMs, wallMs) : null,
      sequencerCpu: percentOfCore(used.chain.cpuMs - cpu.chain.cpuMs, wallMs),
      machineBusy: busyPercent(cpu.machine, used.machine),
      load1,
      watcherRssMb: used.watch?.rssMb ?? null,
      alerts: await alertsByDetector(w.db),
      made: { ...stream.made },
    };
    if (!watch) return { run, restart: null };
    console.error('  a new watcher on that chain: its windows rebuilt from it…');
    const restart = await restartAfter(w, chain, watch, stream, options);
    watch = null;
    return { run, restart };
  } finally {
    await watch?.stop();
    await chain.stop();
    await w.stop();
  }
}

/**
 * A new watcher process on the watched run's chain, with one more second of the stream
 * after the cursor: its first round rebuilds each detector's windows from the chain (here
 * each window but the rubber stamps' reaches back past the run's start).
 */
async function restartAfter(
  w: BenchWorld,
  chain: ChainProcess,
  watch: WatchProcess,
  stream: AlertStream,
  options: ThroughputOptions,
): Promise<RestartRun> {
  await watch.stop();
  await offerLoad(w.db, stream, options.rate, 1);
  await until(w.db, (p) => p.queued === 0);
  const onChain = (await positions(w.db)).head;
  await waitForQuiet(25, 10_000);
  const started = performance.now();
  const next = await WatchProcess.start(w.url, chain);
  try {
    const { firstRoundMs, lookbacksMs } = await next.begin(w.policyText, options.batch);
    await until(w.db, (p) => p.cursor >= onChain);
    const caughtUpSeconds = (performance.now() - started) / 1000;
    const usage = await next.usage();
    return {
      onChain,
      replayed: usage.replays[0] ?? 0,
      firstRoundMs,
      lookbacksMs,
      caughtUpSeconds,
      rssMb: usage.rssMb,
    };
  } finally {
    await next.stop();
  }
}

async function backlogRun(server: BenchServer, options: ThroughputOptions): Promise<BacklogRun> {
  const w = await openWorld(server, 'gatehouse_bench_alerts_backlog');
  const stream = new AlertStream(w.world, 'b');
  const events = await queueBacklog(w.db, stream, options.backlog, options.rate);
  const chain = await ChainProcess.start(w.url);
  try {
    await waitForQuiet(25, 10_000);
    const start = await positions(w.db);
    const chainCpu = await chain.usage();
    let machine = await machineCpu();
    let wall = performance.now();
    await chain.begin();
    const chainSeconds = await until(w.db, (p) => p.queued === 0);
    const sequencerCpu = percentOfCore((await chain.usage()).cpuMs - chainCpu.cpuMs, performance.now() - wall);
    const chainBusy = busyPercent(machine, await machineCpu());
    const head = (await positions(w.db)).head;

    await waitForQuiet(25, 10_000);
    const watch = await WatchProcess.start(w.url, chain);
    try {
      const watchCpu = await watch.usage();
      machine = await machineCpu();
      wall = performance.now();
      await watch.begin(w.policyText, options.batch);
      const watchSeconds = await until(w.db, (p) => p.cursor >= head);
      const used = await watch.usage();
      const watcherCpu = percentOfCore(used.cpuMs - watchCpu.cpuMs, performance.now() - wall);
      const watchBusy = busyPercent(machine, await machineCpu());
      const alerts = await alertsByDetector(w.db);
      const passes = await watch.passes(w.policyText, start.cursor, head, options.batch);
      return {
        events,
        chainSeconds,
        sequencerCpu,
        watchSeconds,
        watcherCpu,
        machineBusy: [chainBusy, watchBusy],
        watcherRssMb: used.rssMb,
        alerts,
        passes,
      };
    } finally {
      await watch.stop();
    }
  } finally {
    await chain.stop();
    await w.stop();
  }
}

export async function benchThroughput(server: BenchServer, options: ThroughputOptions): Promise<ThroughputResults> {
  console.error(`  the sequencer alone, ${options.rate} events/s offered for ${options.seconds} s…`);
  const { run: chainOnly } = await loadRun(server, options, false);
  console.error(`  the sequencer and the watcher, ${options.rate} events/s offered for ${options.seconds} s…`);
  const { run: watched, restart } = await loadRun(server, options, true);
  console.error(`  the sequencer, then the watcher, alone on a backlog of ${options.backlog} events…`);
  const backlog = await backlogRun(server, options);
  return { options, chainOnly, watched, restart, backlog };
}
