import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { ChainChecker, type VerifyResult } from './checker.ts';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { copyOut } from './copy-out.ts';
import { chainRowReader, isPlainChecker, type RowCheckOptions } from './row-check.ts';
import type { WorkerReply } from './verify-worker.ts';

export interface VerifyOptions {
  /** Called now and then with the number of events read so far. */
  onProgress?: (read: number) => void;
  /** Read the rows but skip the chain checks: the baseline the benchmark compares against. */
  readOnly?: boolean;
  /** The checker to feed, e.g. one that keeps the hashes of checkpointed seqs; a new one by default. */
  checker?: ChainChecker;
  /** Hash on a worker thread: 'auto' (the default) from WORKER_MIN_EVENTS events on, with WORKER_MIN_CPUS CPUs. */
  worker?: boolean | 'auto';
}

/**
 * Re-checks the whole chain in the database, in our own code: every event's hash is
 * recomputed from its stored bytes. Rows arrive in one binary COPY, so memory stays flat
 * however long the log is, and the read is one consistent snapshot.
 *
 * The server sends `prev_hash ‖ canonical` as one value, the exact input of the hash; its
 * first 32 bytes are the stored prev_hash, which the checker compares with the previous
 * event's recomputed hash, so nothing the server computes is trusted.
 */
export async function verifyChain(pool: pg.Pool, options: VerifyOptions = {}): Promise<VerifyResult> {
  const client = await pool.connect();
  const checker = options.checker ?? new ChainChecker();
  try {
    await checkRows(client, checker, options);
  } finally {
    client.release();
  }
  return checker.result();
}

/**
 * From this many events on, and with this many CPUs, verify hashes on a second thread (see
 * checkRowsInWorker). With two CPUs the PostgreSQL backend streaming the rows already needs
 * about one of them, and the worker's start-up (0.3 s of CPU) is a loss: docs/benchmarks.md §2.
 */
export const WORKER_MIN_EVENTS = 100_000;
export const WORKER_MIN_CPUS = 3;

/**
 * Feeds the chained events to `checker` in seq order, from `fromSeq` on (all by default),
 * in one binary COPY on `client`: in a transaction, it reads that transaction's snapshot.
 * A long log on a machine with CPUs to spare (or `worker: true`) is hashed on a worker
 * thread while this one receives the next rows. Returns the number of rows read.
 */
export async function checkRows(
  client: pg.PoolClient,
  checker: ChainChecker,
  options: VerifyOptions & { fromSeq?: number } = {},
): Promise<number> {
  const from = options.fromSeq ?? 1;
  if (!Number.isSafeInteger(from) || from < 1) throw new RangeError(`fromSeq must be a positive integer, not ${from}`);
  let worker = options.worker ?? 'auto';
  if (options.readOnly || !isPlainChecker(checker)) worker = false;
  if (worker === 'auto' && availableParallelism() < WORKER_MIN_CPUS) worker = false;
  if (worker === 'auto') {
    const { rows } = await client.query<{ head: string | null }>('select max(seq) as head from audit_events');
    worker = Number(rows[0]?.head ?? 0) - from + 1 >= WORKER_MIN_EVENTS;
  }
  const text = `copy (
      select seq, prev_hash || convert_to(canonical, 'UTF8'), hash
      from audit_events ${from > 1 ? `where seq >= ${from} ` : ''}order by seq
    ) to stdout (format binary)`;
  const read = worker
    ? await checkRowsInWorker(client.query(copyTo(text)), checker, options.onProgress)
    : await checkRowsHere(client, text, checker, options);
  options.onProgress?.(read);
  return read;
}

/** On this thread: each row is framed and checked in place in the socket's buffers (copy-out.ts). */
async function checkRowsHere(client: pg.PoolClient, text: string, checker: ChainChecker, options: RowCheckOptions) {
  const rows = chainRowReader(checker, options);
  await copyOut(client, text, (buf, start, end) => rows.reader.push(buf, start, end));
  if (!rows.reader.complete) throw new Error('the COPY stream from PostgreSQL ended early');
  return rows.read();
}

/** Bytes of the COPY stream per message to the worker, and messages in flight before this thread waits. */
const BATCH_BYTES = 1 << 20;
const IN_FLIGHT = 8;

/**
 * The COPY stream is copied into 1 MiB ArrayBuffers, each transferred (not copied again) to
 * a worker thread that frames the rows and hashes them (verify-worker.ts): this thread only
 * receives. The worker's checker starts from `checker`'s state and hands its state back, so
 * the verdict, its failure and hashAt are exactly what checking here would give.
 */
async function checkRowsInWorker(
  stream: AsyncIterable<unknown>,
  checker: ChainChecker,
  onProgress?: (read: number) => void,
): Promise<number> {
  const worker = new Worker(new URL('./verify-worker.mjs', import.meta.url), {
    // Only tsx's loader: the parent's own flags (--cpu-prof, say) may not be allowed in a worker.
    execArgv: ['--import', import.meta.resolve('tsx')],
    workerData: { state: checker.state() },
  });
  let inFlight = 0;
  let wake: (() => void) | null = null;
  let failed: Error | null = null;
  const finished = new Promise<Extract<WorkerReply, { type: 'done' }>>((resolve, reject) => {
    worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'ack') inFlight -= 1;
      else if (reply.type === 'progress') onProgress?.(reply.read);
      else if (reply.type === 'done') resolve(reply);
      else failed ??= new Error(reply.message);
      if (failed) reject(failed);
      wake?.();
    });
    worker.on('error', (err) => {
      failed ??= err;
      reject(err);
      wake?.();
    });
    worker.on('exit', () => reject(failed ?? new Error('the verify worker stopped before it answered')));
  });
  finished.catch(() => undefined);
  let batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
  let used = 0;
  const send = async (): Promise<void> => {
    while (inFlight >= IN_FLIGHT && !failed) await new Promise<void>((resolve) => (wake = resolve));
    if (failed) throw failed;
    const buffer = batch.buffer as ArrayBuffer;
    inFlight += 1;
    worker.postMessage({ buffer, length: used }, [buffer]);
    batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
    used = 0;
  };
  try {
    for await (const item of stream) {
      const chunk = item as Buffer;
      for (let at = 0; at < chunk.length;) {
        const n = Math.min(chunk.length - at, BATCH_BYTES - used);
        chunk.copy(batch, used, at, at + n);
        used += n;
        at += n;
        if (used === BATCH_BYTES) await send();
      }
    }
    if (used > 0) await send();
    worker.postMessage('end');
    const done = await finished;
    if (!done.complete) throw new Error('the COPY stream from PostgreSQL ended early');
    checker.adopt(done.state);
    return done.read;
  } finally {
    await worker.terminate();
  }
}

/** The highest seq in the table, for progress displays; null when it is empty. */
export async function headSeq(pool: pg.Pool): Promise<number | null> {
  const result = await pool.query<{ seq: number | null }>('select max(seq) as seq from audit_events');
  return result.rows[0]?.seq ?? null;
}
