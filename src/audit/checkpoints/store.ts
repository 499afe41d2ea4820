import { sql, type Kysely, type Transaction } from 'kysely';
import type pg from 'pg';
import type { Database } from '../../db/schema.ts';
import type { Anchor } from './anchors.ts';
import { checkpointSignedBy, encodeCheckpointMessage, signCheckpoint, type Checkpoint } from './checkpoint.ts';
import type { CheckpointKey } from './keys.ts';
import { checkpointNoteBody, defaultOrigin, parseCheckpointBody, parseNote, signNote } from './note.ts';
import { rootAt, TreeUnavailableError } from '../tree/store.ts';

/** Advisory lock key held while a checkpoint is made, so replicas take turns: "chkp". */
export const CHECKPOINT_LOCK_KEY = 0x6368_6b70;

/** A checkpoint as the database holds it: its row id and the exact text that was signed. */
export interface StoredCheckpoint extends Checkpoint {
  id: number;
  message: string;
  /**
   * The signed note (c2sp.org/tlog-checkpoint) of the Merkle tree of the first `seq` events,
   * exactly as signed: origin, size (= seq), base64 root, blank line, the log's signature
   * line (docs/merkle.md §11). Null for checkpoints made before migration 0013.
   */
  note: string | null;
  /** The note's root hash, 64 lower-case hex digits; null without a note. */
  root: string | null;
}

/** The signer will not vouch for a log that does not extend its newest checkpoint: tampering, most likely. */
export class CheckpointRefusedError extends Error {}

export interface MakeCheckpointOptions {
  /** Sign nothing, and return null, when the newest checkpoint already covers the head. */
  skipIfUnchanged?: boolean;
  /**
   * The newest checkpoint published outside the database (the anchor file's last line, the
   * audit channel's last post). The signer refuses if the database no longer holds it or the
   * log no longer extends it: someone deleted events together with their checkpoints.
   */
  lastAnchor?: Anchor | null;
  /**
   * Runs inside the transaction that stores the checkpoint, after the insert: queue its
   * publication (an outbox row) here and the two commit together.
   */
  inTransaction?: (trx: Transaction<Database>, checkpoint: StoredCheckpoint) => Promise<void>;
  /** The note's origin and key name (GATEHOUSE_CHECKPOINT_ORIGIN); unset: gatehouse.local/<log id>. */
  origin?: string | undefined;
}

