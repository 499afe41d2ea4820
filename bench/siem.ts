/**
 * `npm run bench -- siem`: audit events forwarded to a SIEM on loopback, beside the rate
 * the chain grows at in the same run. For each destination (a local OTLP/HTTP receiver
 * decoding JSON, a local syslog server over TCP reading octet-counted frames):
 * - live: BENCH_SIEM_WRITERS writers record events as fast as they can for
 *   BENCH_SIEM_SECONDS while the streamer forwards them: events chained/s and forwarded/s
 *   over the same window, the lag at its end, and how long the rest took;
 * - backlog: the same log forwarded again from seq 0 with no writers: the streamer's ceiling.
 * Writers, sequencer, streamer and receiver share one process (and the machine with
 * PostgreSQL): the receiver's decoding is counted against the streamer.
 */
import os from 'node:os';
import { readLogId } from '../src/audit/checkpoints/store.ts';
import { AuditLog } from '../src/audit/audit-log.ts';
import { createDb, createPool } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { silentLogger } from '../src/log.ts';
import type { SiemDestination } from '../src/siem/destination.ts';
import { OtlpDestination } from '../src/siem/otlp.ts';
import { SiemStreamer } from '../src/siem/siem-streamer.ts';
import { syslogDestination } from '../src/siem/syslog.ts';
import { OtlpReceiver } from '../test/support/otlp-receiver.ts';
import { SyslogReceiver } from '../test/support/syslog-receiver.ts';
import type { BenchServer } from './cluster.ts';
import { fmt } from './format.ts';

export interface SiemBenchOptions {
  seconds: number;
  writers: number;
  batch: number;
  destinations: ('otlp' | 'syslog')[];
}

export function parseSiemOptions(env: NodeJS.ProcessEnv): SiemBenchOptions {
  const seconds = Number(env.BENCH_SIEM_SECONDS ?? 10);
  const writers = Number(env.BENCH_SIEM_WRITERS ?? 8);
  const batch = Number(env.BENCH_SIEM_BATCH ?? 500);
  const destinations = (env.BENCH_SIEM_DESTINATIONS ?? 'otlp,syslog').split(',') as SiemBenchOptions['destinations'];
  if (!(seconds > 0 && seconds <= 600)) throw new Error('BENCH_SIEM_SECONDS must be more than 0 and at most 600');
  if (!Number.isInteger(writers) || writers < 1 || writers > 64)
    throw new Error('BENCH_SIEM_WRITERS must be a whole number from 1 to 64');
  if (!Number.isInteger(batch) || batch < 1 || batch > 5000)
    throw new Error('BENCH_SIEM_BATCH must be a whole number from 1 to 5000 (GATEHOUSE_SIEM_BATCH)');
  if (!destinations.every((d) => d === 'otlp' || d === 'syslog'))
    throw new Error('BENCH_SIEM_DESTINATIONS must be a list of otlp and syslog');
  return { seconds, writers, batch, destinations };
}

export interface SiemBenchResult {
  destination: 'otlp' | 'syslog';
  seconds: number;
  chained: number;
  forwardedInWindow: number;
  lagAtEnd: number;
  catchUpSeconds: number;
  backlog: number;
  backlogSeconds: number;
  load: string;
}

interface Receiver {
  count: () => number;
  until: (done: () => boolean) => Promise<void>;
  reset: () => void;
  stop: () => Promise<void>;
}

async function receiverFor(
  kind: 'otlp' | 'syslog',
  logId: string,
): Promise<{ receiver: Receiver; destination: () => Promise<SiemDestination> }> {
  if (kind === 'otlp') {
    const otlp = new OtlpReceiver();
    await otlp.start();
    return {
      receiver: {
        count: () => otlp.records.length,
        until: (done) => otlp.until(done),
        reset: () => otlp.records.splice(0),
        stop: () => otlp.stop(),
      },
      destination: async () => new OtlpDestination({ url: otlp.url, headers: {}, logId }),
    };
  }
  const syslog = new SyslogReceiver();
  await syslog.start();
  return {
    receiver: {
      count: () => syslog.records.length,
      until: (done) => syslog.until(done),
      reset: () => syslog.records.splice(0),
      stop: () => syslog.stop(),
    },
    destination: () =>
      syslogDestination({ url: syslog.url, caFile: undefined, hostname: 'bench', appName: 'gatehouse', logId }),
  };
}

