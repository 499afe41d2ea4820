import { HEX_HASH_PATTERN } from '../chain.ts';

/**
 * A grant's receipt (docs/merkle.md §13): every event about one grant, each with its
 * inclusion proof in the tree of the first `size` events, and the signed checkpoint of that
 * size. Hashes are lower-case hex. Checked offline by verifyReceipt (verify.ts).
 */
export const RECEIPT_FORMAT = 'gatehouse-receipt';
export const RECEIPT_VERSION = 1;

export interface ReceiptEvent {
  seq: number;
  /** The event's canonical text, exactly as hashed. */
  canonical: string;
  prev_hash: string;
  hash: string;
  /** Audit path of leaf seq − 1 in the tree of `size` leaves. */
  path: string[];
}

/** The checkpoint, as its anchor line's JSON (docs/audit-log.md §12.5). */
export interface ReceiptCheckpoint {
  v: number;
  log_id: string;
  seq: number;
  hash: string;
  time: string;
  previous: string | null;
  key_id: string;
  signature: string;
}

export interface Receipt {
  format: typeof RECEIPT_FORMAT;
  v: typeof RECEIPT_VERSION;
  log_id: string;
  key_id: string;
  grant: string;
  /** The tree's size: the checkpoint's seq. */
  size: number;
  root: string;
  checkpoint: ReceiptCheckpoint;
  /** The C2SP signed note of the checkpoint's tree size and root, when the log signs one; else null. */
  note: string | null;
  events: ReceiptEvent[];
}

/** Why a receipt was refused: the message names the event, proof or field. */
export class ReceiptError extends Error {
  constructor(
    message: string,
    /** The seq of the event that failed, when one did. */
    readonly seq: number | null = null,
  ) {
    super(message);
  }
}

/** The receipt could not be read at all (not JSON, not a receipt): the CLI's exit 2. */
export class MalformedReceiptError extends ReceiptError {}

export function receiptToJson(receipt: Receipt): string {
  return `${JSON.stringify(receipt, null, 2)}\n`;
}

const RECEIPT_KEYS = ['checkpoint', 'events', 'format', 'grant', 'key_id', 'log_id', 'note', 'root', 'size', 'v'];
const EVENT_KEYS = ['canonical', 'hash', 'path', 'prev_hash', 'seq'];

function exactKeys(value: Record<string, unknown>, keys: string[], what: string): void {
  const got = Object.keys(value).sort();
  if (got.length !== keys.length || got.some((key, i) => key !== keys[i]))
    throw new MalformedReceiptError(`${what} must have exactly the members ${keys.join(', ')}`);
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function wholeNumber(value: unknown, name: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw new MalformedReceiptError(`"${name}" must be a whole number ≥ ${min}`);
  return value;
}

function hexHash(value: unknown, name: string): string {
  if (typeof value !== 'string' || !HEX_HASH_PATTERN.test(value))
    throw new MalformedReceiptError(`"${name}" must be 64 lower-case hex digits`);
  return value;
}

/** The receipt's shape checked (step 1 of docs/merkle.md §13.3); throws MalformedReceiptError. */
export function parseReceipt(text: string): Receipt {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MalformedReceiptError('the receipt is not JSON');
  }
  if (!isObject(value) || value.format !== RECEIPT_FORMAT || value.v !== RECEIPT_VERSION)
    throw new MalformedReceiptError(
      `not a receipt: expected "format": "${RECEIPT_FORMAT}" and "v": ${RECEIPT_VERSION}`,
    );
  exactKeys(value, RECEIPT_KEYS, 'a receipt');
  for (const name of ['log_id', 'key_id', 'grant'] as const)
    if (typeof value[name] !== 'string' || value[name] === '')
      throw new MalformedReceiptError(`"${name}" must be a non-empty string`);
  wholeNumber(value.size, 'size', 1);
  hexHash(value.root, 'root');
  if (!isObject(value.checkpoint)) throw new MalformedReceiptError('"checkpoint" must be a checkpoint object');
  if (value.note !== null && typeof value.note !== 'string')
    throw new MalformedReceiptError('"note" must be the signed note\'s text, or null');
  if (!Array.isArray(value.events) || value.events.length === 0)
    throw new MalformedReceiptError('"events" must be a non-empty list');
  value.events.forEach((event: unknown, i: number) => {
    const where = `events[${i}]`;
    if (!isObject(event)) throw new MalformedReceiptError(`${where} must be an object`);
    // As exactKeys, without sorting each event's keys: a receipt of a long session has thousands.
    let count = 0;
    for (const key in event) if (Object.hasOwn(event, key)) count += 1;
    if (count !== EVENT_KEYS.length || !EVENT_KEYS.every((key) => Object.hasOwn(event, key)))
      throw new MalformedReceiptError(`${where} must have exactly the members ${EVENT_KEYS.join(', ')}`);
    wholeNumber(event.seq, `${where}.seq`, 1);
    if (typeof event.canonical !== 'string') throw new MalformedReceiptError(`${where}.canonical must be a string`);
    hexHash(event.prev_hash, `${where}.prev_hash`);
    hexHash(event.hash, `${where}.hash`);
    if (!Array.isArray(event.path)) throw new MalformedReceiptError(`${where}.path must be a list of hashes`);
    // Each element is checked to be 64 lower-case hex digits as the proof is walked (proofs.ts): read once.
    if (!event.path.every((element: unknown) => typeof element === 'string'))
      throw new MalformedReceiptError(`${where}.path must be a list of hashes`);
  });
  return value as unknown as Receipt;
}
