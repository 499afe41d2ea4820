import type pg from 'pg';
import { AnchorReadError, readCheckpointArgument, type Anchor } from './checkpoints/anchors.ts';
import { checkpointSignedBy, encodeCheckpointMessage, type Checkpoint } from './checkpoints/checkpoint.ts';
import type { AnchoredVerifyResult, CheckpointProblem, CheckpointProblemReason } from './checkpoints/checks.ts';
import type { CheckpointPublicKey } from './checkpoints/keys.ts';
import { readLogId } from './checkpoints/store.ts';
import { ChainChecker } from './checker.ts';
import { checkRows } from './verify.ts';
import { checkSinceConsistency, type SinceConsistency } from './since-consistency.ts';

/** Where the auditor's trust starts: a checkpoint they kept (an anchor line), or one stored in the database. */
export type SinceStart = { anchor: Anchor } | { checkpointId: number };

/**
 * The starting checkpoint cannot be used: another log's, not signed by the key, not in the
 * database (for an id). Nothing was verified: exit status 2, like an anchor that cannot be read.
 */
export class SinceRefusedError extends AnchorReadError {}

export interface SinceTally {
  /** The trusted checkpoint. */
  seq: number;
  hash: string;
  time: string;
  source: string;
  /** Its row in audit_checkpoints; null when the database no longer holds it (a `missing` problem). */
  checkpointId: number | null;
  /** Events after it that verified: seq + 1 … head. */
  newEvents: number;
  /** Anchors given at seqs before the trusted checkpoint: trusted with it, not checked. */
  anchorsBefore: number;
  /** The Merkle consistency proof from its signed tree root to the newest signed one, or why there is none. */
  consistency: SinceConsistency;
}

export interface SinceVerifyResult extends AnchoredVerifyResult {
  since: SinceTally;
}

export interface SinceOptions {
  since: SinceStart;
  publicKey: CheckpointPublicKey;
  anchors?: Anchor[];
  onProgress?: (read: number) => void;
  /** As verifyChain's: hash on a worker thread ('auto': when many events follow the checkpoint). */
  worker?: boolean | 'auto';
}

interface StoredRow extends Checkpoint {
  id: number;
  message: string;
  /** The signed note of the Merkle tree at seq (null before migration 0013). */
  note: string | null;
}

const COLUMNS = `id, log_id, seq, encode(hash, 'hex') as hash,
  to_char(time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as time, key_id,
  encode(signature, 'hex') as signature, encode(previous_signature, 'hex') as previous, message, note`;

async function storedWhere(client: pg.PoolClient, where: string, values: unknown[]): Promise<StoredRow[]> {
  const { rows } = await client.query<Record<string, string | null>>(
    `select ${COLUMNS} from audit_checkpoints where ${where} order by id`,
    values,
  );
  return rows.map((r) => ({
    id: Number(r.id),
    logId: r.log_id!,
    seq: Number(r.seq),
    hash: r.hash!,
    time: r.time!,
    keyId: r.key_id!,
    signature: r.signature!,
    previous: r.previous ?? null,
    message: r.message!,
    note: r.note ?? null,
  }));
}

const short = (hex: string): string => `${hex.slice(0, 16)}…`;

function signedText(cp: Checkpoint): string | null {
  try {
    return encodeCheckpointMessage(cp);
  } catch {
    return null;
  }
}

/**
 * `gatehouse audit verify --since`: verifies only what came after a checkpoint the auditor
 * trusts, in one snapshot. The event at the checkpoint's seq must still hash (from its
 * stored prev_hash and canonical bytes) to the checkpoint's hash; from there the chain runs
 * to the head by the rules of a full verify; the checkpoints stored after it must be signed
 * by the key and follow one another back to it; anchors at or after its seq must be held.
 * Events before its seq are not read: a change to them is not detected (docs/audit-log.md 5.1.1).
 */
