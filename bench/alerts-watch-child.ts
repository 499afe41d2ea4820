/**
 * The watcher of the alerts benchmark, alone in a process so that its CPU is its own: the
 * real Watcher with every detector on, woken by the sequencer's batches (passed on by the
 * parent from alerts-chain-child.ts), its commits nudging the sequencer back. It can also
 * take the chain apart for the report: a pass that only reads the events, and one that
 * runs the detectors over them without raising anything.
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import type { AlertInput } from '../src/access/alerts.ts';
import { AuditLog } from '../src/audit/audit-log.ts';
import type { Policy } from '../src/config/policy.ts';
import { createDb, createPool, type Db } from '../src/db/database.ts';
import { createLogger } from '../src/log.ts';
import { parsePolicy } from '../src/provisioners/index.ts';
import { readEvents } from '../src/watch/chain.ts';
import { WatchEngine } from '../src/watch/engine.ts';
import { databaseFacts } from '../src/watch/facts.ts';
import { Watcher } from '../src/watch/watcher.ts';
import type { FromChild, PassesResult, ToWatchChild } from './alerts-children.ts';

const [url] = process.argv.slice(2);
if (!url) throw new Error('usage: alerts-watch-child <gatehouse database url>');
const pool = createPool(url, 4);
pool.on('error', () => undefined);
const db = createDb(pool);
const send = (message: FromChild) => process.send?.(message);

/** Rebuilds the watcher logged, with how many events each replayed; problems go to stderr. */
const replays: number[] = [];
const lines = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      const entry = JSON.parse(line) as { level: number; msg?: string; replayed?: number };
      if (entry.msg === 'detector windows rebuilt from the chain') replays.push(entry.replayed ?? 0);
      if (entry.level >= 40) process.stderr.write(`watcher: ${line}\n`);
    }
    done();
  },
});
const log = createLogger({ level: 'debug', destination: lines });
const cue = new EventEmitter();
const audit = new AuditLog(db, pool, log, { nudge: () => send({ type: 'nudge' }) });
let watcher: Watcher | null = null;

process.on('message', (message: ToWatchChild) => {
  switch (message.type) {
    case 'chained':
      cue.emit('chained');
      return;
    case 'start':
      void startWatching(message.policyText, message.batch).then((started) =>
        send({ type: 'started', id: message.id, ...started }),
      );
      return;
    case 'cpu':
      send({ type: 'cpu', id: message.id, ...usage(), rebuilds: watcher?.rebuilds ?? 0, replays });
      return;
    case 'passes':
      void passes(
        db,
        parsePolicy(message.policyText, 'bench-alerts.yml'),
        message.from,
        message.to,
        message.batch,
      ).then((result) => send({ type: 'passes', id: message.id, ...result }));
      return;
    case 'stop':
      void stop();
      return;
  }
});
process.once('disconnect', () => void stop());

function usage() {
  const cpu = process.cpuUsage();
  return { cpuMs: (cpu.user + cpu.system) / 1000, rssMb: process.memoryUsage.rss() / 2 ** 20 };
}

/**
 * Starts the watcher; its first round (the rebuild of its windows from the chain, and one
 * batch) is timed. Says how far back each detector's replay reaches, too.
 */
async function startWatching(
  policyText: string,
  batch: number,
): Promise<{ firstRoundMs: number; lookbacksMs: number[] }> {
  const policy = parsePolicy(policyText, 'bench-alerts.yml');
  const lookbacksMs = new WatchEngine(policy, databaseFacts(db)).replays.map((replay) => replay.lookbackMs);
  // Leadership as the app has it: one replica watches while it holds the watcher lock.
  watcher = new Watcher({ db, audit, policy: () => policy, cue, log, now: () => new Date(), batch, leadership: true });
  const started = performance.now();
  await watcher.round();
  const firstRoundMs = performance.now() - started;
  watcher.start();
  return { firstRoundMs, lookbacksMs };
}

async function stop(): Promise<void> {
  await watcher?.stop();
  await db.destroy();
  process.exit(0);
}

/**
 * Where a round's time goes: reading the events of (from, to] as a round does, in batches
 * of `batch`, one transaction each; the detectors over them (their facts read from the
 * database), what they find counted but not raised; and, for comparison, reading the same
 * events' canonical text, parsed here.
 */
async function passes(db: Db, policy: Policy, from: number, to: number, batch: number): Promise<PassesResult> {
  let read = 0;
  const readStarted = performance.now();
  for (let cursor = from; cursor < to; cursor += batch)
    read += (await db.transaction().execute((trx) => readEvents(trx, cursor, Math.min(to, cursor + batch)))).length;
  const readMs = performance.now() - readStarted;

  // The same events as their canonical text, parsed here instead of by the audit_log view.
  const rawStarted = performance.now();
  for (let cursor = from; cursor < to; cursor += batch) {
    const rows = await db
      .selectFrom('audit_events')
      .select(['seq', 'canonical'])
      .where('seq', '>', cursor)
      .where('seq', '<=', Math.min(to, cursor + batch))
      .orderBy('seq')
      .execute();
    for (const row of rows) JSON.parse(row.canonical);
  }
  const rawReadMs = performance.now() - rawStarted;

  const engine = new WatchEngine(policy, databaseFacts(db));
  const found: AlertInput[] = [];
  let detectMs = 0;
  for (let cursor = from; cursor < to; cursor += batch) {
    const events = await readEvents(db, cursor, Math.min(to, cursor + batch));
    const started = performance.now();
    for (const event of events) found.push(...(await engine.observe(event)));
    detectMs += performance.now() - started;
  }
  const findings: Record<string, number> = {};
  for (const alert of found) findings[alert.detector] = (findings[alert.detector] ?? 0) + 1;
  return { events: read, readMs, rawReadMs, detectMs, findings };
}

send({ type: 'ready' });
