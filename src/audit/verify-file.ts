import fs from 'node:fs';
import { HEX_HASH_PATTERN } from './chain.ts';
import { ChainChecker, type VerifyResult } from './checker.ts';
import {
  checkpointToJson,
  InvalidCheckpointError,
  KEY_ID_PATTERN,
  LOG_ID_PATTERN,
  parseCheckpoint,
  type Checkpoint,
} from './checkpoints/checkpoint.ts';
import { ACTION_PATTERN, ACTOR_PATTERN, canonicalJson, EVENT_VERSION, TIME_PATTERN } from './event.ts';
import { CompactRange } from './tree/compact-range.ts';

/** The header line's `format`: the first line of a self-contained export (docs/audit-log.md, section 6.1). */
export const EXPORT_FORMAT = 'gatehouse audit export';
/**
 * Export format 3 is format 2 whose checkpoint lines may carry their signed notes (`note`);
 * format 2 has the header and the checkpoints; format 1 files are event lines only. The
 * writer writes 3 only when a checkpoint has a note, so a log without notes still exports
 * in the form an older verifier reads (its checkpoint lines refuse unknown members).
 */
export const EXPORT_VERSION = 3;
export type ExportVersion = 2 | 3;

export interface VerifyFileOptions {
  onProgress?: (read: number) => void;
  /** The checker to feed, e.g. one that keeps the hashes of anchored seqs; a new one by default. */
  checker?: ChainChecker;
}

/** A checkpoint carried in an export, and where: `audit.jsonl line 3`. */
export interface ExportedCheckpoint {
  source: string;
  checkpoint: Checkpoint;
  /** Its signed note of the Merkle tree at its seq (docs/merkle.md §11), as exported; null in format 2 or without one. */
  note: string | null;
}

/** What a format 2 or 3 export says about itself: its log, the key its checkpoints name, and the checkpoints, oldest first. */
export interface ExportBundle {
  version: ExportVersion;
  logId: string;
  keyId: string | null;
  checkpoints: ExportedCheckpoint[];
}

export interface ExportFileResult {
  chain: VerifyResult;
  /** Null for a format 1 export (event lines only), which names no log and carries no checkpoint. */
  bundle: ExportBundle | null;
  /**
   * The Merkle tree's root (hex) over the file's events at each seq a checkpoint with a note
   * names, for those the verified events reach (docs/merkle.md §4).
   */
  treeRoots: Map<number, string>;
}

const HEADER_KEYS = ['format', 'key_id', 'log_id', 'v'];
const LINE_KEYS = ['event', 'hash', 'prev_hash'];
const EVENT_KEYS = ['action', 'actor', 'body', 'seq', 'subject', 'time', 'v'];
const EVENT_LINE_START = '{"event":';
const HEADER_START = '{"format":';
const LF = 0x0a;
const CR = 0x0d;

/** The header line of an export, without its LF: format 3 when its checkpoints carry notes, else format 2. */
export function exportHeaderLine(logId: string, keyId: string | null, withNotes = false): string {
  return canonicalJson({ format: EXPORT_FORMAT, key_id: keyId, log_id: logId, v: withNotes ? EXPORT_VERSION : 2 });
}

/** A checkpoint line, without its LF: the anchor form, with the note as a ninth member when there is one (format 3). */
export function exportedCheckpointLine(checkpoint: Checkpoint, note: string | null): string {
  const line = checkpointToJson(checkpoint);
  return note === null ? line : canonicalJson({ ...(JSON.parse(line) as Record<string, unknown>), note });
}

/**
 * Verifies an export's chain with no database (see readExportFile); the header and the
 * checkpoints of a format 2 export are read but not judged here.
 */
export async function verifyExportFile(file: string, options: VerifyFileOptions = {}): Promise<VerifyResult> {
  return (await readExportFile(file, options)).chain;
}

/**
 * Reads an export (see exportChain) with no database, line by line, in constant memory but
 * for its checkpoints: the header and checkpoint lines of format 2, then the event lines,
 * whose chain it checks. Every line must be valid UTF-8, end with LF (no CR, the last line
 * too) and be byte for byte the canonical JSON of what it holds, so an edit that would not
 * change a parsed value (hex case, spacing, escapes) is caught too. Each event must have
 * exactly the fields of docs/audit-log.md, in their forms. The seqs the checkpoints name are
 * watched on the checker, so their verified hashes can be compared afterwards; at those whose
 * checkpoint carries a note, the Merkle tree's root over the verified events is kept, from a
 * compact range fed as the events stream (O(log n) memory, and only up to the last such seq).
 * The checkpoints come before the events, so those seqs are known before the first event.
 */
