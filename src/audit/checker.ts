import { GENESIS_HASH, sha256Binary } from './chain.ts';

export type FailureReason =
  'empty' | 'gap' | 'duplicate' | 'out-of-order' | 'link-broken' | 'content-changed' | 'malformed';

export interface ChainFailure {
  /** The first seq at which the log is not whole. */
  seq: number;
  reason: FailureReason;
  message: string;
  /** Line number in an export file, for file verification. */
  line?: number;
}

export interface VerifyResult {
  ok: boolean;
  /** Events whose seq, link and hash were checked and found right. */
  checked: number;
  headSeq: number | null;
  /** Hex SHA-256 of the last event checked. */
  headHash: string | null;
  failure: ChainFailure | null;
}

/** A ChainChecker's state as plain data (structured-cloneable). */
export interface CheckerState {
  lastSeq: number;
  lastHash: string;
  checked: number;
  failure: ChainFailure | null;
  startSeq: number;
  watched: number[];
  hashes: [number, string][];
}

/** Hashes are compared as latin1 strings of their 32 bytes: no allocation per event. */
const GENESIS = GENESIS_HASH.toString('latin1');
const hex = (binary: string): string => Buffer.from(binary, 'latin1').toString('hex');
const short = (binary: string): string => hex(binary).slice(0, 16);

/** Whether the 32 bytes of `buf` at `at` are the hash `binary` (a latin1 string): no allocation. */
function sameHash(binary: string, buf: Buffer, at: number): boolean {
  for (let i = 0; i < 32; i++) if (binary.charCodeAt(i) !== buf[at + i]) return false;
  return true;
}

/**
 * The rules of a whole chain, applied one event at a time in seq order: seqs run 1, 2, 3 …
 * with no gap, repeat or step back; each event's prev_hash is the previous event's hash
 * (32 zero bytes for seq 1); and SHA-256(prev_hash ‖ canonical) is its stored hash.
 * It stops at the first failure. Memory use does not grow with the log.
 */
export class ChainChecker {
  private lastSeq = 0;
  private lastHash = GENESIS;
  private checked = 0;
  private failure: ChainFailure | null = null;
  private watched: Set<number> | null = null;
  /** Set by startAt: the seq the check starts from, whose prev_hash is not compared. */
  private startSeq = 0;
  private readonly hashes = new Map<number, string>();

  /** `watch`: seqs whose verified hashes to keep, for checking checkpoints against (hashAt). */
  constructor(watch: Iterable<number> = []) {
    this.watch(watch);
  }

  /**
   * Keeps the verified hashes of these seqs too, from the next event checked on: an export
   * names its checkpoints before its events, so its reader learns them after the checker is made.
   */
  watch(seqs: Iterable<number>): void {
    for (const seq of seqs) (this.watched ??= new Set()).add(seq);
  }

  /** The recomputed hash (hex) of a watched seq, once the event there has verified. */
  hashAt(seq: number): string | undefined {
    return this.hashes.get(seq);
  }

