/**
 * Slash-command acks while an auditor's `/verify-audit` recomputes a large audit log: the
 * real app on a database holding `events` chained events, sent `/request-access` at a
 * steady rate throughout, with quiet (baseline) windows and verification windows taking
 * turns in the same load against the same app. Each verification runs either in the app's
 * background thread (the code since `ca56cf2`) or, for comparison, on its main thread as
 * before: the app's own fallback path (the one it takes while the background thread is
 * being restarted), chosen by making this app instance's thread report itself not running.
 * Results: docs/benchmarks.md.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import type { BackgroundThread } from '../src/background/thread.ts';
import { BENCH_SIGNING_SECRET, contractorId, contractorsGroup, startBenchGatehouse } from './bench-gatehouse.ts';
import type { BenchServer } from './cluster.ts';
import { FakeSlackProcess, type SlackCounts } from './fake-slack-process.ts';
import { counts, fmt, median, ms } from './format.ts';
import { busyPercent, machineCpu, waitForQuiet, type CpuSnapshot } from './machine-cpu.ts';
import { stats, type Stats } from './provision.ts';
import type {
  ChildMessage,
  IdleVerification,
  LoadWindow,
  ParentMessage,
  VerifyAckPlan,
  VerifyAckResult,
  VerifyWhere,
  WindowKind,
} from './verify-ack-load-child.ts';
import { fillChain } from './verify.ts';

/** Sent at the same rate before the first window, not counted. */
export const VERIFY_ACK_WARMUP_SECONDS = 3;
/** After each verification's answer, not counted. */
const GAP_SECONDS = 2;
/** A verification not answered by then counts as timed out (and the contractors in the policy are sized for it). */
const VERIFY_TIMEOUT_MS = 30_000;
const AUDITOR = 'U0AUDIT01';
const DB_NAME = 'gatehouse_bench_verify_ack';

export interface VerifyAckSettings {
  events: number;
  rate: number;
  baselineSeconds: number;
  rounds: number;
}

/** The app process over one window, as this process saw it. */
interface WindowWatch {
  /** This process (both of the app's threads), % of one core. */
  appCpuPercent: number;
  machineBusyPercent: number | null;
  /** The main thread's event loop: how late it ran timers, ms. */
  eventLoopDelay: { p99: number; max: number };
}

export interface WindowResult extends LoadWindow {
  seconds: number;
  acks: Stats;
  errors: number;
  over3s: number;
  watch: WindowWatch | null;
}

export interface VerifyAckResults {
  settings: VerifyAckSettings;
  fillSeconds: number;
  tableSize: string;
  contractors: number;
  idle: IdleVerification[];
  windows: WindowResult[];
  /** All windows of a kind together. */
  byKind: Record<WindowKind, { acks: Stats; errors: number; over3s: number; seconds: number[] }>;
  sent: number;
  maxLagMs: number;
  exhausted: boolean;
  /** Calls of the background thread's verify(): one per background verification, none for the main-thread ones. */
  backgroundVerifyCalls: number;
  /** The app's own records of the verifications. */
  verified: { ok: boolean; checked: number }[];
  headSeq: number;
  loadAverage: { before: number[]; after: number[] };
  waitedForQuiet: boolean;
  totalSeconds: number;
  slack: SlackCounts;
  problems: Record<string, number>;
}

const POLICY = (contractors: number) => `
audit_channel: C0AUDIT01
groups:
  ${contractorsGroup(contractors)}
  db-owners: [U0OWNER01, U0OWNER02]
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
`;

/**
 * Makes the app verify on its main thread (`main`) or in its background thread, without
 * touching src/: the app verifies in the thread when `background.running`, else on the
 * main thread, as it did before `ca56cf2`. An own property shadows the class's getter.
 */
function verifyOn(background: BackgroundThread, where: VerifyWhere): void {
  if (where === 'main') Object.defineProperty(background, 'running', { configurable: true, get: () => false });
  else delete (background as unknown as Record<string, unknown>).running;
}

