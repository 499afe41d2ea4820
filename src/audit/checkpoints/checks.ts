import type { Anchor } from './anchors.ts';
import { checkpointSignedBy, encodeCheckpointMessage, type Checkpoint } from './checkpoint.ts';
import type { CheckpointPublicKey } from './keys.ts';
import type { StoredCheckpoint } from './store.ts';
import type { VerifyResult } from '../checker.ts';
import type { ExportBundle } from '../verify-file.ts';

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
  | 'missing'
  /** A checkpoint's signed note (the Merkle tree's root at its seq) does not hold: the tree or the note was changed. */
  | 'bad-note';

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
  /** The database's log id; for a file, the one its header names (or, for a format 1 file, its anchors). */
  logId: string | null;
  /** Stored checkpoints; null when there is no database or no key. */
  checkpoints: CheckpointTally | null;
  /** What a format 2 export carries: its log, the key its header names, its checkpoints; null otherwise. */
  bundle?: BundleTally | null;
  anchors: AnchorTally;
  /** The checkpoints' signed notes checked against the Merkle tree of the log or the export; absent where they were not. */
  treeNotes?: { checked: number; withoutNote: number };
  problems: CheckpointProblem[];
  warnings: string[];
}

export interface BundleTally extends CheckpointTally {
  logId: string;
  /** The key id the export's header names: a claim, checked only against a public key given. */
  claimedKeyId: string | null;
}

export const NO_KEY_WARNING =
  'No checkpoint public key was given (GATEHOUSE_CHECKPOINT_PUBLIC_KEY or --public-key), so only the hash chain was checked: deleting the newest events, or rewriting the log and recomputing its hashes, CANNOT be detected.';

export interface CheckpointEvidence {
  chain: VerifyResult;
  /** The verified hash (hex) at a seq the chain checker was asked to watch. */
  hashAt: (seq: number) => string | undefined;
  /** Null only for an export checked without a key: its checkpoints' chain and holds, not their signatures. */
  key: CheckpointPublicKey | null;
  /** The database's log id; null for an export file (its bundle names it). */
  logId: string | null;
  /** The database's checkpoints, oldest first; null for an export file. */
  stored: StoredCheckpoint[] | null;
  /** A format 2 export's header and checkpoints; null for the database or a format 1 export. */
  bundle?: ExportBundle | null;
  anchors: Anchor[];
}

interface Known {
  source: string;
  checkpoint: Checkpoint;
}

const short = (hex: string): string => `${hex.slice(0, 16)}…`;

/**
 * Judges the checkpoints against the chain (docs/audit-log.md, section 12.6). Each stored or
 * exported checkpoint must (stored only) have the signed text of its columns, be this log's,
 * be signed by the key, name the checkpoint before it (the oldest names none) with no step
 * back in seq, and be held by the log: the log reaches its seq and has its hash there. Each
 * anchor must be this log's, signed by the key, held by the log, in the database (or, for an
 * export, among its checkpoints when older than its newest), and its `previous` link must
 * agree with every other checkpoint known: no two follow the same one, none steps back.
 * A checkpoint whose signature fails vouches for nothing, so its (seq, hash) is not compared.
 * Nothing depends on the order of the anchors.
 */
