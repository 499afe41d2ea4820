import { ChainChecker } from './checker.ts';
import { CopyBinaryReader } from './copy-binary.ts';

export const PROGRESS_EVERY = 50_000;

export interface RowCheckOptions {
  /** Frame the rows but skip the chain checks: the benchmark's baseline. */
  readOnly?: boolean;
  /** Called every PROGRESS_EVERY rows with the number read so far. */
  onProgress?: (read: number) => void;
}

/**
 * A reader of verify's binary COPY (`seq`, `prev_hash ‖ canonical`, `hash`) that hands each
 * row to `checker`: the same on the main thread and in the hashing worker. `read()` is the
 * number of rows framed so far.
 */
export function chainRowReader(
  checker: ChainChecker,
  options: RowCheckOptions = {},
): { reader: CopyBinaryReader; read: () => number } {
  let read = 0;
  // A checker that overrides check (one that collects events as they verify) is called as
  // before, with the stored hash as a string; a plain one compares the received bytes.
  const plain = isPlainChecker(checker);
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
  return { reader, read: () => read };
}

/** Whether `checker` checks as ChainChecker does, with no override of check: then it can run in the worker. */
export function isPlainChecker(checker: ChainChecker): boolean {
  return checker.check === ChainChecker.prototype.check;
}