const TIME_TEXT = `to_char(time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const COLUMNS = `id, log_id, seq, encode(hash, 'hex') as hash, ${TIME_TEXT} as time, key_id,
  encode(signature, 'hex') as signature, encode(previous_signature, 'hex') as previous, message, note`;

interface CheckpointRow {
  id: number | string;
  log_id: string;
  seq: number | string;
  hash: string;
  time: string;
  key_id: string;
  signature: string;
  previous: string | null;
  message: string;
  note: string | null;
}

/** The root a stored note signs, or null when there is no note or it cannot be read (verify says why). */
function noteRoot(note: string | null): string | null {
  if (note === null) return null;
  try {
    return parseCheckpointBody(parseNote(note).body).root;
  } catch {
    return null;
  }
}

function fromRow(row: CheckpointRow): StoredCheckpoint {
  return {
    id: Number(row.id),
    logId: row.log_id,
    seq: Number(row.seq),
    hash: row.hash,
    time: row.time,
    keyId: row.key_id,
    signature: row.signature,
    previous: row.previous,
    message: row.message,
    note: row.note,
    root: noteRoot(row.note),
  };
}

/**
 * Signs the log's head now and stores the checkpoint; null when the log is empty (or
 * unchanged, with `skipIfUnchanged`). Replicas take turns on an advisory lock and read the
 * newest checkpoint after taking it, in a separate statement under READ COMMITTED, so each
 * checkpoint names the one committed before it; the unique constraints on
 * previous_signature are the backstop against a fork. Refuses (CheckpointRefusedError)
 * when the log no longer holds the head of the newest checkpoint (or of `lastAnchor`), or
 * that checkpoint is not this key's: signing then would vouch for a tampered log.
 */
export async function makeCheckpoint(
  db: Kysely<Database>,
  key: CheckpointKey,
  options: MakeCheckpointOptions = {},
): Promise<StoredCheckpoint | null> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${CHECKPOINT_LOCK_KEY})`.execute(trx);
    const logId = await readLogId(trx);
    const head = await trx
      .selectFrom('audit_events')
      .select(['seq', 'hash'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!head) return null;
    const latest = (
      await sql<CheckpointRow>`select ${sql.raw(COLUMNS)} from audit_checkpoints order by id desc limit 1`.execute(trx)
    ).rows[0];
    const previous = latest ? fromRow(latest) : null;
    const context = { logId, key, head };
    if (options.lastAnchor) {
      const { checkpoint, source } = options.lastAnchor;
      await refuseUnlessExtended(
        trx,
        checkpoint,
        `the newest anchor (${source}: seq ${checkpoint.seq}, ${checkpoint.time})`,
        context,
      );
      const held = await trx
        .selectFrom('audit_checkpoints')
        .select('id')
        .where('signature', '=', Buffer.from(checkpoint.signature, 'hex'))
        .executeTakeFirst();
      if (!held) {
        throw new CheckpointRefusedError(
          `the newest anchor (${source}: seq ${checkpoint.seq}, ${checkpoint.time}) is not among the database's checkpoints: checkpoint rows were deleted. ${CHECK}`,
        );
      }
    }
    if (previous) {
      await refuseUnlessExtended(
        trx,
        previous,
        `the newest checkpoint (#${previous.id}, seq ${previous.seq}, ${previous.time})`,
        context,
      );
      if (options.skipIfUnchanged && previous.seq === head.seq) return null;
    }
    const clock = await sql<{
      time: string;
    }>`select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as time`.execute(trx);
    const checkpoint = signCheckpoint(
      {
        logId,
        seq: head.seq,
        hash: head.hash.toString('hex'),
        time: clock.rows[0]!.time,
        previous: previous?.signature ?? null,
      },
      key,
    );
    const message = encodeCheckpointMessage(checkpoint);
    const note = await signTreeNote(trx, key, options.origin ?? defaultOrigin(logId), head.seq);
    const inserted = await trx
      .insertInto('audit_checkpoints')
      .values({
        log_id: checkpoint.logId,
        seq: checkpoint.seq,
        hash: head.hash,
        time: checkpoint.time,
        key_id: checkpoint.keyId,
        signature: Buffer.from(checkpoint.signature, 'hex'),
        previous_signature: checkpoint.previous === null ? null : Buffer.from(checkpoint.previous, 'hex'),
        message,
        note: note.text,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const stored: StoredCheckpoint = {
      ...checkpoint,
      id: Number(inserted.id),
      message,
      note: note.text,
      root: note.root,
    };
    await options.inTransaction?.(trx, stored);
    return stored;
  });
}

/**
 * The signed note of the tree of the first `size` events. A log the tree cannot be built over
 * (a seq missing) is refused: it was tampered with.
 */
async function signTreeNote(
  trx: Transaction<Database>,
  key: CheckpointKey,
  origin: string,
  size: number,
): Promise<{ text: string; root: string }> {
  let root: Buffer;
  try {
    root = await rootAt(trx, size);
  } catch (err) {
    if (err instanceof TreeUnavailableError)
      throw new CheckpointRefusedError(
        `the Merkle tree of the first ${size} events cannot be built: ${err.message}. ${CHECK}`,
      );
    throw err;
  }
  const body = checkpointNoteBody({ origin, size, root });
  return { text: signNote(body, { name: origin, key }), root: root.toString('hex') };
}