export async function readExportFile(file: string, options: VerifyFileOptions = {}): Promise<ExportFileResult> {
  const checker = options.checker ?? new ChainChecker();
  let bundle: ExportBundle | null = null;
  let eventsStarted = false;
  // The tree over the verified events, while some noted checkpoint's seq is still ahead.
  const tree = new CompactRange();
  const treeRoots = new Map<number, string>();
  let notedSeqs = new Set<number>();
  let lastNotedSeq = 0;
  let lineNo = 0;
  let lastSeq = 0;
  for await (const raw of linesOf(file)) {
    lineNo += 1;
    if (options.onProgress && lineNo % 50_000 === 0) options.onProgress(lineNo);
    const malformed = (problem: string): void => {
      checker.fail(lastSeq + 1, 'malformed', `line ${lineNo}: ${problem}`, lineNo);
    };
    const line = decodeLine(raw);
    if (line.problem !== null) {
      malformed(line.problem);
      break;
    }
    const text = line.text;
    if (lineNo === 1 && text.startsWith(HEADER_START)) {
      const header = parseHeader(text);
      if (typeof header === 'string') {
        malformed(header);
        break;
      }
      bundle = { ...header, checkpoints: [] };
      continue;
    }
    if (bundle && !eventsStarted && !text.startsWith(EVENT_LINE_START)) {
      const exported = parseCheckpointLine(text, bundle.version);
      if (typeof exported === 'string') {
        malformed(exported);
        break;
      }
      bundle.checkpoints.push({ source: `${file} line ${lineNo}`, ...exported });
      continue;
    }
    if (!eventsStarted) {
      eventsStarted = true;
      if (bundle) {
        checker.watch(bundle.checkpoints.map((cp) => cp.checkpoint.seq));
        notedSeqs = new Set(bundle.checkpoints.filter((cp) => cp.note !== null).map((cp) => cp.checkpoint.seq));
        for (const seq of notedSeqs) lastNotedSeq = Math.max(lastNotedSeq, seq);
      }
    }
    const parsed = parseEventLine(text);
    if (typeof parsed === 'string') {
      malformed(parsed);
      break;
    }
    if (!checker.check(parsed.seq, parsed.hashInput, parsed.hash, lineNo)) break;
    lastSeq = parsed.seq;
    // The checker has seen seqs 1, 2, … with no gap, so this event is leaf seq − 1.
    if (parsed.seq <= lastNotedSeq) {
      tree.push(Buffer.from(parsed.hash, 'latin1'));
      if (notedSeqs.has(parsed.seq)) treeRoots.set(parsed.seq, tree.root().toString('hex'));
    }
  }
  return { chain: checker.result(), bundle, treeRoots };
}

interface RawLine {
  bytes: Buffer;
  /** False for a last line with no LF after it. */
  ended: boolean;
}

/** The file's lines as bytes, split at LF (0x0A) only: U+2028 and a lone CR are not line breaks. */
async function* linesOf(file: string): AsyncGenerator<RawLine> {
  let pending: Buffer[] = [];
  for await (const chunk of fs.createReadStream(file)) {
    const buf = chunk as Buffer;
    let start = 0;
    for (let at = buf.indexOf(LF); at !== -1; at = buf.indexOf(LF, start)) {
      const piece = buf.subarray(start, at);
      yield { bytes: pending.length > 0 ? Buffer.concat([...pending, piece]) : piece, ended: true };
      pending = [];
      start = at + 1;
    }
    if (start < buf.length) pending.push(buf.subarray(start));
  }
  if (pending.length > 0) yield { bytes: Buffer.concat(pending), ended: false };
}

// fatal: invalid UTF-8 is refused, not replaced with U+FFFD; ignoreBOM: a byte order mark is
// kept as U+FEFF, so it fails the byte check instead of being skipped.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeLine(raw: RawLine): { text: string; problem: null } | { text: null; problem: string } {
  if (!raw.ended)
    return { text: null, problem: 'the last line does not end with LF: the file was cut short or edited' };
  if (raw.bytes.at(-1) === CR)
    return { text: null, problem: 'ends with CR LF: lines of an export end with LF alone (a copy converted them)' };
  try {
    return { text: utf8.decode(raw.bytes), problem: null };
  } catch {
    return { text: null, problem: 'is not valid UTF-8' };
  }
}

function parseHeader(text: string): Omit<ExportBundle, 'checkpoints'> | string {
  const parsed = parseJson(text);
  if (!isRecord(parsed) || !sameKeys(parsed, HEADER_KEYS))
    return `the header must have exactly the fields ${HEADER_KEYS.join(', ')}`;
  const { format, key_id: keyId, log_id: logId, v } = parsed;
  if (format !== EXPORT_FORMAT) return `the header's format must be "${EXPORT_FORMAT}"`;
  if (v !== 2 && v !== 3)
    return `the header says export format ${JSON.stringify(v)}, which this verifier does not know (it reads 1, 2 and 3): use a newer gatehouse`;
  if (typeof logId !== 'string' || !LOG_ID_PATTERN.test(logId))
    return 'the header has no log id of 1 to 64 letters, digits, dots, dashes or underscores';
  if (keyId !== null && (typeof keyId !== 'string' || !KEY_ID_PATTERN.test(keyId)))
    return "the header's key_id must be null or 16 lower-case hex digits";
  if (exportHeaderLine(logId, keyId, v === 3) !== text) return 'the header is not in the exported form: it was edited';
  return { version: v, logId, keyId };
}

