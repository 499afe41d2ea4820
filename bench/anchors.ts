/**
 * `npm run bench -- anchors`: how far behind the newest events the anchors kept outside the
 * database are, at a steady rate of events (issue 16, 3). Targets: every event older than
 * 5 s covered by a signed checkpoint in the audit channel, and one in the anchor file within
 * 30 s. Sampled every 250 ms while the app runs as in production (the fake Slack process
 * answers its posts): the age of the oldest event not yet covered by a checkpoint in the
 * channel (a feed post's, or a checkpoint post's, as the fake Slack holds them), and by the
 * anchor file's newest line.
 * Settings: BENCH_ANCHORS_RATES (20,80: events/s, one run each), BENCH_ANCHORS_SECONDS (40).
 */
import fs from 'node:fs/promises';
import { sql } from 'kysely';
import { createDb, createPool } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { OWNERS, contractorsGroup, startBenchGatehouse } from './bench-gatehouse.ts';
import type { BenchServer } from './cluster.ts';
import { FakeSlackProcess } from './fake-slack-process.ts';
import { fmt } from './format.ts';
import { machineCpu, busyPercent } from './machine-cpu.ts';
import { summarize } from './percentiles.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface AnchorsRun {
  rate: number;
  offered: number;
  channel: { p50: number; p99: number; max: number };
  file: { p50: number; p99: number; max: number };
  feedLagMax: number;
  checkpoints: number;
  machineBusy: number | null;
}

/** Each run its own audit channel: the fake Slack process outlives a run, and the feed reads its channel back at start. */
const channelOf = (rate: number) => `C0BENCHANCHOR${rate}`;
const policyFor = (rate: number) => `
audit_channel: ${channelOf(rate)}
groups:
  ${contractorsGroup(10)}
resources:
  - id: db
    name: Database
    owners: [${OWNERS.join(', ')}]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    provisioner: { kind: none }
`;

export async function benchAnchors(server: BenchServer, rates: number[], seconds: number): Promise<AnchorsRun[]> {
  const slack = await FakeSlackProcess.start();
  const runs: AnchorsRun[] = [];
  try {
    for (const rate of rates) {
      const name = `anchors_${rate}`;
      const url = await server.freshDatabase(name);
      const pool = createPool(url, 4);
      const db = createDb(pool);
      await migrateToLatest(db);
      const app = await startBenchGatehouse({ databaseUrl: url, policy: policyFor(rate), slack });
      const anchorFile = app.gatehouse.config.checkpoint.anchorFile!;
      const channelAges: number[] = [];
      const fileAges: number[] = [];
      let feedLagMax = 0;
      let offered = 0;
      let running = true;
      const cpu = await machineCpu();
      const load = (async () => {
        const start = performance.now();
        while (running) {
          const due = Math.floor(((performance.now() - start) / 1000) * rate);
          for (; offered < due; offered++)
            await app.gatehouse.audit.record({
              actor: 'system',
              action: 'request.reminded',
              subject: `req_bench${offered}`,
              body: { reminder: 1 },
            });
          await sleep(5);
        }
      })();
      // The first seconds are the app starting up: sampled from 5 s on.
      await sleep(5000);
      const end = performance.now() + seconds * 1000;
      while (performance.now() < end) {
        const { rows } = await sql<{ posted: string | null; head: string | null }>`
          select (select posted_seq from audit_channel_state) as posted,
                 (select max(seq) from audit_events) as head`.execute(db);
        const row = rows[0]!;
        feedLagMax = Math.max(feedLagMax, Number(row.head ?? 0) - Number(row.posted ?? 0));
        const fileSeq = await lastAnchoredSeq(anchorFile);
        // What the channel holds, as Slack has it: the checkpoints in its posts' metadata.
        channelAges.push(await oldestUncoveredAge(db, await slack.anchoredSeq(channelOf(rate))));
        fileAges.push(await oldestUncoveredAge(db, fileSeq));
        await sleep(250);
      }
      running = false;
      await load;
      const busy = busyPercent(cpu, await machineCpu());
      const { n } = await db
        .selectFrom('audit_checkpoints')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow();
      const problems = await app.stop();
      if (Object.keys(problems).length > 0) console.error(`anchors ${rate}/s: the app logged`, problems);
      await pool.end();
      await server.dropDatabase(name);
      const pick = (values: number[]) => {
        const s = summarize(values);
        return { p50: s.p50, p99: s.p99, max: s.max };
      };
      runs.push({
        rate,
        offered,
        channel: pick(channelAges),
        file: pick(fileAges),
        feedLagMax,
        checkpoints: Number(n),
        machineBusy: busy,
      });
    }
  } finally {
    await slack.stop();
  }
  return runs;
}

/** Seconds since the oldest event after `coveredSeq` was recorded; 0 when none is. */
async function oldestUncoveredAge(db: ReturnType<typeof createDb>, coveredSeq: number): Promise<number> {
  const { rows } = await sql<{ age: number | null }>`
    select extract(epoch from clock_timestamp() - occurred_at)::float8 as age
    from audit_log where seq = ${coveredSeq + 1}`.execute(db);
  return rows[0]?.age ?? 0;
}

async function lastAnchoredSeq(file: string): Promise<number> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const last = text.trimEnd().split('\n').at(-1);
  if (!last) return 0;
  return Number((JSON.parse(last) as { seq?: number }).seq ?? 0);
}

export function printAnchors(runs: AnchorsRun[]): void {
  console.log('\n## Anchors outside the database (age of the oldest event not yet covered, seconds)');
  console.log(
    '| events/s | offered | channel p50 | channel p99 | channel max | file p50 | file p99 | file max | feed lag max (events) | checkpoints | machine busy |',
  );
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of runs)
    console.log(
      `| ${r.rate} | ${fmt(r.offered)} | ${fmt(r.channel.p50, 2)} | ${fmt(r.channel.p99, 2)} | ${fmt(r.channel.max, 2)} | ${fmt(r.file.p50, 1)} | ${fmt(r.file.p99, 1)} | ${fmt(r.file.max, 1)} | ${fmt(r.feedLagMax)} | ${fmt(r.checkpoints)} | ${r.machineBusy === null ? 'n/a' : `${fmt(r.machineBusy)} %`} |`,
    );
}