export async function benchVerifyAck(server: BenchServer, settings: VerifyAckSettings): Promise<VerifyAckResults> {
  const { events, rate, baselineSeconds, rounds } = settings;
  const began = performance.now();
  const loadBefore = os.loadavg();
  const databaseUrl = await server.freshDatabase(DB_NAME);
  const filled = performance.now();
  await fillChain(databaseUrl, events);
  const fillSeconds = (performance.now() - filled) / 1000;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  let tableSize = '';
  try {
    tableSize =
      (await admin.query<{ size: string }>(`select pg_size_pretty(pg_total_relation_size('audit_events')) as size`))
        .rows[0]?.size ?? '';
    // A log this long was posted to the audit channel long ago: the feed starts at the head, not at seq 1.
    await admin.query('update audit_channel_state set posted_seq = $1', [events]);
  } finally {
    await admin.end();
  }
  console.error(
    `  filled ${events.toLocaleString('en-US')} chained events (${tableSize}) in ${fillSeconds.toFixed(1)} s`,
  );

  // Every command of the run comes from a different contractor (none is refused as already pending).
  const loadSeconds =
    VERIFY_ACK_WARMUP_SECONDS + rounds * 2 * (baselineSeconds + GAP_SECONDS + VERIFY_TIMEOUT_MS / 1000);
  const contractors = Math.ceil(rate * loadSeconds);
  const slack = await FakeSlackProcess.start();
  try {
    const app = await startBenchGatehouse({ databaseUrl, policy: POLICY(contractors), slack });
    const background = app.gatehouse.background;
    let backgroundVerifyCalls = 0;
    const verifyInThread = background.verify.bind(background);
    background.verify = (request) => {
      backgroundVerifyCalls += 1;
      return verifyInThread(request);
    };
    let problems: Record<string, number> = {};
    let outcome: Omit<VerifyAckResults, 'slack' | 'problems' | 'totalSeconds'>;
    try {
      const prefix = 'verify-ack';
      await slack.registerResponseUrls(
        Array.from({ length: contractors }, (_, i) => ({ id: `${prefix}-${i}`, userId: contractorId(i) })),
      );
      const plan: VerifyAckPlan = {
        url: app.eventsUrl,
        signingSecret: BENCH_SIGNING_SECRET,
        rate,
        warmupSeconds: VERIFY_ACK_WARMUP_SECONDS,
        baselineSeconds,
        gapSeconds: GAP_SECONDS,
        rounds,
        auditor: AUDITOR,
        responseBase: slack.responseUrl(''),
        responseIdPrefix: prefix,
        maxCommands: contractors,
        verifyTimeoutMs: VERIFY_TIMEOUT_MS,
      };
      // The filling and the app's start are CPU-heavy: let the machine settle before the load.
      const waitedForQuiet = await waitForQuiet();
      const { result, watches } = await runLoad(plan, background);
      const windows = result.windows.map((w, i) => windowResult(w, result, watches.get(i) ?? null));
      const kinds: WindowKind[] = ['baseline', 'background', 'main'];
      const byKind = Object.fromEntries(
        kinds.map((kind) => {
          const of = result.windows.filter((w) => w.kind === kind);
          const commands = of.flatMap((w) => inWindow(result, w));
          const acks = commands.filter((c) => c.ms !== null).map((c) => c.ms!);
          return [
            kind,
            {
              acks: stats(acks),
              errors: commands.filter((c) => c.ms === null).length,
              over3s: acks.filter((ms) => ms > 3000).length,
              seconds: of.map((w) => (w.endMs - w.startMs) / 1000),
            },
          ];
        }),
      ) as VerifyAckResults['byKind'];
      const db = app.gatehouse.database.db;
      const { rows: records } = await sql<{
        body: { ok: boolean; checked: number };
      }>`select body from audit_log where action = 'audit.verified' order by seq`.execute(db);
      const { rows: head } = await sql<{ seq: string }>`select max(seq) as seq from audit_events`.execute(db);
      outcome = {
        settings,
        fillSeconds,
        tableSize,
        contractors,
        idle: result.idle,
        windows,
        byKind,
        sent: result.commands.length,
        maxLagMs: result.maxLagMs,
        exhausted: result.exhausted,
        backgroundVerifyCalls,
        verified: records.map((r) => ({ ok: r.body.ok, checked: r.body.checked })),
        headSeq: Number(head[0]?.seq ?? 0),
        loadAverage: { before: loadBefore, after: os.loadavg() },
        waitedForQuiet,
      };
    } finally {
      problems = await app.stop();
    }
    await server.dropDatabase(DB_NAME);
    return { ...outcome, slack: await slack.counts(), problems, totalSeconds: (performance.now() - began) / 1000 };
  } finally {
    await slack.stop();
  }
}

