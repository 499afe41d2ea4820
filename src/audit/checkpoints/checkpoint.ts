import { HEX_HASH_PATTERN } from '../chain.ts';
import { signBytes, verifyBytes, type CheckpointKey, type CheckpointPublicKey } from './keys.ts';
import { canonicalJson, TIME_PATTERN } from '../event.ts';

/** First line of every signed checkpoint: names the format, so a signature means nothing elsewhere. */
export const CHECKPOINT_HEADER = 'gatehouse audit checkpoint v1';
export const CHECKPOINT_VERSION = 1;

/** What a checkpoint vouches for: the log's head at a moment, after the checkpoint before it. */
export interface CheckpointFields {
  /** The log's id (`gatehouse_meta.log_id`, a UUID). */
  logId: string;
  /** Seq of the newest event covered. */
  seq: number;
  /** Hash of that event, 64 lower-case hex digits. */
  hash: string;
  /** When it was made, by the database clock: the form of an event's `time`. */
  time: string;
  /** The previous checkpoint's signature (128 hex digits), or null for the first. */
  previous: string | null;
}

export interface Checkpoint extends CheckpointFields {
  /** Id of the key that signed it (see keyIdOf). */
  keyId: string;
  /** Ed25519 signature of encodeCheckpointMessage(fields), 128 lower-case hex digits. */
  signature: string;
}

export const LOG_ID_PATTERN = /^[0-9A-Za-z._-]{1,64}$/;
export const KEY_ID_PATTERN = /^[0-9a-f]{16}$/;
export const SIGNATURE_PATTERN = /^[0-9a-f]{128}$/;

export class InvalidCheckpointError extends Error {}

/**
 * The exact text that is signed: six lines, each `name value` ending in LF, in this order,
 * all ASCII (docs/audit-log.md, section 12.2):
 *
 *   gatehouse audit checkpoint v1
 *   log <log id>
 *   seq <decimal, no leading zeros>
 *   hash <64 lower-case hex>
 *   time <YYYY-MM-DDTHH:MM:SS.ffffffZ>
 *   previous <128 lower-case hex, or none>
 */
export function encodeCheckpointMessage(fields: CheckpointFields): string {
  const problem = fieldsProblem(fields);
  if (problem) throw new InvalidCheckpointError(problem);
  return [
    CHECKPOINT_HEADER,
    `log ${fields.logId}`,
    `seq ${fields.seq}`,
    `hash ${fields.hash}`,
    `time ${fields.time}`,
    `previous ${fields.previous ?? 'none'}`,
    '',
  ].join('\n');
}

export function signCheckpoint(fields: CheckpointFields, key: CheckpointKey): Checkpoint {
  const message = Buffer.from(encodeCheckpointMessage(fields), 'utf8');
  return { ...fields, keyId: key.publicKey.keyId, signature: signBytes(key, message).toString('hex') };
}

/** True when `key` made this checkpoint's signature over its fields. */
export function checkpointSignedBy(checkpoint: Checkpoint, key: CheckpointPublicKey): boolean {
  if (checkpoint.keyId !== key.keyId || !SIGNATURE_PATTERN.test(checkpoint.signature)) return false;
  const message = Buffer.from(encodeCheckpointMessage(checkpoint), 'utf8');
  return verifyBytes(key, message, Buffer.from(checkpoint.signature, 'hex'));
}

/**
 * The checkpoint as one line of RFC 8785 canonical JSON (no line ending): the anchor file's
 * line and the payload other channels carry.
 */
export function checkpointToJson(checkpoint: Checkpoint): string {
  return canonicalJson({
    v: CHECKPOINT_VERSION,
    log_id: checkpoint.logId,
    seq: checkpoint.seq,
    hash: checkpoint.hash,
    time: checkpoint.time,
    previous: checkpoint.previous,
    key_id: checkpoint.keyId,
    signature: checkpoint.signature,
  });
}

const JSON_KEYS = ['hash', 'key_id', 'log_id', 'previous', 'seq', 'signature', 'time', 'v'];

/** A checkpoint from its JSON form (parsed or text); throws InvalidCheckpointError saying what is wrong. */
export function parseCheckpoint(value: unknown): Checkpoint {
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new InvalidCheckpointError('not valid JSON');
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new InvalidCheckpointError('not a JSON object');
  const record = parsed as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  if (keys.length !== JSON_KEYS.length || keys.some((key, i) => key !== JSON_KEYS[i])) {
    throw new InvalidCheckpointError(`must have exactly the fields ${JSON_KEYS.join(', ')}`);
  }
  const { v, log_id: logId, seq, hash, time, previous, key_id: keyId, signature } = record;
  if (v !== CHECKPOINT_VERSION) throw new InvalidCheckpointError(`v must be ${CHECKPOINT_VERSION}`);
  if (typeof keyId !== 'string' || !KEY_ID_PATTERN.test(keyId))
    throw new InvalidCheckpointError('key_id must be 16 lower-case hex digits');
  if (typeof signature !== 'string' || !SIGNATURE_PATTERN.test(signature))
    throw new InvalidCheckpointError('signature must be 128 lower-case hex digits');
  const fields = { logId, seq, hash, time, previous } as CheckpointFields;
  const problem = fieldsProblem(fields);
  if (problem) throw new InvalidCheckpointError(problem);
  return { ...fields, keyId, signature };
}

function fieldsProblem(fields: CheckpointFields): string | null {
  const { logId, seq, hash, time, previous } = fields;
  if (typeof logId !== 'string' || !LOG_ID_PATTERN.test(logId))
    return 'the log id must be 1 to 64 letters, digits, dots, dashes or underscores';
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'seq must be a positive integer';
  if (typeof hash !== 'string' || !HEX_HASH_PATTERN.test(hash)) return 'hash must be 64 lower-case hex digits';
  if (typeof time !== 'string' || !TIME_PATTERN.test(time)) return 'time must look like 2026-01-31T23:59:59.123456Z';
  if (previous !== null && (typeof previous !== 'string' || !SIGNATURE_PATTERN.test(previous)))
    return 'previous must be null or 128 lower-case hex digits';
  return null;
}