/** A checkpoint line: the anchor form and, in format 3, an optional `note` (a string, checked later). */
function parseCheckpointLine(text: string, version: ExportVersion): Omit<ExportedCheckpoint, 'source'> | string {
  const parsed = parseJson(text);
  let note: string | null = null;
  let checkpoint: Checkpoint;
  try {
    if (version === 3 && isRecord(parsed) && Object.hasOwn(parsed, 'note')) {
      const { note: value, ...rest } = parsed;
      if (typeof value !== 'string') return "a checkpoint's note must be a string (the signed note's text)";
      note = value;
      checkpoint = parseCheckpoint(rest);
    } else checkpoint = parseCheckpoint(parsed === undefined ? text : parsed);
  } catch (err) {
    if (err instanceof InvalidCheckpointError)
      return `is neither a checkpoint nor an event (checkpoints come first, then events): ${err.message}`;
    throw err;
  }
  let canonical: string;
  try {
    canonical = exportedCheckpointLine(checkpoint, note);
  } catch (err) {
    return `(checkpoint for seq ${checkpoint.seq}) has no canonical JSON form (${(err as Error).message})`;
  }
  if (canonical !== text) return `(checkpoint for seq ${checkpoint.seq}) is not in the exported form: it was edited`;
  return { checkpoint, note };
}

interface ParsedEventLine {
  seq: number;
  hashInput: Buffer;
  hash: string;
}

/** The event line's parts, or what is wrong with it. */
function parseEventLine(line: string): ParsedEventLine | string {
  const parsed = parseJson(line);
  if (parsed === undefined) return 'not valid JSON';
  if (!isRecord(parsed) || !sameKeys(parsed, LINE_KEYS)) return `must have exactly the fields ${LINE_KEYS.join(', ')}`;
  const { event, hash, prev_hash: prevHash } = parsed;
  if (!isRecord(event) || !sameKeys(event, EVENT_KEYS))
    return `event must have exactly the fields ${EVENT_KEYS.join(', ')}`;
  if (
    typeof hash !== 'string' ||
    !HEX_HASH_PATTERN.test(hash) ||
    typeof prevHash !== 'string' ||
    !HEX_HASH_PATTERN.test(prevHash)
  ) {
    return 'hash and prev_hash must be 64 lower-case hex digits';
  }
  const problem = eventProblem(event);
  if (problem) return problem;
  let canonicalLine: string;
  let canonicalEvent: string;
  try {
    canonicalLine = canonicalJson(parsed);
    canonicalEvent = canonicalJson(event);
  } catch (err) {
    return `has no canonical JSON form (${(err as Error).message})`;
  }
  if (canonicalLine !== line) return `(seq ${String(event.seq)}) is not in the exported form: it was edited`;
  return {
    seq: event.seq as number,
    hashInput: Buffer.concat([Buffer.from(prevHash, 'hex'), Buffer.from(canonicalEvent, 'utf8')]),
    hash: Buffer.from(hash, 'hex').toString('latin1'),
  };
}

/** The patterns are ECMAScript's: `\d` is 0-9 only and `$` is the end of the text, never before a final newline. */
function eventProblem(event: Record<string, unknown>): string | null {
  const { v, seq, time, actor, action, subject, body } = event;
  if (v !== EVENT_VERSION) return `event.v must be ${EVENT_VERSION}`;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'event.seq must be a positive integer';
  if (typeof time !== 'string' || !TIME_PATTERN.test(time))
    return `event.time (seq ${seq}) must look like 2026-01-31T23:59:59.123456Z`;
  if (typeof actor !== 'string' || !ACTOR_PATTERN.test(actor))
    return `event.actor (seq ${seq}) is not a Slack user id, "system" or "cli:<name>"`;
  if (typeof action !== 'string' || !ACTION_PATTERN.test(action))
    return `event.action (seq ${seq}) must be dotted lower-case words`;
  if (subject !== null && typeof subject !== 'string') return `event.subject (seq ${seq}) must be a string or null`;
  if (!isRecord(body)) return `event.body (seq ${seq}) must be an object`;
  return null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function sameKeys(value: Record<string, unknown>, keys: string[]): boolean {
  const own = Object.keys(value);
  return own.length === keys.length && keys.every((key) => Object.hasOwn(value, key));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
