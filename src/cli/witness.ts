import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { checkCheckpointNotes, formatNoteCheck, treeRoots } from '../audit/checkpoints/note-checks.ts';
import { listCheckpoints } from '../audit/checkpoints/store.ts';
import {
  generateCheckpointKey,
  loadPublicKey,
  parseCheckpointKey,
  CheckpointKeyError,
  type CheckpointPublicKey,
} from '../audit/checkpoints/keys.ts';
import {
  COSIGNATURE_ED25519,
  NoteError,
  noteVerifier,
  openNote,
  parseCheckpointBody,
  parseNote,
  parseVkey,
  vkeyOf,
  type NoteVerifier,
} from '../audit/checkpoints/note.ts';
import { checkWitnesses, formatWitnessCheck } from '../audit/witness/checks.ts';
import { readWitnessState, writeWitnessState } from '../audit/witness/state.ts';
import { witnessOnce, WitnessRefusedError } from '../audit/witness/witness.ts';
import type { DatabaseHandle } from '../db/database.ts';

/** What main.ts lends: the database the app records into, schema checked. */
export interface WitnessCommandDeps {
  withDatabase<T>(work: (database: DatabaseHandle) => Promise<T>): Promise<T>;
}

const EXIT_BROKEN = 1;

/** A vkey given as text or as a file holding it. */
async function readVkey(text: string, origin: string): Promise<NoteVerifier> {
  let value = text.trim();
  if (!value.includes('+')) {
    try {
      value = (await fs.readFile(value, 'utf8')).trim();
    } catch {
      throw new CheckpointKeyError(
        `${origin} is neither a verifier key (name+keyid+base64) nor a readable file holding one`,
      );
    }
  }
  try {
    return parseVkey(value);
  } catch (err) {
    if (err instanceof NoteError) throw new CheckpointKeyError(`${origin}: ${err.message}`);
    throw err;
  }
}

/** The log's key for a witness: a vkey (pins the origin) or a bare public key (hex, PEM, or a file). */
async function readLogKey(text: string): Promise<NoteVerifier | CheckpointPublicKey> {
  const trimmed = text.trim();
  if (trimmed.includes('+') && !trimmed.includes('-----')) return readVkey(trimmed, '--log-key');
  if (!/^[0-9a-fA-F]{64}$/.test(trimmed) && !trimmed.startsWith('-----')) {
    // A file: it may hold the vkey `audit checkpoint` printed, or the key as hex or PEM.
    const content = await fs.readFile(trimmed, 'utf8').catch(() => null);
    if (content !== null && content.includes('+') && !content.includes('-----')) return readVkey(content, '--log-key');
  }
  return loadPublicKey(trimmed, '--log-key');
}

/** `audit witness` and `audit witness-keygen` (docs/merkle.md §12). */
export function registerWitnessCommands(audit: Command, deps: WitnessCommandDeps): void {
  audit
    .command('witness-keygen')
    .description(
      "make a witness's own Ed25519 key, and print the verifier key (vkey) to give to those who check its cosignatures",
    )
    .requiredOption('--name <name>', 'the witness name, a schema-less URL such as witness.example.com/acme-audit')
    .option(
      '--out <file>',
      'where to write the private key (PEM, mode 0600; never replaced)',
      'gatehouse-witness-key.pem',
    )
    .action(async (options: { name: string; out: string }) => {
      const { key, pem } = generateCheckpointKey();
      const vkey = vkeyOf(options.name, key.publicKey, COSIGNATURE_ED25519);
      try {
        await fs.writeFile(options.out, pem, { encoding: 'utf8', mode: 0o600, flag: 'wx' });
      } catch (err) {
        throw new Error(
          (err as NodeJS.ErrnoException).code === 'EEXIST'
            ? `${options.out} already exists, and witness-keygen never replaces a key (its cosignatures would stop verifying). Choose another --out.`
            : `cannot create ${options.out}: ${(err as Error).message}`,
        );
      }
      console.log(
        `Wrote a new witness key to ${path.resolve(options.out)} (mode 0600). Keep it yours: the log's operators must never hold it.`,
      );
      console.log(`Its verifier key, for \`gatehouse audit verify --witness\`:\n  ${vkey}`);
    });

  audit
    .command('witness')
    .description(
      "as an auditor, cosign the log's newest checkpoint once its tree is proved to extend the one you cosigned last (kept in --state); refuse, with both notes, a log that shows another history",
    )
    .requiredOption('--key <file>', "the witness's private key (PEM), from `gatehouse audit witness-keygen`")
    .requiredOption('--name <name>', 'the witness name its vkey was made for')
    .requiredOption('--log-key <key>', "the log's checkpoint key: its vkey, or 64 hex digits, PEM, or a file")
    .option(
      '--state <file>',
      'what this witness cosigned last (kept by you, backed up)',
      'gatehouse-witness-state.json',
    )
    .action(async (options: { key: string; name: string; logKey: string; state: string }) => {
      let pem: string;
      try {
        pem = await fs.readFile(options.key, 'utf8');
      } catch (err) {
        throw new CheckpointKeyError(
          `--key names ${options.key}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}). Make one with \`gatehouse audit witness-keygen --name NAME --out FILE\`.`,
        );
      }
      const signer = { name: options.name, key: parseCheckpointKey(pem, `--key (${options.key})`) };
      vkeyOf(signer.name, signer.key.publicKey, COSIGNATURE_ED25519); // refuses a bad name before any work
      const logKey = await readLogKey(options.logKey);
      const state = await readWitnessState(options.state);
      await deps.withDatabase(async (database) => {
        try {
          const outcome = await witnessOnce(database.pool, database.db, {
            signer,
            logKey,
            state,
            now: () => Math.floor(Date.now() / 1000),
          });
          if (outcome.kind === 'none') {
            console.log('No checkpoint carries a signed note yet: nothing to cosign.');
            return;
          }
          if (outcome.kind === 'unchanged') {
            console.log(
              `Nothing new: the newest checkpoint is the tree of ${outcome.state.size} events this witness cosigned.`,
            );
            return;
          }
          await writeWitnessState(options.state, outcome.state);
          const from =
            outcome.from === null
              ? 'first run: trusted as seen'
              : `consistent with the ${outcome.from} cosigned before`;
          console.log(
            `Cosigned checkpoint #${outcome.checkpointId}: ${outcome.state.size} events, root ${outcome.state.root} (${from}). State kept in ${options.state}.`,
          );
          process.stdout.write(outcome.line);
        } catch (err) {
          if (!(err instanceof WitnessRefusedError)) throw err;
          console.error(err.message);
          if (err.evidence.cosigned)
            console.error(`\nThe checkpoint this witness cosigned before:\n${err.evidence.cosigned}`);
          console.error(`The checkpoint the log shows now:\n${err.evidence.offered}`);
          process.exitCode = EXIT_BROKEN;
        }
      });
    });
}

