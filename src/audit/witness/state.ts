import fs from 'node:fs/promises';
import { NoteError, parseCheckpointBody, parseNote } from '../checkpoints/note.ts';

/**
 * What a witness remembers between runs (docs/merkle.md §12): the last checkpoint it
 * cosigned, as the note it read. Kept by the auditor, never in the log's database: it is
 * what the log must stay consistent with.
 */
export interface WitnessState {
  v: 1;
  origin: string;
  size: number;
  /** Root hash, 64 lower-case hex digits. */
  root: string;
  /** The checkpoint's note as the witness read it (the log's signature on it). */
  note: string;
  /** The database row of that checkpoint, for the next run to read only newer ones. */
  checkpoint_id: number;
  /** When the witness cosigned it, Unix seconds. */
  time: number;
}

export class WitnessStateError extends Error {}

/** The state file, or null when it does not exist yet (a first run). */
export async function readWitnessState(file: string): Promise<WitnessState | null> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new WitnessStateError(`cannot read the witness state ${file}: ${(err as Error).message}`);
  }
  try {
    const state = JSON.parse(text) as WitnessState;
    const body = parseCheckpointBody(parseNote(state.note).body);
    if (state.v !== 1 || body.size !== state.size || body.root !== state.root || body.origin !== state.origin)
      throw new WitnessStateError('its fields do not match its note');
    return state;
  } catch (err) {
    const why = err instanceof NoteError || err instanceof WitnessStateError ? err.message : 'it is not JSON';
    throw new WitnessStateError(
      `the witness state ${file} is unreadable (${why}). Restore it from your backup: starting afresh would trust whatever the log shows now.`,
    );
  }
}

/** Replaces the state file whole (written aside, then renamed), so a crash leaves the old one. */
export async function writeWitnessState(file: string, state: WitnessState): Promise<void> {
  const partial = `${file}.partial`;
  await fs.writeFile(partial, `${JSON.stringify(state, null, 2)}\n`, { encoding: 'utf8', mode: 0o600 });
  await fs.rename(partial, file);
}
