import { fork } from 'node:child_process';
import { once } from 'node:events';
import type http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { App } from '@slack/bolt';
import { sql } from 'kysely';
import type { Db } from '../src/db/database.ts';
import { silentLogger } from '../src/log.ts';
import { boltLogger } from '../src/slack/logger.ts';
import { BOT_ID, BOT_USER_ID } from '../src/sandbox/fake-slack/protocol.ts';
import type { LoadMessage, LoadPlan, LoadResult } from './ack-load-child.ts';
import {
  BENCH_BOT_TOKEN,
  BENCH_SIGNING_SECRET,
  contractorId,
  contractorsGroup,
  startBenchGatehouse,
} from './bench-gatehouse.ts';
import type { BenchServer } from './cluster.ts';
import { FakeSlackProcess, type SlackCounts } from './fake-slack-process.ts';
import { busyPercent, machineCpu, waitForQuiet, type CpuSnapshot } from './machine-cpu.ts';
import { summarize, type Summary } from './percentiles.ts';

/** Sent at the same rate before each measured run, not counted: JIT, connections, pools. */
export const WARMUP_SECONDS = 3;

export interface AckRun {
  summary: Summary;
  /** Counted requests by HTTP status or failure. */
  outcomes: Record<string, number>;
  /** Counted requests answered 200 but later than Slack's 3 s. */
  over3s: number;
  maxLagMs: number;
  sent: number;
  /** Commands acked with 200, warm-up included. */
  acked: number;
  /** This process (the app under test), in % of one core, over the whole run. */
  appCpuPercent: number;
  /** All cores, in % of their time: the app, PostgreSQL, the sender, the fake Slack. */
  machineBusyPercent: number | null;
  /** How late this process's event loop ran timers: p99 and max, ms. */
  eventLoopDelay: { p99: number; max: number };
}

/** What the Gatehouse run left behind, read when the last ack had arrived. */
export interface GatehouseAfter {
  /** access_requests rows when the last ack arrived, and seconds until every acked command had its row. */
  requestsAtEnd: number;
  secondsToFile: number | null;
  requestsFiled: number;
  outbox: { total: number; done: number };
  audit: { head: number; posted: number };
  slack: SlackCounts;
  problems: Record<string, number>;
}

export interface AckRound {
  bare: AckRun;
  gatehouse: AckRun;
  after: GatehouseAfter;
}

export interface AckResults {
  rounds: AckRound[];
  contractors: number;
}

export const ACK_POLICY = (contractors: number) => `
audit_channel: C0AUDIT01
groups:
  ${contractorsGroup(contractors)}
  db-owners: [U0OWNER01, U0OWNER02]
resources:
  - id: prod-db
    name: Production database
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    approvals_required: 2
    provisioner: { kind: none }
`;

/**
 * Runs the sender in a child process while watching this process, where the app under
 * test runs: CPU and event-loop delay are taken over the counted requests only.
 */
