/**
 * Acks under a busy day (issue 17, 3): slash commands at `rate`/s while 1,000 grants
 * expire, owners click through a queue of approvals and an auditor's `/verify-audit`
 * checks a log of 1M events, all at once, against the real app. Beside it, in the same run:
 * a bare Bolt app that only acks, quiet and under the same background load (Gatehouse
 * doing everything but the commands, which go to the bare app), and the verification
 * alone (its CPU). Expiry lag and the audit feed's lag are read in the same phases.
 * Results: docs/benchmarks.md §13.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import { startBareApp } from './ack.ts';
import {
  BENCH_SIGNING_SECRET,
  contractorId,
  contractorsGroup,
  OWNERS,
  startBenchGatehouse,
} from './bench-gatehouse.ts';
import { cpuShares, cpuTicks, type CpuShares } from './busy-cpu.ts';
import {
  BUSY_WARMUP_SECONDS,
  EXPIRY_OFFSET_SECONDS,
  EXPIRY_OWNER,
  expiryOf,
  prepare,
  type ExpiryFigures,
} from './busy-prepare.ts';
import type { BusyChildMessage, BusyLoadResult, BusyPlan } from './busy-load-child.ts';
import type { BenchServer } from './cluster.ts';
import { FakeSlackProcess, type SlackCounts } from './fake-slack-process.ts';
import { waitForQuiet } from './machine-cpu.ts';
import { fillChain } from './verify.ts';

export { BUSY_WARMUP_SECONDS };
export const BUSY_PHASES = ['quiet', 'verify', 'bare-busy', 'busy'] as const;
export type BusyPhaseName = (typeof BUSY_PHASES)[number];
const AUDITOR = 'U0AUDIT01';
const DB_NAME = 'gatehouse_bench_busy';
const VERIFY_TIMEOUT_MS = 60_000;

export interface BusySettings {
  seconds: number;
  rate: number;
  grants: number;
  events: number;
  approvals: number;
  /** The grants fall due over this many seconds of the window. */
  expirySpreadSeconds: number;
  /** Time given to create a phase's grants and queue before its load starts. */
  leadSeconds: number;
  /** The verification-alone phase. */
  verifySeconds: number;
  phases: BusyPhaseName[];
}

/** Reads BENCH_BUSY_* (docs in bench/run.ts). */
export function parseBusySettings(env: NodeJS.ProcessEnv): BusySettings {
  const number = (name: string, fallback: number, ok: (n: number) => boolean, what: string) => {
    const value = Number(env[name] ?? fallback);
    if (!ok(value)) throw new Error(`${name} must be ${what}`);
    return value;
  };
  const whole = (n: number) => Number.isInteger(n) && n >= 1;
  const phases = (env.BENCH_BUSY_PHASES ?? BUSY_PHASES.join(',')).split(',').map((p) => p.trim());
  for (const phase of phases)
    if (!(BUSY_PHASES as readonly string[]).includes(phase))
      throw new Error(`BENCH_BUSY_PHASES: unknown phase "${phase}"; choose from ${BUSY_PHASES.join(', ')}`);
  const settings: BusySettings = {
    seconds: number('BENCH_BUSY_SECONDS', 60, (n) => n >= 10 && n <= 1800, 'from 10 to 1800'),
    rate: number('BENCH_BUSY_RATE', 50, (n) => n > 0 && n <= 1000, 'more than 0 and at most 1000'),
    grants: number('BENCH_BUSY_GRANTS', 1000, whole, 'a whole number of at least 1'),
    events: number('BENCH_BUSY_EVENTS', 1_000_000, whole, 'a whole number of at least 1'),
    approvals: number('BENCH_BUSY_APPROVALS', 200, (n) => Number.isInteger(n) && n >= 0, 'a whole number'),
    expirySpreadSeconds: number('BENCH_BUSY_EXPIRY_SPREAD_SECONDS', 30, (n) => n >= 0, '0 or more'),
    leadSeconds: number('BENCH_BUSY_LEAD_SECONDS', 120, (n) => n >= 10, 'at least 10'),
    verifySeconds: number('BENCH_BUSY_VERIFY_SECONDS', 15, (n) => n >= 1, 'at least 1'),
    phases: BUSY_PHASES.filter((p) => phases.includes(p)),
  };
  if (settings.expirySpreadSeconds + EXPIRY_OFFSET_SECONDS > settings.seconds)
    throw new Error(`BENCH_BUSY_EXPIRY_SPREAD_SECONDS must leave the grants' ends inside BENCH_BUSY_SECONDS`);
  return settings;
}

