import type pg from 'pg';
import {
  COSIGNATURE_ED25519,
  cosignatureLine,
  NoteError,
  noteVerifier,
  openNote,
  type NoteSigner,
  type NoteVerifier,
  type OpenedNote,
} from '../checkpoints/note.ts';
import type { CheckpointPublicKey } from '../checkpoints/keys.ts';
import { proveConsistency, rootAt, TreeUnavailableError } from '../tree/store.ts';
import type { Queryable } from '../tree/read.ts';
import { ProofError, verifyConsistency } from '../tree/verify.ts';
import type { WitnessState } from './state.ts';

/**
 * The witness refuses to cosign: the log shows a history that does not extend the one it
 * cosigned before. `evidence` holds both notes, each signed by the log: together they prove
 * the log signed two histories.
 */
export class WitnessRefusedError extends Error {
  constructor(
    message: string,
    readonly evidence: { cosigned: string; offered: string },
  ) {
    super(message);
  }
}

export interface WitnessOptions {
  /** The witness's own key and name. */
  signer: NoteSigner;
  /**
   * The log's checkpoint key: a vkey (its name pins the origin) or a bare public key (the
   * origin is then the one the state file, or else the first note, names).
   */
  logKey: NoteVerifier | CheckpointPublicKey;
  /** What the witness cosigned last; null on its first run (it trusts what it sees first). */
  state: WitnessState | null;
  /** Unix seconds, for the cosignature's time line. */
  now: () => number;
}

export type WitnessOutcome =
  | { kind: 'none' }
  | { kind: 'unchanged'; state: WitnessState }
  | { kind: 'cosigned'; state: WitnessState; line: string; checkpointId: number; from: number | null };

interface NoteRow {
  id: string | number;
  seq: string | number;
  note: string;
}

/**
 * One witness run (docs/merkle.md §12): reads the newest checkpoint note, checks the log's
 * signature on it, checks that its tree extends the one cosigned last (an RFC 6962
 * consistency proof against the remembered root, and the same root at an equal size), and
 * stores a cosignature of it in audit_cosignatures (the one table it writes). Throws
 * WitnessRefusedError, with both notes, when the log does not extend what it cosigned.
 */
export async function witnessOnce(pool: pg.Pool, db: Queryable, options: WitnessOptions): Promise<WitnessOutcome> {
  const { rows } = await pool.query<NoteRow>(
    'select id, seq, note from audit_checkpoints where note is not null order by id desc limit 1',
  );
  const row = rows[0];
  if (!row) return { kind: 'none' };
  const offered = row.note;
  const origin =
    'name' in options.logKey
      ? options.logKey.name
      : (options.state?.origin ?? openNote(offered, [], { requireVerified: false }).origin);
  const verifier = 'name' in options.logKey ? options.logKey : noteVerifier(origin, options.logKey);
  let note: OpenedNote;
  try {
    note = openNote(offered, [verifier]);
  } catch (err) {
    if (!(err instanceof NoteError)) throw err;
    throw new WitnessRefusedError(
      `the newest checkpoint (#${row.id}) is not signed by the log key ${verifier.name} (${verifier.keyId}): ${err.message}`,
      { cosigned: options.state?.note ?? '', offered },
    );
  }
  if (note.origin !== origin)
    throw new WitnessRefusedError(`the newest checkpoint is of log ${note.origin}, not ${origin}`, {
      cosigned: options.state?.note ?? '',
      offered,
    });
  const state = options.state;
  if (state) {
    const refuse = (why: string) =>
      new WitnessRefusedError(
        `REFUSED to cosign checkpoint #${row.id}: ${why}. The log has shown two histories: keep both notes below as evidence.`,
        { cosigned: state.note, offered },
      );
    if (note.size < state.size)
      throw refuse(
        `it has ${note.size} events, fewer than the ${state.size} this witness cosigned (the log went back)`,
      );
    if (note.size === state.size) {
      if (note.root !== state.root)
        throw refuse(`it signs root ${note.root} for ${note.size} events, where this witness cosigned ${state.root}`);
      return { kind: 'unchanged', state };
    }
    let proof;
    try {
      proof = await proveConsistency(db, state.size, note.size);
    } catch (err) {
      if (!(err instanceof TreeUnavailableError)) throw err;
      throw refuse(`no consistency proof can be read for it (${err.message})`);
    }
    try {
      verifyConsistency(
        state.size,
        note.size,
        Buffer.from(state.root, 'hex'),
        Buffer.from(note.root, 'hex'),
        proof.path,
      );
    } catch (err) {
      if (!(err instanceof ProofError)) throw err;
      throw refuse(
        `its tree of ${note.size} events (root ${note.root}) does not extend the tree of ${state.size} events this witness cosigned (root ${state.root}): ${err.message}`,
      );
    }
  } else {
    // A first run: nothing to be consistent with, but the note must at least be of the tree the log holds.
    const root = await rootAt(db, note.size).then(
      (hash) => hash.toString('hex'),
      (err: unknown) => {
        if (err instanceof TreeUnavailableError) return `none (${err.message})`;
        throw err;
      },
    );
    if (root !== note.root)
      throw new WitnessRefusedError(
        `REFUSED to cosign checkpoint #${row.id}: it signs root ${note.root} for ${note.size} events, but the log's tree has ${root}`,
        { cosigned: '', offered },
      );
  }
  const time = options.now();
  const line = cosignatureLine(note.body, options.signer, time);
  const witness = noteVerifier(options.signer.name, options.signer.key.publicKey, COSIGNATURE_ED25519);
  await pool.query(
    `insert into audit_cosignatures (checkpoint_id, witness, key_id, time, body, line)
     values ($1, $2, $3, to_timestamp($4), $5, $6) on conflict do nothing`,
    [Number(row.id), witness.name, witness.keyId, time, note.body, line.replace(/\n$/, '')],
  );
  const next: WitnessState = {
    v: 1,
    origin: note.origin,
    size: note.size,
    root: note.root,
    note: offered,
    checkpoint_id: Number(row.id),
    time,
  };
  return { kind: 'cosigned', state: next, line, checkpointId: Number(row.id), from: state?.size ?? null };
}