export async function runLoad(plan: LoadPlan): Promise<AckRun> {
  await waitForQuiet();
  const script = fileURLToPath(new URL('./ack-load-child.ts', import.meta.url));
  const delay = monitorEventLoopDelay({ resolution: 5 });
  let cpuBefore = process.cpuUsage();
  let machineBefore: CpuSnapshot | null = null;
  let started = performance.now();
  let result: LoadResult | null = null;
  const child = fork(script, [JSON.stringify(plan)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.on('message', (message: LoadMessage) => {
    if (message.type === 'counting') {
      cpuBefore = process.cpuUsage();
      started = performance.now();
      delay.enable();
      void machineCpu().then((snapshot) => (machineBefore = snapshot));
    } else {
      delay.disable();
      result = message.result;
    }
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const machineAfter = await machineCpu();
  if (code !== 0 || !result) throw new Error(`the load process exited with ${code}${result ? '' : ' and no result'}`);
  const { latenciesMs, outcomes, warmupOutcomes, maxLagMs, sent } = result as LoadResult;
  return {
    summary: summarize(latenciesMs),
    outcomes,
    over3s: latenciesMs.filter((ms) => ms > 3000).length,
    maxLagMs,
    sent,
    acked: (outcomes['200'] ?? 0) + (warmupOutcomes['200'] ?? 0),
    appCpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
    machineBusyPercent: busyPercent(machineBefore, machineAfter),
    eventLoopDelay: { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 },
  };
}

/** A Bolt app with Gatehouse's Bolt settings whose only listener acks `/request-access`. */
export async function startBareApp(apiUrl: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const app = new App({
    token: BENCH_BOT_TOKEN,
    signingSecret: BENCH_SIGNING_SECRET,
    botId: BOT_ID,
    botUserId: BOT_USER_ID,
    logger: boltLogger(silentLogger()),
    clientOptions: { slackApiUrl: apiUrl },
  });
  app.command('/request-access', async ({ ack }) => {
    await ack();
  });
  const server = (await app.start({ port: 0, host: '127.0.0.1' })) as http.Server;
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/slack/events`, stop: () => app.stop() as Promise<void> };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Slash-command ack latency at `rate` per second for `seconds`, in `rounds` rounds. Each
 * round: a bare Bolt app, then Gatehouse on a fresh database, both in this process, both
 * sent the same commands by a child process, each with a fresh fake Slack process. Every
 * Gatehouse command comes from a different contractor, so each files a new request (with
 * its audit event and notifications) and none is refused.
 */
export async function benchAck(
  server: BenchServer,
  seconds: number,
  rate: number,
  rounds: number,
): Promise<AckResults> {
  const perRun = Math.round(rate * (WARMUP_SECONDS + seconds));
  const contractors = Math.max(2000, perRun);
  const results: AckRound[] = [];
  for (let round = 1; round <= rounds; round++) {
    const result = await benchRound(server, { seconds, rate, perRun, contractors });
    console.error(
      `  round ${round}: p99 bare ${result.bare.summary.p99.toFixed(1)} ms, Gatehouse ${result.gatehouse.summary.p99.toFixed(1)} ms`,
    );
    results.push(result);
  }
  return { rounds: results, contractors };
}

interface RoundSettings {
  seconds: number;
  rate: number;
  perRun: number;
  contractors: number;
}

const plan = (slack: FakeSlackProcess, settings: RoundSettings, url: string, prefix: string): LoadPlan => ({
  url,
  signingSecret: BENCH_SIGNING_SECRET,
  rate: settings.rate,
  warmupSeconds: WARMUP_SECONDS,
  seconds: settings.seconds,
  firstIndex: 0,
  responseBase: slack.responseUrl(''),
  responseIdPrefix: prefix,
});

/** Bare Bolt, then Gatehouse, each with a fresh fake Slack. */
async function benchRound(server: BenchServer, settings: RoundSettings): Promise<AckRound> {
  const slack = await FakeSlackProcess.start();
  let bare: AckRun;
  try {
    const bareApp = await startBareApp(slack.apiUrl);
    try {
      bare = await runLoad(plan(slack, settings, bareApp.url, 'bare'));
    } finally {
      await bareApp.stop();
    }
  } finally {
    await slack.stop();
  }
  const { run: gatehouse, after } = await gatehouseRun(server, settings);
  return { bare, gatehouse, after };
}

async function gatehouseRun(
  server: BenchServer,
  settings: RoundSettings,
): Promise<{ run: AckRun; after: GatehouseAfter }> {
  const slack = await FakeSlackProcess.start();
  try {
    const name = 'gatehouse_bench_slack';
    const databaseUrl = await server.freshDatabase(name);
    const app = await startBenchGatehouse({ databaseUrl, policy: ACK_POLICY(settings.contractors), slack });
    let problems: Record<string, number> = {};
    let run: AckRun;
    let after: Omit<GatehouseAfter, 'problems' | 'slack'>;
    try {
      await slack.registerResponseUrls(
        Array.from({ length: settings.perRun }, (_, i) => ({ id: `gatehouse-${i}`, userId: contractorId(i) })),
      );
      run = await runLoad(plan(slack, settings, app.eventsUrl, 'gatehouse'));
      after = await observe(app.gatehouse.database.db, run.acked);
    } finally {
      problems = await app.stop();
    }
    await server.dropDatabase(name);
    return { run, after: { ...after, slack: await slack.counts(), problems } };
  } finally {
    await slack.stop();
  }
}

/** The app's state when the last ack arrived, then how long it took to file every acked command (at most 60 s). */
async function observe(db: Db, acked: number): Promise<Omit<GatehouseAfter, 'problems' | 'slack'>> {
  const outbox = await sql<{
    total: string;
    done: string;
  }>`select count(*) as total, count(done_at) as done from outbox`.execute(db);
  const audit = await sql<{
    head: string | null;
    posted: string;
  }>`select (select max(seq) from audit_events) as head, (select posted_seq from audit_channel_state) as posted`.execute(
    db,
  );
  const requests = async () =>
    Number(
      (
        await db
          .selectFrom('access_requests')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const requestsAtEnd = await requests();
  const started = performance.now();
  let filed = requestsAtEnd;
  while (filed < acked && performance.now() - started < 60_000) {
    await sleep(100);
    filed = await requests();
  }
  return {
    requestsAtEnd,
    secondsToFile: filed >= acked ? (performance.now() - started) / 1000 : null,
    requestsFiled: filed,
    outbox: { total: Number(outbox.rows[0]?.total), done: Number(outbox.rows[0]?.done) },
    audit: { head: Number(audit.rows[0]?.head ?? 0), posted: Number(audit.rows[0]?.posted) },
  };
}