export interface BusyPhase {
  name: BusyPhaseName;
  load: BusyLoadResult;
  cpu: CpuShares | null;
  /** The app process's main thread, over the window: how late it ran timers, ms. */
  eventLoopDelay: { p99: number; max: number };
  loadAverage: number[];
  /** Seconds from the phase's planned start to its grants and queue being ready. */
  prepareSeconds: number | null;
  /** Notifications of the preparation still due when the load began (0: all delivered). */
  outboxLeft: number | null;
  expiry: ExpiryFigures | null;
  /** Queue requests with an active grant after the phase. */
  approvalsActive: number | null;
}

export interface BusyResults {
  settings: BusySettings;
  fillSeconds: number;
  tableSize: string;
  contractors: number;
  phases: BusyPhase[];
  verified: { ok: boolean; checked: number }[];
  loadAverage: { before: number[]; after: number[] };
  totalSeconds: number;
  slack: SlackCounts | null;
  problems: Record<string, number>;
}

const POLICY = (contractors: number) => `
audit_channel: C0AUDIT01
groups:
  ${contractorsGroup(contractors)}
  db-owners: [${OWNERS.join(', ')}]
  auditors: [${AUDITOR}]
resources:
  - id: prod-db
    name: Production database
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    approvals_required: 2
    provisioner: { kind: none }
  - id: queue-db
    name: Reporting database
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    approvals_required: 1
    provisioner: { kind: none }
  - id: bench-expiry
    name: Expiring database
    owners: [${EXPIRY_OWNER}]
    requesters: [contractors]
    default_duration: 1m
    max_duration: 1h
    approvals_required: 1
    provisioner: { kind: none }
`;

/** The cluster's postmaster: the parent of a backend. */
async function postmasterPid(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    const { readFile } = await import('node:fs/promises');
    const stat = await readFile(`/proc/${rows[0]!.pid}/stat`, 'utf8').catch(() => '');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? 0);
  } finally {
    await client.end();
  }
}

