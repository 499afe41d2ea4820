/**
 * The hashing thread of a long verify (verify.ts, checkRowsInWorker). It receives the
 * binary COPY as transferred ArrayBuffers of whole stretches of it, frames the rows and
 * checks them with a ChainChecker that goes on from the state it was given, and posts back
 * acks (for flow control), progress, and at the end the checker's state.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ChainChecker, type CheckerState } from './checker.ts';
import { chainRowReader } from './row-check.ts';

export type WorkerReply =
  | { type: 'ack' }
  | { type: 'progress'; read: number }
  | { type: 'done'; read: number; complete: boolean; state: CheckerState }
  | { type: 'error'; message: string };

const port = parentPort!;
const post = (reply: WorkerReply): void => port.postMessage(reply);
const checker = ChainChecker.from((workerData as { state: CheckerState }).state);
const rows = chainRowReader(checker, { onProgress: (read) => post({ type: 'progress', read }) });
let broken = false;

port.on('message', (message: { buffer: ArrayBuffer; length: number } | 'end') => {
  if (message === 'end') {
    if (!broken) post({ type: 'done', read: rows.read(), complete: rows.reader.complete, state: checker.state() });
    port.close();
    return;
  }
  if (broken) return;
  try {
    rows.reader.push(Buffer.from(message.buffer, 0, message.length));
    post({ type: 'ack' });
  } catch (err) {
    broken = true;
    post({ type: 'error', message: (err as Error).message });
  }
});