const CHECK = 'Not signing: run `gatehouse audit verify` with the public key and the anchors to see what changed.';

/** Throws unless `previous` (described by `what`) is this log's, this key's, and still held by the log. */
async function refuseUnlessExtended(
  trx: Transaction<Database>,
  previous: Checkpoint,
  what: string,
  { logId, key, head }: { logId: string; key: CheckpointKey; head: { seq: number } },
): Promise<void> {
  if (previous.logId !== logId) {
    throw new CheckpointRefusedError(
      `${what} names log ${previous.logId}, but this database's log is ${logId}. ${CHECK}`,
    );
  }
  if (!checkpointSignedBy(previous, key.publicKey)) {
    throw new CheckpointRefusedError(
      `${what} is not signed by this key (key id ${key.publicKey.keyId}; it names key ${previous.keyId}). It was forged, or the key was replaced; Gatehouse does not rotate checkpoint keys. ${CHECK}`,
    );
  }
  if (head.seq < previous.seq) {
    throw new CheckpointRefusedError(
      `the log's head is seq ${head.seq}, behind ${what}: events were deleted. ${CHECK}`,
    );
  }
  const at = await trx.selectFrom('audit_events').select('hash').where('seq', '=', previous.seq).executeTakeFirst();
  if (at?.hash.toString('hex') !== previous.hash) {
    throw new CheckpointRefusedError(
      `the event at seq ${previous.seq} no longer has the hash ${what} signed: the log was rewritten. ${CHECK}`,
    );
  }
}

/** Every stored checkpoint, oldest first. */
export async function listCheckpoints(pool: pg.Pool | pg.PoolClient): Promise<StoredCheckpoint[]> {
  const { rows } = await pool.query<CheckpointRow>(`select ${COLUMNS} from audit_checkpoints order by id`);
  return rows.map(fromRow);
}

/** The stored checkpoint with this row id, or null. */
export async function checkpointById(db: Kysely<Database>, id: number): Promise<StoredCheckpoint | null> {
  const { rows } = await sql<CheckpointRow>`select ${sql.raw(COLUMNS)} from audit_checkpoints where id = ${id}`.execute(
    db,
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

/** The newest stored checkpoint, or null. */
export async function latestCheckpoint(pool: pg.Pool | pg.PoolClient): Promise<StoredCheckpoint | null> {
  const { rows } = await pool.query<CheckpointRow>(`select ${COLUMNS} from audit_checkpoints order by id desc limit 1`);
  return rows[0] ? fromRow(rows[0]) : null;
}

/** The log's id, created by the first migration. */
export async function readLogId(db: Kysely<Database> | pg.Pool | pg.PoolClient): Promise<string> {
  let value: string | undefined;
  if ('selectFrom' in db) {
    value = (await db.selectFrom('gatehouse_meta').select('value').where('key', '=', 'log_id').executeTakeFirst())
      ?.value;
  } else {
    value = (await db.query<{ value: string }>(`select value from gatehouse_meta where key = 'log_id'`)).rows[0]?.value;
  }
  if (!value) throw new Error('gatehouse_meta has no log_id: the schema is incomplete. Run `gatehouse migrate`.');
  return value;
}

/** The newest checkpoint that carries a signed note, or null. */
export async function latestNotedCheckpoint(pool: pg.Pool | pg.PoolClient): Promise<StoredCheckpoint | null> {
  const { rows } = await pool.query<CheckpointRow>(
    `select ${COLUMNS} from audit_checkpoints where note is not null order by id desc limit 1`,
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

/** The signed note of the tree of the first `size` events, when a checkpoint of that seq carries one. */
export async function checkpointNoteAt(pool: pg.Pool | pg.PoolClient, size: number): Promise<string | null> {
  const { rows } = await pool.query<{ note: string }>(
    'select note from audit_checkpoints where seq = $1 and note is not null order by id desc limit 1',
    [size],
  );
  return rows[0]?.note ?? null;
}
