import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { ChainChecker, type VerifyResult } from './checker.ts';
import { CopyBinaryReader } from './copy-binary.ts';

export interface VerifyOptions {
  /** Called now and then with the number of events read so far. */
  onProgress?: (read: number) => void;
  /** Read the rows but skip the chain checks: the baseline the benchmark compares against. */
  readOnly?: boolean;
  /** The checker to feed, e.g. one that keeps the hashes of checkpointed seqs; a new one by default. */
  checker?: ChainChecker;
}

const PROGRESS_EVERY = 50_000;

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
 * Feeds the chained events to `checker` in seq order, from `fromSeq` on (all by default),
 * in one binary COPY on `client`: in a transaction, it reads that transaction's snapshot.
 * Returns the number of rows read.
 */
export async function checkRows(
  client: pg.PoolClient,
  checker: ChainChecker,
  options: VerifyOptions & { fromSeq?: number } = {},
): Promise<number> {
  let read = 0;
  // A checker that overrides check (one that collects events as they verify) is called as
  // before, with the stored hash as a string; a plain one compares the received bytes.
  const plain = checker.check === ChainChecker.prototype.check;
  const reader = new CopyBinaryReader((buf, starts, lengths) => {
    read += 1;
    if (options.onProgress && read % PROGRESS_EVERY === 0) options.onProgress(read);
    if (options.readOnly || checker.failed) return;
    if (lengths[0] !== 8 || lengths[1]! < 32 || lengths[2] !== 32) {
      checker.fail(read, 'malformed', `row ${read} of audit_events has a null or malformed column`);
      return;
    }
    const seq = buf.readUInt32BE(starts[0]!) * 2 ** 32 + buf.readUInt32BE(starts[0]! + 4);
    const hashInput = buf.subarray(starts[1]!, starts[1]! + lengths[1]!);
    if (plain) checker.checkStored(seq, hashInput, buf, starts[2]!);
    else checker.check(seq, hashInput, buf.toString('latin1', starts[2]!, starts[2]! + 32));
  });
  const from = options.fromSeq ?? 1;
  if (!Number.isSafeInteger(from) || from < 1) throw new RangeError(`fromSeq must be a positive integer, not ${from}`);
  const stream = client.query(
    copyTo(`copy (
      select seq, prev_hash || convert_to(canonical, 'UTF8'), hash
      from audit_events ${from > 1 ? `where seq >= ${from} ` : ''}order by seq
    ) to stdout (format binary)`),
  );
  for await (const chunk of stream) reader.push(chunk as Buffer);
  if (!reader.complete) throw new Error('the COPY stream from PostgreSQL ended early');
  options.onProgress?.(read);
  return read;
}

/** The highest seq in the table, for progress displays; null when it is empty. */
export async function headSeq(pool: pg.Pool): Promise<number | null> {
  const result = await pool.query<{ seq: number | null }>('select max(seq) as seq from audit_events');
  return result.rows[0]?.seq ?? null;
}
