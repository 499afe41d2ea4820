import fs from 'node:fs';
import readline from 'node:readline';
import { HEX_HASH_PATTERN } from './chain.ts';
import { ChainChecker, type VerifyResult } from './checker.ts';
import { ACTION_PATTERN, ACTOR_PATTERN, canonicalJson, EVENT_VERSION, TIME_PATTERN } from './event.ts';

export interface VerifyFileOptions {
  onProgress?: (read: number) => void;
  /** The checker to feed, e.g. one that keeps the hashes of anchored seqs; a new one by default. */
  checker?: ChainChecker;
}

const LINE_KEYS = ['event', 'hash', 'prev_hash'];
const EVENT_KEYS = ['action', 'actor', 'body', 'seq', 'subject', 'time', 'v'];

/**
 * Verifies an export (see exportChain) with no database: line by line, in constant memory.
 * Each line must be the canonical JSON form of itself, so an edit that would not change a
 * parsed value (hex case, spacing, escapes) is caught too; line endings are read as LF or
 * CRLF. Each event must have exactly the fields of docs/audit-log.md, in their forms.
 */
export async function verifyExportFile(file: string, options: VerifyFileOptions = {}): Promise<VerifyResult> {
  const checker = options.checker ?? new ChainChecker();
  const input = fs.createReadStream(file, { encoding: 'utf8' });
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let lastSeq = 0;
  for await (const line of lines) {
    lineNo += 1;
    if (options.onProgress && lineNo % 50_000 === 0) options.onProgress(lineNo);
    if (checker.failed) continue;
    const parsed = parseLine(line);
    if (typeof parsed === 'string') {
      checker.fail(lastSeq + 1, 'malformed', `line ${lineNo}: ${parsed}`, lineNo);
      continue;
    }
    const { event, hashInput, hash } = parsed;
    checker.check(event.seq, hashInput, hash, lineNo);
    lastSeq = event.seq;
  }
  return checker.result();
}

interface ParsedLine {
  event: { seq: number };
  hashInput: Buffer;
  hash: string;
}

/** The line's parts, or what is wrong with it. */
function parseLine(line: string): ParsedLine | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return 'not valid JSON';
  }
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
    event: event as { seq: number },
    hashInput: Buffer.concat([Buffer.from(prevHash, 'hex'), Buffer.from(canonicalEvent, 'utf8')]),
    hash: Buffer.from(hash, 'hex').toString('latin1'),
  };
}

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

function sameKeys(value: Record<string, unknown>, keys: string[]): boolean {
  const own = Object.keys(value);
  return own.length === keys.length && keys.every((key) => Object.hasOwn(value, key));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
