import type pg from 'pg';
import { rootAt, TreeUnavailableError } from '../tree/store.ts';
import type { Queryable } from '../tree/read.ts';
import type { CheckpointPublicKey } from './keys.ts';
import { NoteError, noteVerifier, openNote, parseCheckpointBody, parseNote } from './note.ts';
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

/**
 * Roots of the log's tree at given sizes, each read once: a checkpoint's note and the
 * witnesses' cosignatures are checked against the same tree.
 */
export function treeRoots(db: Queryable): (size: number) => Promise<string | null> {
  const roots = new Map<number, Promise<string | null>>();
  return (size) => {
    let root = roots.get(size);
    if (!root) {
      root = rootAt(db, size).then(
        (hash) => hash.toString('hex'),
        (err: unknown) => {
          if (err instanceof TreeUnavailableError) return null;
          throw err;
        },
      );
      roots.set(size, root);
    }
    return root;
  };
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
  const problems: NoteCheckResult['problems'] = [];
  let checked = 0;
  let newest: NoteCheckResult['newest'] = null;
  let origin: string | null = null;
  for (const cp of all) {
    if (cp.note === null) continue;
    const problem = (message: string) => problems.push({ id: cp.id, seq: cp.seq, message });
    let body;
    try {
      body = parseCheckpointBody(parseNote(cp.note).body);
      if (publicKey) openNote(cp.note, [noteVerifier(body.origin, publicKey)]);
    } catch (err) {
      if (!(err instanceof NoteError)) throw err;
      problem(`checkpoint #${cp.id}'s note does not hold: ${err.message}`);
      continue;
    }
    checked++;
    if (body.size !== cp.seq) {
      problem(`checkpoint #${cp.id} is of seq ${cp.seq}, but its note signs a tree of ${body.size} events`);
      continue;
    }
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
