import type pg from 'pg';
import { createDb } from '../db/database.ts';
import type { CheckpointPublicKey } from './checkpoints/keys.ts';
import { NoteError, noteVerifier, openNote, parseCheckpointBody, parseNote } from './checkpoints/note.ts';
import { proveConsistency, TreeUnavailableError } from './tree/store.ts';
import { ProofError, verifyConsistency } from './tree/verify.ts';

/** A stored checkpoint with its signed note (C2SP checkpoint of the Merkle tree), if it has one. */
export interface NotedCheckpoint {
  id: number;
  seq: number;
  note: string | null;
}

export type SinceConsistency =
  /** The proof from the trusted checkpoint's tree to the newest signed one was checked. */
  | { status: 'checked'; size1: number; size2: number; checkpointId: number }
  /** The trusted checkpoint signs no tree (made before notes), or no later checkpoint does. */
  | { status: 'no-tree'; reason: string }
  /** The proof does not hold: the newer tree does not extend the trusted one. */
  | { status: 'failed'; size1: number; size2: number; checkpointId: number; message: string };

/** The root a note signs, once its signature verifies with the key under its own origin; null when it does not. */
function signedRoot(note: string, size: number, key: CheckpointPublicKey): Buffer | null {
  try {
    const { origin } = parseCheckpointBody(parseNote(note).body);
    const opened = openNote(note, [noteVerifier(origin, key)]);
    return opened.size === size ? Buffer.from(opened.root, 'hex') : null;
  } catch (err) {
    if (err instanceof NoteError) return null;
    throw err;
  }
}

/**
 * When the trusted checkpoint signs a Merkle tree root (its note) and a checkpoint after it
 * does too, an RFC 9162 consistency proof from the first tree to the newest one, read from
 * the tree store and checked against the two SIGNED roots: the store is not trusted, only the
 * key. Without a signed root for the trusted checkpoint, the chain link (the event at its seq
 * still hashing to its hash) is the proof that the log extends it.
 */
export async function checkSinceConsistency(
  pool: pg.Pool,
  trusted: NotedCheckpoint | null,
  after: readonly NotedCheckpoint[],
  key: CheckpointPublicKey,
): Promise<SinceConsistency> {
  const root1 = trusted?.note ? signedRoot(trusted.note, trusted.seq, key) : null;
  if (!trusted || !root1)
    return {
      status: 'no-tree',
      reason:
        'the trusted checkpoint signs no Merkle tree root, so the chain link is the proof that the log extends it',
    };
  const newest = [...after].reverse().find((cp) => cp.note !== null && signedRoot(cp.note, cp.seq, key) !== null);
  if (!newest || newest.seq === trusted.seq)
    return { status: 'no-tree', reason: 'no later checkpoint signs a Merkle tree root to prove consistency to' };
  const root2 = signedRoot(newest.note!, newest.seq, key)!;
  const shape = { size1: trusted.seq, size2: newest.seq, checkpointId: newest.id };
  try {
    const proof = await proveConsistency(createDb(pool), trusted.seq, newest.seq);
    verifyConsistency(trusted.seq, newest.seq, root1, root2, proof.path);
    return { status: 'checked', ...shape };
  } catch (err) {
    if (!(err instanceof ProofError) && !(err instanceof TreeUnavailableError)) throw err;
    return { status: 'failed', ...shape, message: err.message };
  }
}