  /**
   * Starts the check at `seq` instead of 1 (`audit verify --since`). The event at `seq` has
   * no verified event before it here, so its prev_hash is not compared with anything: the
   * caller watches `seq` and compares its recomputed hash (hashAt), which covers prev_hash,
   * with the hash of a checkpoint it trusts. Call before the first check.
   */
  startAt(seq: number): void {
    this.startSeq = seq;
    this.lastSeq = seq - 1;
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  /**
   * `hashInput` is prev_hash followed by the canonical bytes, as hashed; its first 32 bytes
   * are the event's stored prev_hash. `hash` is the stored hash as a latin1 string of its
   * 32 bytes. Returns false once the chain has failed.
   */
  check(seq: number, hashInput: Buffer, hash: string, line?: number): boolean {
    return this.checkEvent(seq, hashInput, hash, null, 0, line);
  }

  /**
   * check, with the stored hash given as the 32 bytes of `stored` at `at` (a received COPY
   * row) rather than as a string, so that verifying a row allocates nothing but the
   * recomputed hash. Same rules, same failures.
   */
  checkStored(seq: number, hashInput: Buffer, stored: Buffer, at: number): boolean {
    return this.checkEvent(seq, hashInput, '', stored, at);
  }

  private checkEvent(
    seq: number,
    hashInput: Buffer,
    hash: string,
    stored: Buffer | null,
    at: number,
    line?: number,
  ): boolean {
    if (this.failure) return false;
    const expected = this.lastSeq + 1;
    if (seq !== expected) {
      if (seq === this.lastSeq && this.checked > 0) {
        return this.fail(seq, 'duplicate', `seq ${seq} appears more than once`, line);
      }
      if (seq < expected) {
        return this.fail(
          seq,
          'out-of-order',
          `seq ${seq} comes after seq ${this.lastSeq}: events are out of order`,
          line,
        );
      }
      if (this.startSeq > 0 && this.checked === 0) {
        const missing =
          seq - 1 === expected ? `seq ${expected} is missing` : `seqs ${expected} to ${seq - 1} are missing`;
        return this.fail(expected, 'gap', `${missing}: the first event from seq ${expected} on is seq ${seq}`, line);
      }
      if (expected === 1) {
        return this.fail(1, 'gap', `the log starts at seq ${seq}, not 1: events 1 to ${seq - 1} are missing`, line);
      }
      const missing =
        seq - 1 === expected ? `seq ${expected} is missing` : `seqs ${expected} to ${seq - 1} are missing`;
      return this.fail(expected, 'gap', `${missing}: seq ${this.lastSeq} is followed by seq ${seq}`, line);
    }
    if (hashInput.length < 32 || (!sameHash(this.lastHash, hashInput, 0) && seq !== this.startSeq)) {
      const prevHash = hashInput.toString('latin1', 0, 32);
      const before =
        seq === 1 ? 'the genesis value (32 zero bytes)' : `the hash of seq ${this.lastSeq} (${short(this.lastHash)}…)`;
      return this.fail(
        seq,
        'link-broken',
        `the prev_hash of seq ${seq} (${short(prevHash)}…) is not ${before}: an event before it was removed, inserted or replaced`,
        line,
      );
    }
    const actual = sha256Binary(hashInput);
    if (stored ? !sameHash(actual, stored, at) : actual !== hash) {
      const storedHash = stored ? stored.toString('latin1', at, at + 32) : hash;
      return this.fail(
        seq,
        'content-changed',
        `seq ${seq} was altered: its content hashes to ${short(actual)}…, but its stored hash is ${short(storedHash)}…`,
        line,
      );
    }
    const claimed = hashedSeq(hashInput);
    if (claimed !== seq) {
      return this.fail(
        seq,
        'out-of-order',
        `the event stored at seq ${seq} was chained as seq ${claimed ?? '(none)'}`,
        line,
      );
    }
    this.lastSeq = seq;
    this.lastHash = actual;
    this.checked += 1;
    if (this.watched?.has(seq)) this.hashes.set(seq, hex(actual));
    return true;
  }

  /**
   * Everything the checker has learnt, as plain data a worker thread can post back: the
   * checker that receives it (adopt) then answers result() and hashAt() as this one would.
   */
  state(): CheckerState {
    const { lastSeq, lastHash, checked, failure, startSeq } = this;
    return {
      lastSeq,
      lastHash,
      checked,
      failure,
      startSeq,
      watched: [...(this.watched ?? [])],
      hashes: [...this.hashes],
    };
  }

  /** Takes over the state of a checker that checked the rows elsewhere (a worker thread). */
  adopt(state: CheckerState): void {
    this.lastSeq = state.lastSeq;
    this.lastHash = state.lastHash;
    this.checked = state.checked;
    this.failure = state.failure;
    this.startSeq = state.startSeq;
    for (const [seq, hash] of state.hashes) this.hashes.set(seq, hash);
  }

  /** A checker that goes on from `state` (in a worker thread): same seqs watched, same start. */
  static from(state: CheckerState): ChainChecker {
    const checker = new ChainChecker(state.watched);
    checker.adopt(state);
    return checker;
  }

  /** Records a failure; also for problems found outside the chain rules, such as an unreadable export line. */
  fail(seq: number, reason: FailureReason, message: string, line?: number): false {
    this.failure ??= line === undefined ? { seq, reason, message } : { seq, reason, message, line };
    return false;
  }

  /** The verdict. An empty log fails: a log that should hold events but holds none proves nothing. */
  result(): VerifyResult {
    if (!this.failure && this.checked === 0 && this.startSeq === 0) {
      this.fail(1, 'empty', 'the audit log holds no events: an empty log does not verify');
    }
    return {
      ok: this.failure === null,
      checked: this.checked,
      headSeq: this.checked > 0 ? this.lastSeq : null,
      headHash: this.checked > 0 ? hex(this.lastHash) : null,
      failure: this.failure,
    };
  }
}

const SEQ_KEY = Buffer.from('"seq":');

/**
 * The top-level `seq` inside the hashed text, found without parsing the whole event.
 * Canonical key order puts `seq` after `body` and before `subject`, `time` and `v`, whose
 * values hold no `"seq":` (inside a JSON string a quote is always escaped), so the last
 * occurrence is the top-level key.
 */
function hashedSeq(bytes: Buffer): number | null {
  const at = bytes.lastIndexOf(SEQ_KEY);
  if (at < 32) return null;
  let value = 0;
  let i = at + SEQ_KEY.length;
  for (; i < bytes.length; i++) {
    const digit = bytes[i]! - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  return i > at + SEQ_KEY.length && bytes[i] === 44 /* , */ ? value : null;
}
