import { chainHash, HEX_HASH_PATTERN } from '../chain.ts';
import type { CheckpointPublicKey } from '../checkpoints/keys.ts';
import { NoteError, noteVerifier, openNote, parseCheckpointBody, parseNote } from '../checkpoints/note.ts';
import { hashLeaf } from './hash.ts';
import type { ConsistencyProof, InclusionProof } from './store.ts';
import { ProofError, verifyConsistency, verifyInclusion } from './verify.ts';

/**
 * The JSON forms of docs/merkle.md §6, printed by `gatehouse audit prove` and `audit
 * consistency` and checked offline by `audit verify-proof`. Hashes are lower-case hex.
 */
export const PROOF_FORMAT = 'gatehouse-merkle-proof';

const hex = (value: Buffer) => value.toString('hex');

/**
 * A proof may carry the log's signed checkpoint notes (docs/merkle.md §11.4) of its tree
 * sizes: `checkpoint` for an inclusion proof, `checkpoint1` and `checkpoint2` for a
 * consistency proof. With the log's key, a verifier then needs no root of its own.
 */
const withNotes = (fields: Record<string, string | null | undefined>) =>
  Object.fromEntries(Object.entries(fields).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));

export function inclusionProofJson(proof: InclusionProof, note?: string | null): string {
  return JSON.stringify(
    {
      format: PROOF_FORMAT,
      v: 1,
      type: 'inclusion',
      seq: proof.seq,
      size: proof.size,
      canonical: proof.canonical,
      prev_hash: hex(proof.prevHash),
      hash: hex(proof.hash),
      leaf_hash: hex(proof.leafHash),
      root: hex(proof.root),
      path: proof.path.map(hex),
      ...withNotes({ checkpoint: note }),
    },
    null,
    2,
  );
}

export function consistencyProofJson(
  proof: ConsistencyProof,
  notes: { checkpoint1?: string | null; checkpoint2?: string | null } = {},
): string {
  return JSON.stringify(
    {
      format: PROOF_FORMAT,
      v: 1,
      type: 'consistency',
      size1: proof.size1,
      size2: proof.size2,
      root1: hex(proof.root1),
      root2: hex(proof.root2),
      path: proof.path.map(hex),
      ...withNotes(notes),
    },
    null,
    2,
  );
}

export type VerifiedProof = (
  | { kind: 'inclusion'; seq: number; size: number; root: string }
  | { kind: 'consistency'; size1: number; size2: number; root1: string; root2: string }
) & {
  /** The origins of the notes checked with the log key, each the key name that signed. */
  signedBy: string[];
  /** Notes the proof carries that were not checked (no key given). */
  unchecked: number;
};

/** Roots the verifier already trusts (from a checkpoint, an earlier proof): the proof must end at them. */
export interface TrustedRoots {
  root?: string;
  root1?: string;
  /** The log's checkpoint key: the proof's notes must be signed by it and name its roots. */
  logKey?: CheckpointPublicKey | null;
}

/** Checks a note the proof carries against the size and root it proves; returns its origin. */
function signedRoot(
  proof: Record<string, unknown>,
  name: string,
  size: number,
  root: Buffer,
  key: CheckpointPublicKey,
) {
  const note = proof[name];
  if (note === undefined)
    throw new ProofError(
      `the proof carries no "${name}" (the log's signed note of that tree): check its root with --root instead`,
    );
  if (typeof note !== 'string') throw new ProofError(`"${name}" must be the note's text`);
  try {
    const origin = parseCheckpointBody(parseNote(note).body).origin;
    const opened = openNote(note, [noteVerifier(origin, key)]);
    if (opened.size !== size || opened.root !== hex(root))
      throw new ProofError(
        `"${name}" signs root ${opened.root} for ${opened.size} events, but the proof is of root ${hex(root)} for ${size}`,
      );
    return origin;
  } catch (err) {
    if (err instanceof NoteError) throw new ProofError(`"${name}" does not hold: ${err.message}`);
    throw err;
  }
}

const notesIn = (proof: Record<string, unknown>, names: string[]) => names.filter((name) => name in proof).length;

function field(proof: Record<string, unknown>, name: string): unknown {
  if (!(name in proof)) throw new ProofError(`the proof has no "${name}"`);
  return proof[name];
}