/** `audit verify`'s options for notes and witnesses. */
export interface WitnessVerifyOptions {
  witness?: string[];
  witnesses?: string;
  json?: boolean;
}

/** Adds --witness and --witnesses to `audit verify`. */
export function witnessVerifyOptions(command: Command): Command {
  return command
    .option(
      '--witness <vkey>',
      "a witness's verifier key (name+keyid+base64, or a file); repeat for several",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--witnesses <n>', 'how many of the --witness keys must have cosigned (default: all given)');
}

/**
 * After `audit verify`'s chain and checkpoint checks: every checkpoint note (signature, size,
 * root recomputed from the tree) and, with --witness, the witnesses' cosignatures. Prints
 * its lines (to stderr with --json, so stdout stays one JSON document) and sets the exit code.
 * With `fromSeq` (`--since`), only the notes of checkpoints from that seq on.
 */
export async function verifyNotesAndWitnesses(
  database: DatabaseHandle,
  publicKey: CheckpointPublicKey | null,
  headSeq: number | null,
  options: WitnessVerifyOptions,
  fromSeq = 0,
): Promise<boolean> {
  const verifiers = await Promise.all((options.witness ?? []).map((v, i) => readVkey(v, `--witness #${i + 1}`)));
  const checkpoints =
    fromSeq > 0 ? (await listCheckpoints(database.pool)).filter((cp) => cp.seq >= fromSeq) : undefined;
  const notes = await checkCheckpointNotes(database.pool, database.db, publicKey, checkpoints);
  const lines = formatNoteCheck(notes, publicKey !== null);
  let ok = notes.ok;
  if (verifiers.length > 0 || options.witnesses !== undefined) {
    const required = options.witnesses === undefined ? verifiers.length : Number(options.witnesses);
    if (!Number.isSafeInteger(required) || required < 1 || required > verifiers.length)
      throw new Error(
        `--witnesses must be a whole number from 1 to the number of --witness keys given (${verifiers.length}), not "${options.witnesses}"`,
      );
    const witnesses = await checkWitnesses(database.pool, {
      witnesses: verifiers,
      required,
      origin: notes.origin,
      rootOf: treeRoots(database.db),
    });
    lines.push(...formatWitnessCheck(witnesses, headSeq));
    ok &&= witnesses.ok;
  }
  for (const line of lines) (options.json ? console.error : console.log)(line);
  if (!ok) process.exitCode = EXIT_BROKEN;
  return ok;
}

/** What `audit checkpoint` prints of a new checkpoint's note: the note and the log's vkey. */
export function describeCheckpointNote(note: string, publicKey: CheckpointPublicKey): string {
  const { origin, size, root } = openNote(note, [
    noteVerifier(parseCheckpointBody(parseNote(note).body).origin, publicKey),
  ]);
  return [
    `Its signed note (c2sp.org/tlog-checkpoint): the Merkle tree of the first ${size} events, root ${root}:`,
    note.trimEnd(),
    `The log's verifier key, for witnesses and signed-note tools: ${vkeyOf(origin, publicKey)}`,
  ].join('\n');
}