export async function verifySince(pool: pg.Pool, options: SinceOptions): Promise<SinceVerifyResult> {
  const key = options.publicKey;
  const anchors = options.anchors ?? [];
  const client = await pool.connect();
  try {
    await client.query('begin isolation level repeatable read read only');
    const logId = await readLogId(client);
    const { trusted, source, stored: trustedRow } = await resolveStart(client, options.since, logId, key);
    const after = trustedRow ? await storedWhere(client, 'id > $1', [trustedRow.id]) : [];
    const anchorSignatures = anchors.map((a) => Buffer.from(a.checkpoint.signature, 'hex'));
    const storedAnchors = new Set(
      (
        await client.query<{ signature: string }>(
          `select encode(signature, 'hex') as signature from audit_checkpoints where signature = any($1::bytea[])`,
          [anchorSignatures],
        )
      ).rows.map((r) => r.signature),
    );
    const head = Number(
      (await client.query<{ head: string | null }>('select max(seq) as head from audit_events')).rows[0]?.head ?? 0,
    );

    const checker = new ChainChecker([
      trusted.seq,
      ...after.map((cp) => cp.seq),
      ...anchors.map((a) => a.checkpoint.seq),
    ]);
    checker.startAt(trusted.seq);
    await checkRows(client, checker, { fromSeq: trusted.seq, onProgress: options.onProgress, worker: options.worker });
    await client.query('commit');
    const chain = checker.result();

    const problems: CheckpointProblem[] = [];
    const problem = (reason: CheckpointProblemReason, at: string, seq: number, message: string): void => {
      problems.push({ reason, source: at, seq, message });
    };
    if (!trustedRow) {
      problem(
        'missing',
        source,
        trusted.seq,
        `${source} (seq ${trusted.seq}, signed ${trusted.time}) is a checkpoint the database does not hold: checkpoint rows were deleted, so the checkpoints stored after it cannot be linked to it.`,
      );
    }
    // As in a full verify: where the chain failed at or before a checkpoint's seq, it cannot be judged.
    const lastGood = chain.headSeq ?? trusted.seq - 1;
    const headKnown = chain.failure ? null : head;
    const held = (cp: Checkpoint, at: string): boolean => {
      if (cp.seq > lastGood) {
        if (headKnown === null) return true;
        problem(
          'truncated',
          at,
          cp.seq,
          `${at} vouches for seq ${cp.seq} (signed ${cp.time}), but the log in the database ends at seq ${head}: events after seq ${head} were deleted.`,
        );
        return false;
      }
      const actual = checker.hashAt(cp.seq);
      if (actual === cp.hash) return true;
      problem(
        'rewritten',
        at,
        cp.seq,
        `${at} vouches for hash ${short(cp.hash)} at seq ${cp.seq}, but the event there in the database hashes to ${short(actual ?? '(unknown)')}: the log was rewritten at or before seq ${cp.seq}.`,
      );
      return false;
    };
    held(trusted, source);

    const vouches = (cp: Checkpoint, at: string): boolean => {
      if (cp.logId !== logId) {
        problem('wrong-log', at, cp.seq, `${at} is for log ${cp.logId}, but the database holds log ${logId}.`);
        return false;
      }
      if (!checkpointSignedBy(cp, key)) {
        problem(
          'bad-signature',
          at,
          cp.seq,
          `${at} has a signature that does not verify with key ${key.keyId}: it was changed after signing, or forged.`,
        );
        return false;
      }
      return true;
    };

    let before: StoredRow | null = trustedRow;
    let latest: StoredRow | null = null;
    for (const cp of after) {
      const at = `database checkpoint #${cp.id}`;
      if (cp.message !== signedText(cp)) {
        problem(
          'malformed',
          at,
          cp.seq,
          `${at}: the signed text stored with it does not match its columns: the row was edited.`,
        );
        continue;
      }
      if (!vouches(cp, at)) continue;
      if (before && cp.previous !== before.signature) {
        problem(
          'chain-broken',
          at,
          cp.seq,
          `${at} does not follow checkpoint #${before.id}, the one stored before it: a checkpoint between them was deleted, or one was inserted.`,
        );
      } else if (before && cp.seq < before.seq) {
        problem(
          'chain-broken',
          at,
          cp.seq,
          `${at} covers seq ${cp.seq}, behind seq ${before.seq} of checkpoint #${before.id} before it.`,
        );
      }
      held(cp, at);
      before = cp;
      latest = cp;
    }

    let anchorsBefore = 0;
    let latestAnchor: Anchor | null = null;
    for (const anchor of anchors) {
      const { checkpoint: cp, source: at } = anchor;
      if (!vouches(cp, at)) continue;
      if (cp.seq < trusted.seq) {
        anchorsBefore += 1;
        continue;
      }
      if (!latestAnchor || cp.seq >= latestAnchor.checkpoint.seq) latestAnchor = anchor;
      if (!held(cp, at)) continue;
      if (!storedAnchors.has(cp.signature)) {
        problem(
          'missing',
          at,
          cp.seq,
          `${at} (seq ${cp.seq}, signed ${cp.time}) is a checkpoint the database does not hold: checkpoint rows were deleted.`,
        );
      }
    }

    // The Merkle tree: read outside the snapshot, but checked against signed roots only.
    const consistency = await checkSinceConsistency(pool, trustedRow, after, key);
    if (consistency.status === 'failed') {
      problem(
        'rewritten',
        `database checkpoint #${consistency.checkpointId}`,
        after.find((cp) => cp.id === consistency.checkpointId)!.seq,
        `the Merkle tree that database checkpoint #${consistency.checkpointId} signs (${consistency.size2} events) cannot be proved to extend the one ${source} signs (${consistency.size1} events): ${consistency.message}.`,
      );
    }
    const verifiedTrusted = checker.hashAt(trusted.seq) === trusted.hash;
    const warnings =
      anchors.length === 0
        ? [
            'No anchors were read (GATEHOUSE_ANCHOR_FILE, --anchors or --checkpoint): someone who can write the database could delete the newest events together with the checkpoints that cover them.',
          ]
        : [];
    return {
      ...chain,
      ok: chain.ok && problems.length === 0,
      signed: true,
      keyId: key.keyId,
      logId,
      checkpoints: { checked: after.length, latestSeq: latest?.seq ?? null, latestTime: latest?.time ?? null },
      bundle: null,
      anchors: {
        checked: anchors.length,
        latestSeq: latestAnchor?.checkpoint.seq ?? null,
        latestSource: latestAnchor?.source ?? null,
      },
      problems,
      warnings,
      since: {
        seq: trusted.seq,
        hash: trusted.hash,
        time: trusted.time,
        source,
        checkpointId: trustedRow?.id ?? null,
        newEvents: Math.max(0, chain.checked - (verifiedTrusted ? 1 : 0)),
        anchorsBefore,
        consistency,
      },
    };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * The trusted checkpoint, checked before anything is read: this log's and signed by the key
 * (else refused), and its row in the database when there is one. A checkpoint named by id
 * is trusted through the key alone, so its stored text must match its columns too.
 */
async function resolveStart(
  client: pg.PoolClient,
  start: SinceStart,
  logId: string,
  key: CheckpointPublicKey,
): Promise<{ trusted: Checkpoint; source: string; stored: StoredRow | null }> {
  let trusted: Checkpoint;
  let source: string;
  let stored: StoredRow | null;
  if ('anchor' in start) {
    trusted = start.anchor.checkpoint;
    source = start.anchor.source;
    stored = (await storedWhere(client, 'signature = $1', [Buffer.from(trusted.signature, 'hex')]))[0] ?? null;
  } else {
    source = `database checkpoint #${start.checkpointId}`;
    stored = (await storedWhere(client, 'id = $1', [start.checkpointId]))[0] ?? null;
    if (!stored)
      throw new SinceRefusedError(
        `--since: the database holds no checkpoint #${start.checkpointId}. List them with \`psql -c "select id, seq, time from audit_checkpoints order by id"\`, or give a checkpoint you kept (an anchor file line).`,
      );
    if (stored.message !== signedText(stored))
      throw new SinceRefusedError(
        `--since: ${source}'s signed text does not match its columns: the row was edited, so it cannot be trusted. Verify the whole log without --since.`,
      );
    trusted = stored;
  }
  if (trusted.logId !== logId)
    throw new SinceRefusedError(
      `--since: ${source} is a checkpoint of log ${trusted.logId}, but this database holds log ${logId}. Give a checkpoint of this log.`,
    );
  if (!checkpointSignedBy(trusted, key))
    throw new SinceRefusedError(
      `--since: ${source} does not verify with key ${key.keyId} (it names key ${trusted.keyId}): it was changed after signing, forged, or signed by another key. Give a checkpoint this key signed, or verify the whole log without --since.`,
    );
  return { trusted, source, stored };
}

/**
 * `--since`'s value: `#12` or `12`, a checkpoint stored in the database (trusted through the
 * key only); otherwise a checkpoint's JSON, or a file holding one (an anchor file line kept
 * by the auditor: trust that does not come from the database). Needs the public key.
 */
export async function readSinceArgument(value: string, key: CheckpointPublicKey | null): Promise<SinceStart> {
  if (!key)
    throw new SinceRefusedError(
      '--since needs the checkpoint public key, to check the checkpoint trusted and those after it: pass --public-key KEY_OR_FILE, or set GATEHOUSE_CHECKPOINT_PUBLIC_KEY.',
    );
  const id = /^#?([1-9][0-9]{0,15})$/.exec(value.trim());
  if (id) return { checkpointId: Number(id[1]) };
  return { anchor: await readCheckpointArgument(value, '--since') };
}
