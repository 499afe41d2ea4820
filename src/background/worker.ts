/**
 * The background thread's entry (started through ./thread-boot.mjs): the sweeps, the
 * outbox notifier and the audit feed, on their own event loop and heap, so their queries,
 * rendering and garbage never hold up the main thread's answers to Slack.
 */
import { EventEmitter } from 'node:events';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { AuditLog } from '../audit/audit-log.ts';
import { loadCheckpointKey, publicKeyFromRaw } from '../audit/checkpoints/keys.ts';
import { accessService, checkpointer as makeCheckpointer } from '../boot/composition.ts';
import { registry, sequencerBatch, startThreadMetrics } from '../metrics/metrics.ts';
import { ShutdownStack } from '../boot/shutdown-stack.ts';
import { slackMode } from '../config/env.ts';
import { createDb, createPool } from '../db/database.ts';
import { createLogger } from '../log.ts';
import { closePostgresTargets } from '../provisioners/postgres.ts';
import { slackClient } from '../slack/client.ts';
import type { ToBackground, FromBackground, BackgroundData } from './protocol.ts';
import { startBackgroundWork } from './work.ts';

/** How much lower than the main thread this thread runs, in nice steps. */
const BACKGROUND_NICE = 10;
const port = parentPort!;
startThreadMetrics('background');
lowerPriority();
const data = workerData as BackgroundData;
const send = (message: FromBackground) => port.postMessage(message);

// Lines go to the main thread, which writes them where its own lines go: one stream, one order of redaction.
const log = createLogger({
  level: data.logLevel,
  pretty: false,
  destination: { write: (line: string) => (send({ type: 'log', line }), true) } as unknown as NodeJS.WritableStream,
}).child({ thread: 'background' });

/** Undoes what a start got as far as doing, in reverse; used on a failed start and at stop. */
const parts = new ShutdownStack(log, 'background shutdown step failed');

/** Shutdown steps of a started thread, run before its parts are stopped. */
let finish: (() => Promise<void>) | null = null;

async function start(): Promise<void> {
  const { config, policy } = data;
  const pool = createPool(data.databaseUrl, data.poolSize);
  // An idle connection cut by the server (a restart, a failover) must not end the thread: the pool replaces it.
  pool.on('error', (err) => log.warn({ err }, 'idle database connection failed'));
  parts.push(() => pool.end());
  const db = createDb(pool);
  const audit = new AuditLog(db, pool, log, { intervalMs: config.sequencerIntervalMs });
  audit.sequencer.start();
  parts.push(() => audit.sequencer.stop());
  const mode = slackMode(config);
  const client = mode.kind === 'none' ? null : slackClient(mode.botToken, config.slack.apiUrl, log);
  const core = { config, policy, db, audit, log, slack: client };
  const access = accessService(core);
  parts.push(() => closePostgresTargets());
  const key = await loadCheckpointKey(config.checkpoint);
  const checkpointer = key ? makeCheckpointer(core, pool, key) : null;
  // Events chained here (by the sweeps) and in the main thread (by commands) both wake the notifier and the feed.
  const cue = new EventEmitter();
  audit.sequencer.on('chained', (batch) => {
    sequencerBatch.observe(batch.count);
    cue.emit('chained');
  });
  port.on('message', (message: ToBackground) => {
    if (message.type === 'metrics')
      void registry.getMetricsAsJSON().then((metrics) => send({ type: 'metrics', id: message.id, metrics }));
    else if (message.type === 'chained') cue.emit('chained');
    else if (message.type === 'nudge') audit.sequencer.nudge();
    else if (message.type === 'verify') {
      const { id, publicKeyHex, anchors } = message;
      const publicKey = publicKeyHex ? publicKeyFromRaw(Buffer.from(publicKeyHex, 'hex')) : null;
      audit.verifyAnchored({ publicKey, anchors }).then(
        (result) => send({ type: 'verified', id, result }),
        (err: unknown) => send({ type: 'verified', id, error: (err as Error).message ?? String(err) }),
      );
    }
  });
  const work = await startBackgroundWork({
    config,
    policy,
    db,
    databaseUrl: data.databaseUrl,
    access,
    log,
    client,
    checkpointer,
    cue,
  });
  log.info(
    { sweepEverySeconds: config.sweepIntervalSeconds, slack: client !== null, checkpoints: checkpointer !== null },
    'background work started: sweeps, audit sequencing' + (client ? ', notifications and the audit feed' : ''),
  );
  finish = async () => {
    // No more sweeps; chain what is queued (the main thread took its last command already),
    // sign the last checkpoint, and give the notifier a few seconds to post it (and
    // whatever else is due) before it stops, so the channel holds the final anchor.
    await work.scheduler.stop();
    await work.timer?.stop();
    await audit.flush();
    if (checkpointer)
      await checkpointer
        .checkpointNow()
        .catch((err: unknown) => log.error({ err }, 'the last checkpoint could not be signed'));
    await work.notifier?.drain(SHUTDOWN_DELIVERY_MS);
    await work.stop();
  };
}

/** How long a stopping thread keeps delivering, so the last checkpoint reaches the channel. */
const SHUTDOWN_DELIVERY_MS = 5000;

// A stop may come while the start is still under way (catch-up sweeps, the feed's first
// read of the channel): it waits for the start, then stops.
const starting = start();
let stopping: Promise<void> | null = null;
port.on('message', (message: ToBackground) => {
  if (message.type !== 'stop') return;
  stopping ??= starting
    .catch(() => undefined)
    .then(async () => {
      await finish?.();
      await parts.stop();
    })
    .then(
      () => send({ type: 'stopped' }),
      (err: unknown) => send({ type: 'stopped', error: String(err) }),
    );
});
starting.then(
  () => send({ type: 'ready' }),
  async (err: unknown) => {
    // Nothing of a failed start may keep running (a sequencer, a pool): undo it, then say why.
    await parts.stop();
    send({ type: 'failed', message: (err as Error).message ?? String(err) });
  },
);

/**
 * On Linux, runs this thread at a lower CPU priority (nice 10) than the main thread, which
 * answers Slack: when the cores are short, acks go first and deliveries wait a little.
 * setpriority(2) takes a thread id there, which /proc/thread-self names.
 */
function lowerPriority(): void {
  if (process.platform !== 'linux') return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(tid) && tid > 0) setPriority(tid, BACKGROUND_NICE);
  } catch {
    // Not allowed or not available: the thread simply runs at the process's priority.
  }
}
