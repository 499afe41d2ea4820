import type { Anchor } from './anchors.ts';
import { checkpointSignedBy, encodeCheckpointMessage, type Checkpoint } from './checkpoint.ts';
import type { CheckpointPublicKey } from './keys.ts';
import type { StoredCheckpoint } from './store.ts';
import type { VerifyResult } from '../checker.ts';

export type CheckpointProblemReason =
  /** A stored checkpoint's signed text disagrees with its columns. */
  | 'malformed'
  /** The checkpoint is for another log. */
  | 'wrong-log'
  /** Not signed by the trusted key, or changed after signing. */
  | 'bad-signature'
  /** A checkpoint does not follow the one before it: one was deleted or inserted. */
  | 'chain-broken'
  /** The log ends before a checkpoint's seq: its newest events were deleted. */
  | 'truncated'
  /** The log's event at a checkpoint's seq has another hash: the log was rewritten. */
  | 'rewritten'
  /** An anchored checkpoint is not in the database: checkpoint rows were deleted. */
  | 'missing';

export interface CheckpointProblem {
  reason: CheckpointProblemReason;
  /** The checkpoint that caught it: `database checkpoint #12`, or an anchor's source. */
  source: string;
  /** The seq that checkpoint vouches for. */
  seq: number;
  message: string;
}

export interface CheckpointTally {
  /** Stored checkpoints examined. */
  checked: number;
  /** The newest one signed by the key (whatever else is wrong with it). */
  latestSeq: number | null;
  latestTime: string | null;
}

export interface AnchorTally {
  checked: number;
  /** The anchor with the highest seq among those signed by the key. */
  latestSeq: number | null;
  latestSource: string | null;
}

/**
 * The chain's verdict (its fields, as verifyChain reports them) plus what the checkpoints
 * and anchors showed. `ok` is true only when both the chain and every check passed.
 */
export interface AnchoredVerifyResult extends VerifyResult {
  /** Whether a public key was given, so signatures, checkpoints and anchors were checked. */
  signed: boolean;
  keyId: string | null;
  /** The database's log id; for a file, the one its anchors name. */
  logId: string | null;
  /** Stored checkpoints; null when there is no database or no key. */
  checkpoints: CheckpointTally | null;
  anchors: AnchorTally;
  problems: CheckpointProblem[];
  warnings: string[];
}

export const NO_KEY_WARNING =
  'No checkpoint public key was given (GATEHOUSE_CHECKPOINT_PUBLIC_KEY or --public-key), so only the hash chain was checked: deleting the newest events, or rewriting the log and recomputing its hashes, CANNOT be detected.';

export interface CheckpointEvidence {
  chain: VerifyResult;
  /** The verified hash (hex) at a seq the chain checker was asked to watch. */
  hashAt: (seq: number) => string | undefined;
  key: CheckpointPublicKey;
  /** The database's log id; null for an export file, which does not name its log. */
  logId: string | null;
  /** The database's checkpoints, oldest first; null for an export file. */
  stored: StoredCheckpoint[] | null;
  anchors: Anchor[];
}

/**
 * Judges the checkpoints against the chain (docs/audit-log.md, section 12.6). Each stored
 * checkpoint must have the signed text of its columns, be this log's, be signed by the key,
 * name the checkpoint before it (the oldest names none) with no step back in seq, and be
 * held by the log: the log reaches its seq and has its hash there. Each anchor must be this
 * log's, signed by the key, held by the log, and in the database. A checkpoint whose
 * signature fails vouches for nothing, so its (seq, hash) is not compared.
 */