/** Runs the load child from `plan.startAtEpochMs`, watching this process (the app's) over its window. */
async function runPhase(
  plan: BusyPlan,
  postmaster: number,
): Promise<Pick<BusyPhase, 'load' | 'cpu' | 'eventLoopDelay' | 'loadAverage'>> {
  const script = fileURLToPath(new URL('./busy-load-child.ts', import.meta.url));
  const child = fork(script, [JSON.stringify(plan)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const delay = monitorEventLoopDelay({ resolution: 5 });
  let before: Promise<Awaited<ReturnType<typeof cpuTicks>>> = Promise.resolve(null);
  let after: Promise<Awaited<ReturnType<typeof cpuTicks>>> = Promise.resolve(null);
  let load: BusyLoadResult | null = null;
  let loadAverage: number[] = [];
  child.on('message', (message: BusyChildMessage) => {
    if (message.type === 'counting') {
      before = cpuTicks(postmaster);
      delay.enable();
    } else if (message.type === 'ended') {
      after = cpuTicks(postmaster);
      delay.disable();
      loadAverage = os.loadavg();
    } else load = message.result;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0 || !load) throw new Error(`the load process exited with ${code}${load ? '' : ' and no result'}`);
  return {
    load,
    cpu: cpuShares(await before, await after, os.cpus().length),
    eventLoopDelay: { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 },
    loadAverage,
  };
}

export async function benchBusy(server: BenchServer, settings: BusySettings): Promise<BusyResults> {
  const began = performance.now();
  const loadBefore = os.loadavg();
  const { seconds, rate, grants, approvals, phases: wanted } = settings;
  const commandsPerPhase = Math.ceil(rate * (BUSY_WARMUP_SECONDS + seconds));
  const busyPhases = wanted.filter((p) => p === 'bare-busy' || p === 'busy').length;
  const contractors = busyPhases * (grants + approvals) + commandsPerPhase;
  const databaseUrl = await server.freshDatabase(DB_NAME);
  const filling = performance.now();
  await fillChain(databaseUrl, settings.events);
  const fillSeconds = (performance.now() - filling) / 1000;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  let tableSize = '';
  try {
    tableSize =
      (await admin.query<{ size: string }>(`select pg_size_pretty(pg_total_relation_size('audit_events')) as size`))
        .rows[0]?.size ?? '';
    // A log this long was posted to the audit channel long ago: the feed starts at the head.
    await admin.query('update audit_channel_state set posted_seq = $1', [settings.events]);
  } finally {
    await admin.end();
  }
  console.error(`  filled ${settings.events} chained events (${tableSize}) in ${fillSeconds.toFixed(1)} s`);
  const postmaster = await postmasterPid(databaseUrl);
  const phases: BusyPhase[] = [];
  const plan = (overrides: Partial<BusyPlan> & Pick<BusyPlan, 'commandUrl' | 'startAtEpochMs'>): BusyPlan => ({
    gatehouseUrl: null,
    signingSecret: BENCH_SIGNING_SECRET,
    rate,
    warmupSeconds: BUSY_WARMUP_SECONDS,
    seconds,
    firstIndex: busyPhases * (grants + approvals),
    responseBase: 'http://127.0.0.1:9/response/',
    responseIdPrefix: 'busy',
    clicks: [],
    auditor: null,
    verifyTimeoutMs: VERIFY_TIMEOUT_MS,
    databaseUrl: null,
    pollMs: 100,
    feedDrainMs: 120_000,
    ...overrides,
  });
  const empty = { prepareSeconds: null, outboxLeft: null, expiry: null, approvalsActive: null };

  if (wanted.includes('quiet')) {
    // The bare app alone, with its own fake Slack: section 3.1's baseline, at this rate and length.
    const quietSlack = await FakeSlackProcess.start();
    try {
      const bare = await startBareApp(quietSlack.apiUrl);
      try {
        await waitForQuiet(25, 30_000);
        console.error(`  quiet: the bare Bolt app alone, ${rate}/s for ${seconds} s…`);
        const run = await runPhase(plan({ commandUrl: bare.url, startAtEpochMs: 0 }), postmaster);
        phases.push({ name: 'quiet', ...run, ...empty });
      } finally {
        await bare.stop();
      }
    } finally {
      await quietSlack.stop();
    }
  }

  const slack = await FakeSlackProcess.start();
  let problems: Record<string, number> = {};
  let verified: BusyResults['verified'] = [];
  try {
    const app = await startBenchGatehouse({ databaseUrl, policy: POLICY(contractors), slack });
    try {
      const base = plan({ commandUrl: app.eventsUrl, startAtEpochMs: 0 });
      await slack.registerResponseUrls(
        Array.from({ length: commandsPerPhase }, (_, k) => ({
          id: `busy-${k}`,
          userId: contractorId(base.firstIndex + k),
        })),
      );
      const shared = { gatehouseUrl: app.eventsUrl, responseBase: slack.responseUrl(''), auditor: AUDITOR };
      if (wanted.includes('verify')) {
        console.error(`  verify: /verify-audit one after another for ${settings.verifySeconds} s, nothing else…`);
        const run = await runPhase(
          plan({
            ...shared,
            commandUrl: app.eventsUrl,
            rate: 0.001,
            seconds: settings.verifySeconds,
            warmupSeconds: 0,
            startAtEpochMs: 0,
          }),
          postmaster,
        );
        phases.push({ name: 'verify', ...run, ...empty });
      }
      let firstIndex = 0;
      for (const name of ['bare-busy', 'busy'] as const) {
        if (!wanted.includes(name)) continue;
        const windowStart = Date.now() + settings.leadSeconds * 1000;
        console.error(`  ${name}: preparing ${grants} grants and ${approvals} approvals…`);
        const ready = await prepare(app, slack, settings, windowStart, firstIndex, name);
        firstIndex += grants + approvals;
        const bare = name === 'bare-busy' ? await startBareApp(slack.apiUrl) : null;
        try {
          console.error(
            `  ${name}: ready after ${ready.prepareSeconds.toFixed(0)} s (${ready.outboxLeft} notifications still due); commands to ${bare ? 'the bare Bolt app' : 'Gatehouse'}, the rest to Gatehouse, ${seconds} s…`,
          );
          const run = await runPhase(
            plan({
              ...shared,
              commandUrl: bare?.url ?? app.eventsUrl,
              clicks: ready.queue,
              databaseUrl,
              startAtEpochMs: windowStart - BUSY_WARMUP_SECONDS * 1000,
            }),
            postmaster,
          );
          const expiry = await expiryOf(app, ready.grantIds, settings.events);
          const { rows } = await sql<{ n: number }>`
            select count(*)::int as n from grants
            where request_id = any(${ready.queue.map((c) => c.requestId)}) and status = 'active'`.execute(
            app.gatehouse.database.db,
          );
          phases.push({
            name,
            ...run,
            prepareSeconds: ready.prepareSeconds,
            outboxLeft: ready.outboxLeft,
            expiry,
            approvalsActive: rows[0]?.n ?? 0,
          });
        } finally {
          await bare?.stop();
        }
      }
      const { rows } = await sql<{
        body: { ok: boolean; checked: number };
      }>`select body from audit_log where action = 'audit.verified' order by seq`.execute(app.gatehouse.database.db);
      verified = rows.map((r) => r.body);
    } finally {
      problems = await app.stop();
    }
    await server.dropDatabase(DB_NAME);
    return {
      settings,
      fillSeconds,
      tableSize,
      contractors,
      phases,
      verified,
      loadAverage: { before: loadBefore, after: os.loadavg() },
      totalSeconds: (performance.now() - began) / 1000,
      slack: await slack.counts(),
      problems,
    };
  } finally {
    await slack.stop();
  }
}