const loadNow = () =>
  os
    .loadavg()
    .map((n) => n.toFixed(1))
    .join(' / ');

async function runOne(
  server: BenchServer,
  kind: 'otlp' | 'syslog',
  options: SiemBenchOptions,
): Promise<SiemBenchResult> {
  const url = await server.freshDatabase(`gatehouse_bench_siem_${kind}`);
  const pool = createPool(url, options.writers + 4);
  pool.on('error', () => undefined);
  const db = createDb(pool);
  await migrateToLatest(db);
  const audit = new AuditLog(db, pool, silentLogger());
  audit.sequencer.start();
  const { receiver, destination } = await receiverFor(kind, await readLogId(db));
  const streamerOn = async () => {
    const streamer = new SiemStreamer(db, await destination(), {
      cue: audit.sequencer,
      log: silentLogger(),
      now: () => new Date(),
      batch: options.batch,
    });
    streamer.start();
    return streamer;
  };
  const loadBefore = loadNow();
  const live = await streamerOn();
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  await Promise.all(
    Array.from({ length: options.writers }, async (_, writer) => {
      for (let i = 0; performance.now() < deadline; i++)
        await audit.record({
          actor: 'U05CNTR0001',
          action: 'request.created',
          subject: `req_${writer}_${i}`,
          body: { resource: 'prod-db-readonly', duration_ms: 3_600_000, reason: `fix invoice export ${i}`, writer },
        });
    }),
  );
  await audit.flush();
  const windowSeconds = (performance.now() - started) / 1000;
  const forwardedInWindow = receiver.count();
  const head = Number(
    (
      await db
        .selectFrom('audit_events')
        .select((eb) => eb.fn.max('seq').as('head'))
        .executeTakeFirst()
    )?.head ?? 0,
  );
  await receiver.until(() => receiver.count() >= head);
  const catchUpSeconds = (performance.now() - started) / 1000 - windowSeconds;
  await live.stop();
  await audit.sequencer.stop();

  // The same log again, from the start, nothing else running: the streamer's ceiling.
  receiver.reset();
  await pool.query(`update siem_cursor set delivered_seq = 0 where destination = $1`, [kind]);
  const backlogStarted = performance.now();
  const again = await streamerOn();
  await receiver.until(() => receiver.count() >= head);
  const backlogSeconds = (performance.now() - backlogStarted) / 1000;
  await again.stop();
  await receiver.stop();
  await db.destroy();
  await server.dropDatabase(`gatehouse_bench_siem_${kind}`);
  return {
    destination: kind,
    seconds: windowSeconds,
    chained: head,
    forwardedInWindow,
    lagAtEnd: head - forwardedInWindow,
    catchUpSeconds,
    backlog: head,
    backlogSeconds,
    load: `${loadBefore} → ${loadNow()}`,
  };
}

export async function benchSiem(server: BenchServer, options: SiemBenchOptions): Promise<SiemBenchResult[]> {
  const results: SiemBenchResult[] = [];
  for (const kind of options.destinations) {
    const result = await runOne(server, kind, options);
    console.error(
      `  siem ${kind}: chained ${Math.round(result.chained / result.seconds)}/s, forwarded ${Math.round(result.forwardedInWindow / result.seconds)}/s, backlog ${Math.round(result.backlog / result.backlogSeconds)}/s`,
    );
    results.push(result);
  }
  return results;
}

export function printSiem(results: SiemBenchResult[], options: SiemBenchOptions): void {
  console.log(
    `${options.writers} writers for ${options.seconds} s, batches of ${options.batch}; load average (1 / 5 / 15 min) before → after.\n`,
  );
  console.log(
    '| destination | chained/s | forwarded/s (same window) | lag at end | caught up after | backlog forwarded/s (no writers) | load |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of results)
    console.log(
      `| ${r.destination} | ${fmt(r.chained / r.seconds)} | ${fmt(r.forwardedInWindow / r.seconds)} | ${fmt(r.lagAtEnd)} | ${fmt(r.catchUpSeconds, 2)} s | ${fmt(r.backlog / r.backlogSeconds)} (${fmt(r.backlog)} in ${fmt(r.backlogSeconds, 2)} s) | ${r.load} |`,
    );
  console.log('');
}