function inWindow(result: VerifyAckResult, w: LoadWindow) {
  return result.commands.filter((c) => c.sentMs >= w.startMs && c.sentMs < w.endMs);
}

function windowResult(w: LoadWindow, result: VerifyAckResult, watch: WindowWatch | null): WindowResult {
  const commands = inWindow(result, w);
  const acks = commands.filter((c) => c.ms !== null).map((c) => c.ms!);
  return {
    ...w,
    seconds: (w.endMs - w.startMs) / 1000,
    acks: stats(acks),
    errors: commands.length - acks.length,
    over3s: acks.filter((ms) => ms > 3000).length,
    watch,
  };
}

/** Runs the load child, switching where the app verifies when it asks, and watching this process over each window. */
async function runLoad(
  plan: VerifyAckPlan,
  background: BackgroundThread,
): Promise<{ result: VerifyAckResult; watches: Map<number, WindowWatch> }> {
  const script = fileURLToPath(new URL('./verify-ack-load-child.ts', import.meta.url));
  const child = fork(script, [JSON.stringify(plan)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const watches = new Map<number, WindowWatch>();
  const open = new Map<
    number,
    { cpu: NodeJS.CpuUsage; at: number; machine: Promise<CpuSnapshot | null>; delay: IntervalHistogram }
  >();
  let result: VerifyAckResult | null = null;
  child.on('message', (message: ChildMessage) => {
    switch (message.type) {
      case 'where':
        verifyOn(background, message.where);
        child.send({ type: 'where-set', where: message.where } satisfies ParentMessage);
        return;
      case 'window-start': {
        const delay = monitorEventLoopDelay({ resolution: 5 });
        delay.enable();
        open.set(message.id, { cpu: process.cpuUsage(), at: performance.now(), machine: machineCpu(), delay });
        return;
      }
      case 'window-end': {
        const started = open.get(message.id);
        if (!started) return;
        open.delete(message.id);
        started.delay.disable();
        const cpu = process.cpuUsage(started.cpu);
        const wallMs = performance.now() - started.at;
        const eventLoopDelay = { p99: started.delay.percentile(99) / 1e6, max: started.delay.max / 1e6 };
        void Promise.all([started.machine, machineCpu()]).then(([before, after]) => {
          watches.set(message.id, {
            appCpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
            machineBusyPercent: busyPercent(before, after),
            eventLoopDelay,
          });
        });
        return;
      }
      case 'result':
        result = message.result;
        return;
    }
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  verifyOn(background, 'background');
  if (code !== 0 || !result) throw new Error(`the load process exited with ${code}${result ? '' : ' and no result'}`);
  // The last window's machine snapshot is read asynchronously: let it land.
  await new Promise((resolve) => setTimeout(resolve, 50));
  return { result, watches };
}

const percent = (n: number | null | undefined) => (n === null || n === undefined ? 'n/a' : `${fmt(n)} %`);
const LABEL: Record<WindowKind, string> = {
  baseline: 'no verification running (baseline)',
  background: '**during `/verify-audit`, background thread (today)**',
  main: 'during `/verify-audit`, main thread (before `ca56cf2`)',
};

export function printVerifyAck(r: VerifyAckResults): void {
  const { settings: s } = r;
  console.log(
    `Signed \`/request-access\` POSTs at ${s.rate}/s, open loop, through the whole run (after a ${VERIFY_ACK_WARMUP_SECONDS} s warm-up), against the app on a log of ${fmt(s.events)} chained events (${r.tableSize}). ` +
      `${s.rounds} rounds of: a ${s.baselineSeconds} s baseline window, then an auditor's \`/verify-audit\` (window: from sending it to its answer arriving at the response_url), ${GAP_SECONDS} s not counted; once with the verification in the background thread, once on the main thread, order alternating. ` +
      `ms from send to the end of the response; commands counted in the window they were sent in.\n`,
  );
  console.log('| acks sent while… | p50 ms | p90 ms | p99 ms | max ms | count | errors | over 3 s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const kind of ['baseline', 'background', 'main'] as const) {
    const k = r.byKind[kind];
    console.log(
      `| ${LABEL[kind]} | ${ms(k.acks.p50)} | ${ms(k.acks.p90)} | ${ms(k.acks.p99)} | ${ms(k.acks.max)} | ${fmt(k.acks.count)} | ${fmt(k.errors)} | ${fmt(k.over3s)} |`,
    );
  }
  const seconds = (kind: VerifyWhere) => r.byKind[kind].seconds.map((x) => fmt(x, 2)).join(', ');
  const idle = (where: VerifyWhere) => r.idle.find((i) => i.where === where);
  console.log('\n| verification | under load: median s (each round) | with no load s |');
  console.log('| --- | ---: | ---: |');
  for (const where of ['background', 'main'] as const) {
    console.log(
      `| ${where === 'background' ? 'background thread (today)' : 'main thread (before `ca56cf2`)'} | ${fmt(median(r.byKind[where].seconds), 2)} (${seconds(where)}) | ${fmt(idle(where)?.seconds ?? Number.NaN, 2)} |`,
    );
  }
  console.log('\nBy window:\n');
  console.log(
    '| round | window | seconds | p50 ms | p99 ms | max ms | count | `/verify-audit` ack ms | event-loop delay p99 / max ms | app process CPU | machine busy |',
  );
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const w of r.windows) {
    const watch = w.watch;
    console.log(
      `| ${w.round} | ${w.kind} | ${fmt(w.seconds, 2)} | ${ms(w.acks.p50)} | ${ms(w.acks.p99)} | ${ms(w.acks.max)} | ${fmt(w.acks.count)} | ${w.verifyAckMs === undefined ? '' : ms(w.verifyAckMs)} | ` +
        `${watch ? `${ms(watch.eventLoopDelay.p99)} / ${ms(watch.eventLoopDelay.max)}` : 'n/a'} | ${percent(watch?.appCpuPercent)} | ${percent(watch?.machineBusyPercent)} |`,
    );
  }
  const answers = [
    ...r.idle.map((i) => i.whole),
    ...r.windows.filter((w) => w.kind !== 'baseline').map((w) => w.whole === true),
  ];
  const timedOut = r.windows.filter((w) => w.timedOut).length;
  console.log('');
  console.log(
    `- Answers saying "The audit log is whole": ${answers.filter(Boolean).length} of ${answers.length}${timedOut ? ` (${timedOut} not answered within ${VERIFY_TIMEOUT_MS / 1000} s)` : ''}. ` +
      `The app's \`audit.verified\` records: ${r.verified.filter((v) => v.ok).length} of ${r.verified.length} ok, events checked ${fmt(Math.min(...r.verified.map((v) => v.checked)))}–${fmt(Math.max(...r.verified.map((v) => v.checked)))}; head seq at the end ${fmt(r.headSeq)}.`,
  );
  console.log(
    `- The background thread's verify() was called ${r.backgroundVerifyCalls} times (expected ${1 + r.byKind.background.seconds.length}: each background verification, none of the main-thread ones).`,
  );
  console.log(`- First line of an answer: ${r.idle[0]?.answer ?? 'none'}`);
  console.log(
    `- ${fmt(r.sent)} commands sent (${fmt(r.contractors)} contractors in the policy${r.exhausted ? '; ran out of them: the run stopped early' : ''}); the sender fell behind its schedule by ${ms(r.maxLagMs)} ms at most. ` +
      `Filling the log took ${fmt(r.fillSeconds, 1)} s; the whole benchmark ${fmt(r.totalSeconds, 0)} s.`,
  );
  const load = (l: number[]) => l.map((x) => fmt(x, 2)).join(' / ');
  console.log(
    `- Load average (1 / 5 / 15 min) before: ${load(r.loadAverage.before)}, after: ${load(r.loadAverage.after)}. ${r.waitedForQuiet ? 'The load started after two quiet seconds.' : 'The machine did not get quiet within 60 s; the load started anyway.'}`,
  );
  console.log(
    `- Slack calls: ${counts(r.slack.calls)} (errors ${fmt(r.slack.callErrors)}); response_url posts by status: ${counts(r.slack.responses)}.`,
  );
  console.log(`- Warnings and errors logged: ${counts(r.problems)}.\n`);
}
