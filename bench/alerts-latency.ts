/**
 * Event committed → alert posted (issue 14), on the real app against the fake Slack: the
 * stream runs in the background at a steady rate while events that each make one alert
 * are committed a few times a second, and each is timed from its commit to its alert's
 * arrival in the alert channel. Two kinds, one after the other, by the two ways events
 * reach the log: DDL statements recorded as the gateway records them (a group commit, which
 * does not nudge the sequencer: they are chained at its next poll, or the next nudge from
 * the watcher's own commits), then the fifth refusal of one person within minutes,
 * recorded by the app's own audit log as a Slack handler does (each commit nudges the
 * sequencer).
 */
import { sql } from 'kysely';
import { createDb, createPool, type Db } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { offerLoad, type OfferedLoad } from './alerts-load.ts';
import { AlertChannelWatch } from './alerts-slack.ts';
import { AlertStream } from './alerts-stream.ts';
import { Triggers, type TriggerKind } from './alerts-triggers.ts';
import { ALERT_CHANNEL, AUDIT_CHANNEL, alertsPolicy, alertsPolicyText, seedWorld } from './alerts-world.ts';
import type { BenchServer } from './cluster.ts';
import { busyPercent, machineCpu, waitForQuiet } from './machine-cpu.ts';
import { startBenchGatehouse, type BenchGatehouse } from './bench-gatehouse.ts';
import type { FakeSlackProcess } from './fake-slack-process.ts';
import { summarize, type Summary } from './percentiles.ts';

export interface LatencyOptions {
  /** Background events a second, one run each. */
  rates: number[];
  /** Alerts made in each run. */
  triggers: number;
  /** Between one trigger's commit and the next's. */
  everyMs: number;
  /** The background runs this long before the first trigger. */
  warmupSeconds: number;
  /**
   * A diagnostic: every seq counts as posted by the audit feed (one audit_channel_posts row
   * covering them all), so no alert waits for its evidence links and none is set again
   * every few seconds until they come.
   */
  prelinked: boolean;
}

/** One triggering event and what became of it; times are ms since the epoch. */
export interface TriggerTiming {
  kind: TriggerKind;
  committedAt: number;
  /** Its alert.raised queued, in the watcher's round (clock_timestamp). */
  recordedAt: number | null;
  /** Its notify_alert marked delivered. */
  deliveredAt: number | null;
  /** The alert reached the alert channel. */
  postedAt: number | null;
}

export interface LatencyRun {
  rate: number;
  prelinked: boolean;
  background: OfferedLoad;
  triggers: TriggerTiming[];
  /** Commit → posted, ms, over the triggers whose alert was posted; by kind too. */
  posted: Summary;
  postedByKind: Record<TriggerKind, Summary>;
  /** Commit → alert.raised queued, and → notify_alert delivered. */
  recorded: Summary;
  delivered: Summary;
  notPosted: number;
  /** Alerts the background stream made meanwhile, by detector. */
  backgroundAlerts: Record<string, number>;
  machineBusy: number | null;
  /** Outbox rows due and not yet delivered, at most (sampled every 500 ms), by kind at that moment. */
  outboxDueMax: Record<string, number>;
  /** Outbox rows delivered while the app ran, by kind. */
  outboxDelivered: Record<string, number>;
  /** Events chained but not yet posted to the audit channel by its feed, at the end. */
  feedBehind: number;
  /** Web API calls the app made, and the app's warnings and errors by message. */
  slackCalls: Record<string, number>;
  problems: Record<string, number>;
}

/** After the last trigger, how long its alerts may take before the run ends without them. */
const SETTLE_LIMIT_MS = 30_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Each trigger's alert: when it reached the alert channel, its notify_alert was delivered
 * and (with `recorded`, a scan of the chain) its alert.raised was queued.
 */
async function timingsOf(
  db: Db,
  triggers: Triggers,
  posts: Map<string, number>,
  recorded = false,
): Promise<TriggerTiming[]> {
  const { rows } = await sql<{
    incident_key: string;
    recorded: Date | null;
    delivered: Date | null;
    ts: string | null;
  }>`
    with raised as (
      select canonical::jsonb ->> 'subject' as id, (canonical::jsonb ->> 'time')::timestamptz as at
        from audit_events
       where ${recorded} and canonical like '%"action":"alert.raised"%')
    select a.incident_key, r.at as recorded, o.done_at as delivered, m.ts
      from alerts a
      left join raised r on r.id = a.id
      left join outbox o on o.kind = 'notify_alert' and o.payload ->> 'alertId' = a.id
      left join alert_messages m on m.alert_id = a.id and m.channel = ${ALERT_CHANNEL}
     where a.detector in ('db_ddl', 'refusal_burst')`.execute(db);
  return triggers.made.map((made) => {
    const row = rows.find((r) => r.incident_key.startsWith(made.key));
    return {
      kind: made.kind,
      committedAt: made.committedAt,
      recordedAt: row?.recorded?.getTime() ?? null,
      deliveredAt: row?.delivered?.getTime() ?? null,
      postedAt: row?.ts ? (posts.get(row.ts) ?? null) : null,
    };
  });
}

