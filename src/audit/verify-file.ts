import fs from 'node:fs';
import readline from 'node:readline';
import { HEX_HASH_PATTERN } from './chain.ts';
import { ChainChecker, type VerifyResult } from './checker.ts';
import { canonicalJson } from './event.ts';

export interface VerifyFileOptions {
  onProgress?: (read: number) => void;
}

/**
 * Verifies an export (see exportChain) with no database: line by line, in constant memory.
 * Every byte counts: a line must be the canonical JSON form of itself, so an edit that
 * would not change a parsed value (hex case, spacing, escapes) is caught too.
 */
export async function verifyExportFile(file: string, options: VerifyFileOptions = {}): Promise<VerifyResult> {
  const checker = new ChainChecker();
  const input = fs.createReadStream(file, { encoding: 'utf8' });
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let lastSeq = 0;
  for await (const line of lines) {
    lineNo += 1;
    if (options.onProgress && lineNo % 50_000 === 0) options.onProgress(lineNo);
    if (checker.failed) continue;
    const where = lastSeq + 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      checker.fail(where, 'malformed', `line ${lineNo} is not valid JSON`, lineNo);
      continue;
    }
    if (!isRecord(parsed) || !isRecord(parsed.event) || typeof parsed.hash !== 'string' || typeof parsed.prev_hash !== 'string') {
      checker.fail(where, 'malformed', `line ${lineNo} does not have the fields event, hash and prev_hash`, lineNo);
      continue;
    }
    const { event, hash, prev_hash: prevHash } = parsed;
    const seq = event.seq;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
      checker.fail(where, 'malformed', `line ${lineNo} has no valid event.seq`, lineNo);
      continue;
    }
    if (!HEX_HASH_PATTERN.test(hash) || !HEX_HASH_PATTERN.test(prevHash) || canonicalJson(parsed) !== line) {
      checker.fail(seq, 'malformed', `line ${lineNo} (seq ${seq}) is not in the exported form: it was edited`, lineNo);
      continue;
    }
    const canonical = Buffer.from(canonicalJson(event), 'utf8');
    const hashInput = Buffer.concat([Buffer.from(prevHash, 'hex'), canonical]);
    checker.check(seq, hashInput, Buffer.from(hash, 'hex'), lineNo);
    lastSeq = seq;
  }
  return checker.result();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
