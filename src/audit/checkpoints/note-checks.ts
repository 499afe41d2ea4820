import type pg from 'pg';
import { rootAt, TreeUnavailableError } from '../tree/store.ts';
import { treeRoot } from '../tree/prove.ts';
import { byStorage, nodeKey, readParts, resolveNodes, type Queryable } from '../tree/read.ts';
import { rootShape } from '../tree/shape.ts';
import type { CheckpointPublicKey } from './keys.ts';
import { NoteError, noteVerifier, openNote, parseCheckpointBody, parseNote, type CheckpointBody } from './note.ts';
import { listCheckpoints, type StoredCheckpoint } from './store.ts';

/** What the stored checkpoint notes showed (docs/merkle.md §11.3). */
export interface NoteCheckResult {
  ok: boolean;
  /** Notes whose signature and root were checked. */
  checked: number;
  /** Checkpoints made before migration 0013, which carry none. */
  withoutNote: number;
  /** The log's origin, as the newest note names it; null when there is none. */
  origin: string | null;
  /** The newest note, as stored. */
  newest: { id: number; size: number; root: string; note: string } | null;
  problems: { id: number; seq: number; message: string }[];
}

/** Sizes whose roots are read in one round trip: their stored nodes and the leaves below them. */
const ROOTS_PER_READ = 256;

/**
 * Roots of the log's tree at given sizes, each read once: a checkpoint's note and the
 * witnesses' cosignatures are checked against the same tree. `prefetch` reads many sizes'
 * roots in few round trips (a log with a checkpoint every 3 s has thousands); a size past
 * the head, or over a gap in the log, has no root (null).
 */
export interface TreeRoots {
  (size: number): Promise<string | null>;
  prefetch(sizes: readonly number[]): Promise<void>;
}

export function treeRoots(db: Queryable): TreeRoots {
  const roots = new Map<number, Promise<string | null>>();
  const one = (size: number) =>
    rootAt(db, size).then(
      (hash) => hash.toString('hex'),
      (err: unknown) => {
        if (err instanceof TreeUnavailableError) return null;
        throw err;
      },
    );
  const get = ((size: number) => {
    let root = roots.get(size);
    if (!root) {
      root = one(size);
      roots.set(size, root);
    }
    return root;
  }) as TreeRoots;
  get.prefetch = async (sizes) => {
    const wanted = [...new Set(sizes)].filter((size) => size > 0 && !roots.has(size));
    for (let i = 0; i < wanted.length; i += ROOTS_PER_READ) {
      const batch = wanted.slice(i, i + ROOTS_PER_READ);
      const nodes = batch.flatMap((size) => rootShape(size));
      const parts = await readParts(db, { ...byStorage(nodes), head: true });
      const within = batch.filter((size) => size <= parts.head);
      let hashes: Map<string, Buffer>;
      try {
        hashes = await resolveNodes(
          db,
          within.flatMap((size) => rootShape(size)),
          parts,
        );
      } catch (err) {
        if (!(err instanceof TreeUnavailableError)) throw err;
        continue; // a gap: each size is then read alone, and those over the gap have no root
      }
      for (const size of batch) {
        const root =
          size > parts.head ? null : treeRoot(size, (node) => hashes.get(nodeKey(node)) as Buffer).toString('hex');
        roots.set(size, Promise.resolve(root));
      }
    }
  };
  return get;
}

/**
 * A checkpoint's note opened for checking, the stored ones' and an export's alike: a
 * checkpoint note, signed by `publicKey` under its own origin as key name when a key is
 * given, of size = the checkpoint's seq. Its root is left to the caller, who has the tree
 * (the database's, or the export's events). `what` names the checkpoint in the problem;
 * `signature` says whether the note itself held (it was the size that did not).
 */
export function openCheckpointNote(
  note: string,
  seq: number,
  publicKey: CheckpointPublicKey | null,
  what: string,
): { body: CheckpointBody } | { problem: string; signature: boolean } {
  let body: CheckpointBody;
  try {
    body = parseCheckpointBody(parseNote(note).body);
    if (publicKey) openNote(note, [noteVerifier(body.origin, publicKey)]);
  } catch (err) {
    if (!(err instanceof NoteError)) throw err;
    return { problem: `${what}'s note does not hold: ${err.message}`, signature: false };
  }
  if (body.size !== seq)
    return { problem: `${what} is of seq ${seq}, but its note signs a tree of ${body.size} events`, signature: true };
  return { body };
}

/**
 * Checks every stored checkpoint note: signed by `publicKey` under its own origin as key
 * name, of size = the checkpoint's seq, and of the root the log's tree has at that size
 * (recomputed from audit_tree and the events). A note that fails says the tree or the
 * note was changed after signing.
 */
export async function checkCheckpointNotes(
  pool: pg.Pool,
  db: Queryable,
  publicKey: CheckpointPublicKey | null,
  checkpoints?: StoredCheckpoint[],
): Promise<NoteCheckResult> {
  const all = checkpoints ?? (await listCheckpoints(pool));
  const rootOf = treeRoots(db);
  await rootOf.prefetch(all.filter((cp) => cp.note !== null).map((cp) => cp.seq));
  const problems: NoteCheckResult['problems'] = [];
  let checked = 0;
  let newest: NoteCheckResult['newest'] = null;
  let origin: string | null = null;
  for (const cp of all) {
    if (cp.note === null) continue;
    const problem = (message: string) => problems.push({ id: cp.id, seq: cp.seq, message });
    const opened = openCheckpointNote(cp.note, cp.seq, publicKey, `checkpoint #${cp.id}`);
    if ('problem' in opened) {
      if (opened.signature) checked++;
      problem(opened.problem);
      continue;
    }
    const { body } = opened;
    checked++;
    const root = await rootOf(body.size);
    if (root !== body.root) {
      problem(
        `checkpoint #${cp.id}'s note signs root ${body.root} for the first ${body.size} events, but the log's tree has ${root ?? 'no root (events are missing)'}: the events or the tree were changed after it was signed`,
      );
      continue;
    }
    origin = body.origin;
    newest = { id: cp.id, size: body.size, root: body.root, note: cp.note };
  }
  return {
    ok: problems.length === 0,
    checked,
    withoutNote: all.filter((cp) => cp.note === null).length,
    origin,
    newest,
    problems,
  };
}

/** The lines `audit verify` prints for the notes. */
export function formatNoteCheck(result: NoteCheckResult, signed: boolean): string[] {
  const lines: string[] = [];
  const older = result.withoutNote > 0 ? ` (${result.withoutNote} older checkpoint(s) carry none)` : '';
  if (result.checked === 0 && result.problems.length === 0)
    return result.withoutNote === 0 ? [] : [`  No checkpoint carries a signed note yet${older}.`];
  if (result.problems.length === 0) {
    const n = result.newest;
    lines.push(
      `✔ checkpoint notes: ${result.checked} ${signed ? 'signed and ' : ''}matching the Merkle tree${older}; newest: ${n!.size} events, root ${n!.root} (${result.origin}).`,
    );
    if (!signed) lines.push("  note: without the public key the notes' signatures were NOT checked, only their roots.");
    return lines;
  }
  lines.push(
    `✘ checkpoint notes: ${result.problems.length} do NOT hold, of ${result.checked + result.problems.length}:`,
  );
  for (const p of result.problems.slice(0, 10)) lines.push(`  ${p.message}`);
  return lines;
}
