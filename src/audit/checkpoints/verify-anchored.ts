import type pg from 'pg';
import type { Anchor } from './anchors.ts';
import { judgeCheckpoints, unsignedResult, type AnchoredVerifyResult, type CheckpointProblem } from './checks.ts';
import type { CheckpointPublicKey } from './keys.ts';
import { openCheckpointNote } from './note-checks.ts';
import { listCheckpoints, readLogId } from './store.ts';
import { ChainChecker } from '../checker.ts';
import { readExportFile, type ExportBundle } from '../verify-file.ts';
import { verifyChain } from '../verify.ts';

export interface AnchoredVerifyOptions {
  /** The trusted checkpoint key. Without it only the chain is checked, and the result says so. */
  publicKey?: CheckpointPublicKey | null;
  /** Checkpoints read back from outside the database: the anchor file, the audit channel. */
  anchors?: Anchor[];
  onProgress?: (read: number) => void;
}

/**
 * verifyChain, then the checkpoints: every stored checkpoint's signature, their chain, and
 * that the log holds each one's (seq, hash); then the anchors, which catch what someone
 * who can write the database could hide by deleting checkpoints with the events.
 * Checkpoints are read before the events, so every one of them is in the chain's snapshot.
 */
export async function verifyAnchored(
  pool: pg.Pool,
  options: AnchoredVerifyOptions = {},
): Promise<AnchoredVerifyResult> {
  const anchors = options.anchors ?? [];
  const key = options.publicKey ?? null;
  if (!key) return unsignedResult(await verifyChain(pool, { onProgress: options.onProgress }), anchors);
  const logId = await readLogId(pool);
  const stored = await listCheckpoints(pool);
  const checker = new ChainChecker([...stored, ...anchors.map((a) => a.checkpoint)].map((cp) => cp.seq));
  const chain = await verifyChain(pool, { onProgress: options.onProgress, checker });
  return judgeCheckpoints({ chain, hashAt: (seq) => checker.hashAt(seq), key, logId, stored, anchors });
}

/**
 * readExportFile, then its checkpoints and the anchors against it, with no database: an
 * auditor's check from an export, the public key, and the anchor file or a checkpoint.
 * A format 2 export carries its checkpoints, so even with no key their chain and the
 * events they name are checked (not their signatures, and the result says so). A format 3
 * export also carries their signed notes, checked as `audit verify` checks the stored ones
 * (docs/merkle.md §11.3) against the tree of the file's own events (`treeNotes`).
 */
export async function verifyFileAnchored(
  file: string,
  options: AnchoredVerifyOptions = {},
): Promise<AnchoredVerifyResult> {
  const key = options.publicKey ?? null;
  const anchors = options.anchors ?? [];
  const checker = new ChainChecker(key ? anchors.map((a) => a.checkpoint.seq) : []);
  const { chain, bundle, treeRoots } = await readExportFile(file, { onProgress: options.onProgress, checker });
  if (!key && !bundle) return unsignedResult(chain, anchors);
  const result = judgeCheckpoints({
    chain,
    hashAt: (seq) => checker.hashAt(seq),
    key,
    logId: null,
    stored: null,
    bundle,
    anchors: key ? anchors : [],
  });
  if (!key && anchors.length > 0)
    result.warnings.push(
      `${anchors.length} anchor(s) were given but not checked: anchors are checked only with the public key.`,
    );
  if (!bundle) return result;
  const notes = judgeExportedNotes(bundle, treeRoots, key);
  result.treeNotes = { checked: notes.checked, withoutNote: notes.withoutNote };
  result.problems.push(...notes.problems);
  result.ok &&= notes.problems.length === 0;
  if (!key && notes.checked > 0)
    result.warnings.push(
      `The export's ${notes.checked === 1 ? 'checkpoint note was' : `${notes.checked} checkpoint notes were`} checked against the Merkle tree of its events (size and root), but not ${notes.checked === 1 ? 'its signature' : 'their signatures'}: no public key was given.`,
    );
  return result;
}

/**
 * Each exported checkpoint's note: a checkpoint note, signed by `key` under its own origin
 * when a key is given, of size = the checkpoint's seq, and of the root the file's events
 * give at that size. A note past where the events verified is not counted: the chain's
 * failure, or the checkpoint's `truncated`, already says why the file is not whole.
 */
function judgeExportedNotes(
  bundle: ExportBundle,
  treeRoots: ReadonlyMap<number, string>,
  key: CheckpointPublicKey | null,
): { checked: number; withoutNote: number; problems: CheckpointProblem[] } {
  const problems: CheckpointProblem[] = [];
  let checked = 0;
  let withoutNote = 0;
  for (const { source, checkpoint: cp, note } of bundle.checkpoints) {
    if (note === null) {
      withoutNote += 1;
      continue;
    }
    const problem = (message: string) => problems.push({ reason: 'bad-note', source, seq: cp.seq, message });
    const opened = openCheckpointNote(note, cp.seq, key, source);
    if ('problem' in opened) {
      problem(`${opened.problem}.`);
      continue;
    }
    const { body } = opened;
    const root = treeRoots.get(cp.seq);
    if (root === undefined) continue;
    if (root !== body.root) {
      problem(
        `${source}'s note signs root ${body.root} for the first ${body.size} events, but the export's events give root ${root}: the events or the note were changed after it was signed, so proofs against that root would not verify.`,
      );
      continue;
    }
    checked += 1;
  }
  return { checked, withoutNote, problems };
}