/** Due outbox rows by kind, and their total. */
async function outboxDue(db: Db): Promise<{ total: number; byKind: Record<string, number> }> {
  const rows = await db
    .selectFrom('outbox')
    .select(['kind', sql<number>`count(*)::int`.as('n')])
    .where('done_at', 'is', null)
    .where('next_attempt_at', '<=', sql<Date>`now()`)
    .groupBy('kind')
    .execute();
  return {
    total: rows.reduce((sum, row) => sum + row.n, 0),
    byKind: Object.fromEntries(rows.map((r) => [r.kind, r.n])),
  };
}

const since = (timings: TriggerTiming[], field: 'recordedAt' | 'deliveredAt' | 'postedAt'): number[] =>
  timings.flatMap((t) => (t[field] === null ? [] : [t[field] - t.committedAt]));

async function latencyRun(server: BenchServer, rate: number, options: LatencyOptions): Promise<LatencyRun> {
  const name = `gatehouse_bench_alerts_latency_${rate}`;
  const url = await server.freshDatabase(name);
  const pool = createPool(url, 4);
  pool.on('error', () => undefined);
  const db = createDb(pool);
  const slack = await AlertChannelWatch.start();
  let app: BenchGatehouse | null = null;
  try {
    await migrateToLatest(db);
    const at = new Date();
    const world = await seedWorld(db, alertsPolicy(at), at);
    if (options.prelinked)
      await db
        .insertInto('audit_channel_posts')
        .values({ first_seq: 0, last_seq: Number.MAX_SAFE_INTEGER, channel: AUDIT_CHANNEL, ts: '1.000000' })
        .execute();
    app = await startBenchGatehouse({
      databaseUrl: url,
      policy: alertsPolicyText(at),
      // It reads the fake's apiUrl alone; this fake also reports when each alert arrives.
      slack: { apiUrl: slack.apiUrl } as unknown as FakeSlackProcess,
    });
    await waitForQuiet(25, 10_000);
    const triggers = new Triggers(db, app, world, `l${rate}`);
    const stream = new AlertStream(world, `l${rate}`);
    const seconds = options.warmupSeconds + (options.triggers * options.everyMs) / 1000;
    const cpuBefore = await machineCpu();
    let dueMax = { total: 0, byKind: {} as Record<string, number> };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const due = await outboxDue(db);
        if (due.total > dueMax.total) dueMax = due;
        await sleep(500);
      }
    })();
    const background = offerLoad(db, stream, rate, seconds);
    await sleep(options.warmupSeconds * 1000);
    const fired: Promise<void>[] = [];
    const start = performance.now();
    for (let i = 0; i < options.triggers; i++) {
      await sleep(Math.max(0, start + i * options.everyMs - performance.now()));
      fired.push(triggers.fire(i, options.triggers, options.everyMs));
    }
    await Promise.all(fired);
    const offered = await background;
    const machineBusy = busyPercent(cpuBefore, await machineCpu());
    const settled = performance.now();
    while (
      (await timingsOf(db, triggers, slack.postedAt)).some((t) => t.postedAt === null) &&
      performance.now() - settled < SETTLE_LIMIT_MS
    )
      await sleep(250);
    sampling = false;
    await sampler;
    const timings = await timingsOf(db, triggers, slack.postedAt, true);
    await triggers.close();
    const delivered = await db
      .selectFrom('outbox')
      .select(['kind', sql<number>`count(*)::int`.as('n')])
      .where('done_at', 'is not', null)
      .groupBy('kind')
      .execute();
    const feed = await sql<{ behind: string }>`
      select (select coalesce(max(seq), 0) from audit_events) - posted_seq as behind from audit_channel_state`.execute(
      db,
    );
    const others = await db
      .selectFrom('alerts')
      .select(['detector', sql<number>`count(*)::int`.as('n')])
      .where('detector', 'not in', ['db_ddl', 'refusal_burst'])
      .groupBy('detector')
      .execute();
    const slackCalls = await slack.calls();
    const problems = await app.stop();
    app = null;
    const posted = timings.filter((t) => t.postedAt !== null);
    return {
      rate,
      prelinked: options.prelinked,
      background: offered,
      triggers: timings,
      posted: summarize(since(timings, 'postedAt')),
      postedByKind: {
        ddl: summarize(
          since(
            posted.filter((t) => t.kind === 'ddl'),
            'postedAt',
          ),
        ),
        refusal_burst: summarize(
          since(
            posted.filter((t) => t.kind === 'refusal_burst'),
            'postedAt',
          ),
        ),
      },
      recorded: summarize(since(timings, 'recordedAt')),
      delivered: summarize(since(timings, 'deliveredAt')),
      notPosted: timings.length - posted.length,
      backgroundAlerts: Object.fromEntries(others.map((row) => [row.detector, row.n])),
      machineBusy,
      outboxDueMax: dueMax.byKind,
      outboxDelivered: Object.fromEntries(delivered.map((row) => [row.kind, row.n])),
      feedBehind: Number(feed.rows[0]?.behind ?? 0),
      slackCalls,
      problems,
    };
  } finally {
    await app?.stop();
    await slack.stop();
    await db.destroy();
    await server.dropDatabase(name);
  }
}

export async function benchLatency(server: BenchServer, options: LatencyOptions): Promise<LatencyRun[]> {
  const runs: LatencyRun[] = [];
  for (const rate of options.rates) {
    console.error(
      `  the app at ${rate} events/s in the background: ${options.triggers} alerts, one every ${options.everyMs} ms (after ${options.warmupSeconds} s)${options.prelinked ? ', evidence prelinked' : ''}…`,
    );
    runs.push(await latencyRun(server, rate, options));
  }
  return runs;
}