export function judgeCheckpoints(evidence: CheckpointEvidence): AnchoredVerifyResult {
  const { chain, key, stored, anchors } = evidence;
  const bundle = evidence.bundle ?? null;
  const subject = stored ? 'the database' : 'the export';
  const problems: CheckpointProblem[] = [];
  const problem = (reason: CheckpointProblemReason, source: string, seq: number, message: string): void => {
    problems.push({ reason, source, seq, message });
  };

  // The log id: the database's, or the export's header. A format 1 export names none, so
  // its anchors must agree on one: never whichever line happens to come first.
  const signedAnchors = key ? anchors.filter((a) => checkpointSignedBy(a.checkpoint, key)) : [];
  const anchorLogs = [...new Set(signedAnchors.map((a) => a.checkpoint.logId))].sort();
  const logId = evidence.logId ?? bundle?.logId ?? (anchorLogs.length === 1 ? anchorLogs[0]! : null);
  const logsDisagree = logId === null && anchorLogs.length > 1;

  /** Whether a checkpoint can vouch for anything: this log's, and signed by the key. Records why not. */
  const trust = (cp: Checkpoint, source: string): boolean => {
    if (logsDisagree) {
      problem(
        'wrong-log',
        source,
        cp.seq,
        `${source} is for log ${cp.logId}, but the anchors name ${anchorLogs.length} logs (${anchorLogs.join(', ')}) and this export does not name its own (format 1, event lines only), so none of them can be told to be its log's. Give only this log's anchors, or export again: a current export names its log.`,
      );
      return false;
    }
    if (logId !== null && cp.logId !== logId) {
      problem('wrong-log', source, cp.seq, `${source} is for log ${cp.logId}, but ${subject} holds log ${logId}.`);
      return false;
    }
    if (!key) {
      const claimed = bundle?.keyId ?? null;
      if (cp.keyId !== claimed) {
        problem(
          'bad-signature',
          source,
          cp.seq,
          `${source} names key ${cp.keyId}, but the export's header names key ${claimed ?? 'none'}: the checkpoints were not all made with one key.`,
        );
        return false;
      }
      return true;
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
        `${source} vouches for hash ${short(cp.hash)} at seq ${cp.seq}, but the event there in ${subject} hashes to ${short(actual ?? '(unknown)')}: the log was rewritten at or before seq ${cp.seq}.`,
      );
      return false;
    }
    return true;
  };

  // Every checkpoint that passed `trust`, by signature, for the anchors' links.
  const known = new Map<string, Known>();

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
    known.set(cp.signature, { source, checkpoint: cp });
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

  let latestExported: Known | null = null;
  const exported = bundle?.checkpoints ?? [];
  const exportedBySignature = new Map(exported.map((e) => [e.checkpoint.signature, e]));
  for (const [i, { source, checkpoint: cp }] of exported.entries()) {
    if (!trust(cp, source)) continue;
    known.set(cp.signature, { source, checkpoint: cp });
    const before = exported[i - 1];
    const expected = before?.checkpoint.signature ?? null;
    if (cp.previous !== expected) {
      const found = cp.previous === null ? 'none' : short(cp.previous);
      const foundAt = cp.previous === null ? '' : exportedBySignature.get(cp.previous);
      const foundWhere =
        foundAt === ''
          ? ''
          : foundAt
            ? ` (the signature of ${foundAt.source})`
            : ' (no checkpoint in the export has it)';
      problem(
        'chain-broken',
        source,
        cp.seq,
        before
          ? `${source} names previous ${found}${foundWhere}, but the checkpoint before it is ${before.source}, whose signature is ${short(expected!)}: a checkpoint between them is missing, or they were reordered.`
          : `${source} is the export's first checkpoint but names previous ${found}${foundWhere}, where none was expected: the checkpoints before it are missing from the export.`,
      );
    } else if (before && cp.seq < before.checkpoint.seq) {
      problem(
        'chain-broken',
        source,
        cp.seq,
        `${source} covers seq ${cp.seq}, behind seq ${before.checkpoint.seq} of ${before.source} before it.`,
      );
    }
    held(cp, source);
    latestExported = { source, checkpoint: cp };
  }

  const trusted = anchors.filter((anchor) => trust(anchor.checkpoint, anchor.source));
  for (const anchor of trusted) {
    if (!known.has(anchor.checkpoint.signature)) known.set(anchor.checkpoint.signature, anchor);
  }
  // Which checkpoints name each previous signature ('none' for a first checkpoint): more than one is a fork.
  const followers = new Map<string, Known[]>();
  for (const k of known.values()) {
    const at = k.checkpoint.previous ?? 'none';
    followers.set(at, [...(followers.get(at) ?? []), k]);
  }
  const chainSignatures = new Set([...(stored ?? []), ...exported.map((e) => e.checkpoint)].map((cp) => cp.signature));

  const storedSignatures = new Set(stored?.map((cp) => cp.signature));
  let latestAnchor: Anchor | null = null;
  for (const anchor of trusted) {
    const { checkpoint: cp, source } = anchor;
    if (!latestAnchor || cp.seq >= latestAnchor.checkpoint.seq) latestAnchor = anchor;
    if (!chainSignatures.has(cp.signature)) linkProblems(anchor);
    if (!held(cp, source)) continue;
    if (stored && !storedSignatures.has(cp.signature)) {
      problem(
        'missing',
        source,
        cp.seq,
        `${source} (seq ${cp.seq}, signed ${cp.time}) is a checkpoint the database does not hold: checkpoint rows were deleted.`,
      );
    }
    const newest = latestExported?.checkpoint;
    if (bundle && newest && cp.seq < newest.seq && !exportedBySignature.has(cp.signature)) {
      problem(
        'missing',
        source,
        cp.seq,
        `${source} (seq ${cp.seq}, signed ${cp.time}) is older than the export's newest checkpoint (seq ${newest.seq}, ${latestExported!.source}) but is not among the export's checkpoints: its checkpoint chain was cut or re-made.`,
      );
    }
  }

  /** An anchor's `previous` link against every other checkpoint known: one follower each, no step back in seq. */
  function linkProblems(anchor: Known): void {
    const { checkpoint: cp, source } = anchor;
    const before = cp.previous === null ? null : known.get(cp.previous);
    const named =
      cp.previous === null ? 'no previous checkpoint (a first checkpoint)' : `previous ${short(cp.previous)}`;
    const beforeWhere = before ? ` (${before.source}, seq ${before.checkpoint.seq})` : '';
    if (before && cp.seq < before.checkpoint.seq) {
      problem(
        'chain-broken',
        source,
        cp.seq,
        `${source} names ${named}${beforeWhere} but covers seq ${cp.seq}, behind it: expected seq ${before.checkpoint.seq} or later.`,
      );
    }
    const others = (followers.get(cp.previous ?? 'none') ?? []).filter((k) => k.checkpoint.signature !== cp.signature);
    if (others.length > 0) {
      problem(
        'chain-broken',
        source,
        cp.seq,
        `${source} names ${named}${beforeWhere}, and so does ${others.map((k) => k.source).join(', ')}: expected one checkpoint after it, found ${others.length + 1}. The checkpoint chain forks there, so one branch is not this log's.`,
      );
    }
  }

  const warnings: string[] = [];
  if (stored && stored.length === 0) {
    warnings.push(
      'The database holds no checkpoints yet: make one with `gatehouse audit checkpoint` (the bot makes them once it has a key).',
    );
  }
  if (!key) {
    warnings.push(
      exported.length > 0
        ? `No checkpoint public key was given (--public-key), so the signatures of the export's ${exported.length === 1 ? 'checkpoint' : `${exported.length} checkpoints`} (which name key ${bundle?.keyId ?? 'none'}) were NOT checked. Their chain and the events they name were: that catches damage and a careless edit, but not someone who rewrote the log and made new checkpoints for it.`
        : NO_KEY_WARNING,
    );
  } else if (anchors.length === 0) {
    warnings.push(
      stored
        ? 'No anchors were read (GATEHOUSE_ANCHOR_FILE, --anchors or --checkpoint): someone who can write the database could delete the newest events together with the checkpoints that cover them.'
        : exported.length > 0
          ? `No anchors were given (--anchors or --checkpoint): the export's own checkpoints were checked, but someone who can write the database could delete the newest events together with the checkpoints that cover them, and export again.`
          : 'No anchors were given (--anchors or --checkpoint): the export was checked as a chain only, so removed newest events or a rewrite CANNOT be detected.',
    );
  }
  return {
    ...chain,
    ok: chain.ok && problems.length === 0,
    signed: key !== null,
    keyId: key?.keyId ?? null,
    logId,
    checkpoints: stored
      ? { checked: stored.length, latestSeq: latestStored?.seq ?? null, latestTime: latestStored?.time ?? null }
      : null,
    bundle: bundle
      ? {
          logId: bundle.logId,
          claimedKeyId: bundle.keyId,
          checked: exported.length,
          latestSeq: latestExported?.checkpoint.seq ?? null,
          latestTime: latestExported?.checkpoint.time ?? null,
        }
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
    bundle: null,
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
