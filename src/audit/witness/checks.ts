import type pg from 'pg';
import { NoteError, openSignedNote, parseCheckpointBody, type NoteVerifier } from '../checkpoints/note.ts';

/** One witness's standing in `audit verify --witness` (docs/merkle.md §12.3). */
export interface WitnessStanding {
  name: string;
  keyId: string;
  /** Valid cosignatures found. */
  cosignatures: number;
  /** The largest tree it cosigned, or null when it cosigned none. */
  newest: { checkpointId: number; size: number; root: string; time: number } | null;
}

export interface WitnessCheckResult {
  ok: boolean;
  required: number;
  /** Events every one of `required` witnesses has cosigned a tree of, at least; 0 when fewer cosigned. */
  witnessedSize: number;
  witnesses: WitnessStanding[];
  problems: string[];
}

interface CosignatureRow {
  checkpoint_id: string | number;
  witness: string;
  key_id: string;
  body: string;
  line: string;
}

/**
 * Checks the cosignatures of the witnesses given (their type 0x04 vkeys): each valid over
 * the body it names, of the log's origin, and of the tree the log holds (`rootOf` gives the
 * root at a size, recomputed from the tree store): a cosigned root the log no longer has is
 * a log that showed another history, caught. Two cosigned roots of one size that differ
 * are reported as such. Then at least `required` witnesses must have cosigned: the
 * witnessed size is the `required`-th largest of the sizes each cosigned.
 */
export async function checkWitnesses(
  pool: pg.Pool,
  options: {
    witnesses: readonly NoteVerifier[];
    required: number;
    origin: string | null;
    rootOf: (size: number) => Promise<string | null>;
  },
): Promise<WitnessCheckResult> {
  const { witnesses, required, origin, rootOf } = options;
  const problems: string[] = [];
  const { rows } = await pool.query<CosignatureRow>(
    'select checkpoint_id, witness, key_id, body, line from audit_cosignatures where witness = any($1) order by id',
    [witnesses.map((w) => w.name)],
  );
  const rootsBySize = new Map<number, { root: string; by: string }>();
  const standings: WitnessStanding[] = [];
  for (const verifier of witnesses) {
    const standing: WitnessStanding = { name: verifier.name, keyId: verifier.keyId, cosignatures: 0, newest: null };
    standings.push(standing);
    for (const row of rows.filter((r) => r.witness === verifier.name && r.key_id === verifier.keyId)) {
      const where = `witness ${verifier.name}'s cosignature of checkpoint #${row.checkpoint_id}`;
      let opened;
      try {
        opened = openSignedNote(`${row.body}\n${row.line}\n`, [verifier]);
      } catch (err) {
        if (!(err instanceof NoteError)) throw err;
        problems.push(`${where} does not hold: ${err.message}`);
        continue;
      }
      const body = parseCheckpointBody(opened.body);
      if (origin !== null && body.origin !== origin) {
        problems.push(`${where} is of log ${body.origin}, not ${origin}`);
        continue;
      }
      const seen = rootsBySize.get(body.size);
      if (seen && seen.root !== body.root)
        problems.push(
          `${where} signs root ${body.root} for ${body.size} events, where ${seen.by} signed ${seen.root}: the log showed two histories`,
        );
      rootsBySize.set(body.size, seen ?? { root: body.root, by: verifier.name });
      const root = await rootOf(body.size);
      if (root !== body.root) {
        problems.push(
          `${where} vouches for root ${body.root} of the first ${body.size} events, but the log's tree has ${root ?? 'no such tree (events are missing)'}: the log was rewritten after the witness saw it, or showed it another history`,
        );
        continue;
      }
      standing.cosignatures++;
      if (!standing.newest || body.size >= standing.newest.size)
        standing.newest = {
          checkpointId: Number(row.checkpoint_id),
          size: body.size,
          root: body.root,
          time: opened.verified[0]!.time!,
        };
    }
  }
  const sizes = standings
    .map((s) => s.newest?.size)
    .filter((size): size is number => size !== undefined)
    .sort((a, b) => b - a);
  const witnessedSize = sizes.length >= required ? (sizes[required - 1] ?? 0) : 0;
  const ok = problems.length === 0 && sizes.length >= required;
  return { ok, required, witnessedSize, witnesses: standings, problems };
}

/** The lines `audit verify` prints for the witnesses. */
export function formatWitnessCheck(result: WitnessCheckResult, headSeq: number | null): string[] {
  const signed = result.witnesses.filter((w) => w.newest);
  const missing = result.witnesses.filter((w) => !w.newest);
  const lines: string[] = [];
  const names = (list: WitnessStanding[]) => list.map((w) => w.name).join(', ');
  if (result.ok) {
    const behind =
      headSeq !== null && headSeq > result.witnessedSize
        ? `; the ${headSeq - result.witnessedSize} newer event(s) are not witnessed yet`
        : '';
    lines.push(
      `✔ witnesses: ${signed.length} of ${result.witnesses.length} cosigned (${result.required} required); every event up to seq ${result.witnessedSize} is cosigned by ${result.required} or more${behind}.`,
    );
  } else {
    lines.push(
      signed.length < result.required
        ? `✘ witnesses: ${signed.length} of ${result.witnesses.length} cosigned, ${result.required} required.`
        : `✘ witnesses: cosignatures do NOT match the log.`,
    );
  }
  for (const w of signed)
    lines.push(
      `  ✔ ${w.name} (${w.keyId}): newest cosigned ${w.newest!.size} events, checkpoint #${w.newest!.checkpointId}, at ${new Date(w.newest!.time * 1000).toISOString()}.`,
    );
  if (missing.length > 0) lines.push(`  ✘ missing: ${names(missing)} (no valid cosignature of this log).`);
  for (const problem of result.problems.slice(0, 10)) lines.push(`  ✘ ${problem}`);
  return lines;
}