export function judgeCheckpoints(evidence: CheckpointEvidence): AnchoredVerifyResult {
  const { chain, key, stored, anchors } = evidence;
  // An export does not name its log: the first anchor the key signed does.
  const logId = evidence.logId ?? anchors.find((a) => checkpointSignedBy(a.checkpoint, key))?.checkpoint.logId ?? null;
  const subject = stored ? 'the database' : 'the export';
  const problems: CheckpointProblem[] = [];
  const problem = (reason: CheckpointProblemReason, source: string, seq: number, message: string): void => {
    problems.push({ reason, source, seq, message });
  };

  /** Whether a checkpoint can vouch for anything: this log's, and signed by the key. Records why not. */
  const trust = (cp: Checkpoint, source: string): boolean => {
    if (logId !== null && cp.logId !== logId) {
      problem('wrong-log', source, cp.seq, `${source} is for log ${cp.logId}, but ${subject} holds log ${logId}.`);
      return false;
    }
    if (cp.keyId !== key.keyId) {
      problem(
        'bad-signature',
        source,
        cp.seq,
        `${source} is signed by key ${cp.keyId}, not by the trusted key ${key.keyId}: it was not made with Gatehouse's checkpoint key.`,
      );
      return false;
    }
    if (!checkpointSignedBy(cp, key)) {
      problem(
        'bad-signature',
        source,
        cp.seq,
        `${source} has a signature that does not verify with key ${key.keyId}: it was changed after signing, or forged.`,
      );
      return false;
    }
    return true;
  };

  const head = chain.ok || chain.failure?.reason === 'empty' ? (chain.headSeq ?? 0) : null;
  const lastGood = chain.headSeq ?? 0;
  /** Whether the log holds (seq, hash); silent where a chain failure already leaves it unknown. */
  const held = (cp: Checkpoint, source: string): boolean => {
    if (cp.seq > lastGood) {
      if (head === null) return true;
      const gone = cp.seq - head;
      problem(
        'truncated',
        source,
        cp.seq,
        stored
          ? `${source} vouches for seq ${cp.seq} (signed ${cp.time}), but the log in the database ends at seq ${head}: ${gone === 1 ? '1 event' : `${gone} events`} after seq ${head} ${gone === 1 ? 'was' : 'were'} deleted.`
          : `${source} vouches for seq ${cp.seq} (signed ${cp.time}), but the export ends at seq ${head}: events were removed, or the export is older than this checkpoint.`,
      );
      return false;
    }
    const actual = evidence.hashAt(cp.seq);
    if (actual !== cp.hash) {
      problem(
        'rewritten',
        source,
        cp.seq,
        `${source} vouches for hash ${cp.hash.slice(0, 16)}… at seq ${cp.seq}, but the event there in ${subject} hashes to ${(actual ?? '(unknown)').slice(0, 16)}…: the log was rewritten at or before seq ${cp.seq}.`,
      );
      return false;
    }
    return true;
  };

  let latestStored: StoredCheckpoint | null = null;
  for (const [i, cp] of (stored ?? []).entries()) {
    const source = `database checkpoint #${cp.id}`;
    if (cp.message !== safeMessage(cp)) {
      problem(
        'malformed',
        source,
        cp.seq,
        `${source}: the signed text stored with it does not match its columns: the row was edited.`,
      );
      continue;
    }
    if (!trust(cp, source)) continue;
    const before = stored?.[i - 1];
    if ((before?.signature ?? null) !== cp.previous) {
      problem(
        'chain-broken',
        source,
        cp.seq,
        before
          ? `${source} does not follow checkpoint #${before.id}, the one stored before it: a checkpoint between them was deleted, or one was inserted.`
          : `${source} is the oldest checkpoint in the database but names a previous one: older checkpoints were deleted.`,
      );
    } else if (before && cp.seq < before.seq) {
      problem(
        'chain-broken',
        source,
        cp.seq,
        `${source} covers seq ${cp.seq}, behind seq ${before.seq} of checkpoint #${before.id} before it.`,
      );
    }
    held(cp, source);
    latestStored = cp;
  }

  const storedSignatures = new Set(stored?.map((cp) => cp.signature));
  let latestAnchor: Anchor | null = null;
  for (const anchor of anchors) {
    const { checkpoint: cp, source } = anchor;
    if (!trust(cp, source)) continue;
    if (!latestAnchor || cp.seq >= latestAnchor.checkpoint.seq) latestAnchor = anchor;
    if (!held(cp, source)) continue;
    if (stored && !storedSignatures.has(cp.signature)) {
      problem(
        'missing',
        source,
        cp.seq,
        `${source} (seq ${cp.seq}, signed ${cp.time}) is a checkpoint the database does not hold: checkpoint rows were deleted.`,
      );
    }
  }

  const warnings: string[] = [];
  if (stored && stored.length === 0) {
    warnings.push(
      'The database holds no checkpoints yet: make one with `gatehouse audit checkpoint` (the bot makes them once it has a key).',
    );
  }
  if (anchors.length === 0) {
    warnings.push(
      stored
        ? 'No anchors were read (GATEHOUSE_ANCHOR_FILE, --anchors or --checkpoint): someone who can write the database could delete the newest events together with the checkpoints that cover them.'
        : 'No anchors were given (--anchors or --checkpoint): the export was checked as a chain only, so removed newest events or a rewrite CANNOT be detected.',
    );
  }
  return {
    ...chain,
    ok: chain.ok && problems.length === 0,
    signed: true,
    keyId: key.keyId,
    logId,
    checkpoints: stored
      ? { checked: stored.length, latestSeq: latestStored?.seq ?? null, latestTime: latestStored?.time ?? null }
      : null,
    anchors: {
      checked: anchors.length,
      latestSeq: latestAnchor?.checkpoint.seq ?? null,
      latestSource: latestAnchor?.source ?? null,
    },
    problems,
    warnings,
  };
}

/** The result when no key is given: the chain's verdict, and why that is not enough. */
export function unsignedResult(chain: VerifyResult, anchors: Anchor[]): AnchoredVerifyResult {
  const warnings = [NO_KEY_WARNING];
  if (anchors.length > 0)
    warnings.push(
      `${anchors.length} anchor(s) were given but not checked: anchors are checked only with the public key.`,
    );
  return {
    ...chain,
    signed: false,
    keyId: null,
    logId: null,
    checkpoints: null,
    anchors: { checked: 0, latestSeq: null, latestSource: null },
    problems: [],
    warnings,
  };
}

/** The signed text of a stored checkpoint's columns, or null when they cannot form one. */
function safeMessage(cp: Checkpoint): string | null {
  try {
    return encodeCheckpointMessage(cp);
  } catch {
    return null;
  }
}