function size(proof: Record<string, unknown>, name: string): number {
  const value = field(proof, name);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new ProofError(`"${name}" must be a whole number ≥ 0`);
  return value;
}

function hash(proof: Record<string, unknown>, name: string): Buffer {
  const value = field(proof, name);
  if (typeof value !== 'string' || !HEX_HASH_PATTERN.test(value))
    throw new ProofError(`"${name}" must be 64 lower-case hex digits`);
  return Buffer.from(value, 'hex');
}

function path(proof: Record<string, unknown>): Buffer[] {
  const value = field(proof, 'path');
  if (!Array.isArray(value)) throw new ProofError('"path" must be a list of hashes');
  return value.map((_, i) => hash(value as unknown as Record<string, unknown>, String(i)));
}

function trusted(name: string, given: string | undefined, proved: Buffer): void {
  if (given !== undefined && given.toLowerCase() !== hex(proved))
    throw new ProofError(`the proof's ${name} ${hex(proved)} is not the trusted one, ${given.toLowerCase()}`);
}

/** Checks a proof file's text offline (docs/merkle.md §7); throws a ProofError saying what failed. */
export function verifyProofJson(text: string, roots: TrustedRoots = {}): VerifiedProof {
  let proof: Record<string, unknown>;
  try {
    proof = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new ProofError('the proof is not JSON');
  }
  if (typeof proof !== 'object' || proof === null || proof.format !== PROOF_FORMAT || proof.v !== 1)
    throw new ProofError(`not a proof: expected "format": "${PROOF_FORMAT}" and "v": 1`);
  if (proof.type === 'inclusion') {
    const seq = size(proof, 'seq');
    const treeSize = size(proof, 'size');
    const canonical = field(proof, 'canonical');
    if (typeof canonical !== 'string') throw new ProofError('"canonical" must be the event\'s text');
    const eventHash = chainHash(hash(proof, 'prev_hash'), canonical);
    if (!eventHash.equals(hash(proof, 'hash')))
      throw new ProofError('"hash" is not SHA-256(prev_hash ‖ canonical): the event is not the one hashed');
    let inner: unknown;
    try {
      inner = (JSON.parse(canonical) as { seq?: unknown }).seq;
    } catch {
      throw new ProofError('"canonical" is not JSON');
    }
    if (inner !== seq) throw new ProofError(`the event's own seq is ${String(inner)}, not ${seq}`);
    const leafHash = hashLeaf(eventHash);
    if (!leafHash.equals(hash(proof, 'leaf_hash'))) throw new ProofError('"leaf_hash" is not SHA-256(0x00 ‖ hash)');
    if (seq < 1) throw new ProofError('"seq" starts at 1');
    const root = hash(proof, 'root');
    verifyInclusion(seq - 1, treeSize, leafHash, path(proof), root);
    trusted('root', roots.root, root);
    const signedBy = roots.logKey ? [signedRoot(proof, 'checkpoint', treeSize, root, roots.logKey)] : [];
    const unchecked = roots.logKey ? 0 : notesIn(proof, ['checkpoint']);
    return { kind: 'inclusion', seq, size: treeSize, root: hex(root), signedBy, unchecked };
  }
  if (proof.type === 'consistency') {
    const size1 = size(proof, 'size1');
    const size2 = size(proof, 'size2');
    const root1 = hash(proof, 'root1');
    const root2 = hash(proof, 'root2');
    verifyConsistency(size1, size2, root1, root2, path(proof));
    trusted('root1', roots.root1, root1);
    trusted('root2', roots.root, root2);
    // With the key, the later tree must be signed; the earlier one too, unless given by --root1.
    const signedBy = roots.logKey
      ? [
          ...(roots.root1 === undefined ? [signedRoot(proof, 'checkpoint1', size1, root1, roots.logKey)] : []),
          signedRoot(proof, 'checkpoint2', size2, root2, roots.logKey),
        ]
      : [];
    const unchecked = roots.logKey ? 0 : notesIn(proof, ['checkpoint1', 'checkpoint2']);
    return { kind: 'consistency', size1, size2, root1: hex(root1), root2: hex(root2), signedBy, unchecked };
  }
  throw new ProofError('"type" must be "inclusion" or "consistency"');
}
