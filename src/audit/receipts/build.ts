import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { checkpointToJson } from '../checkpoints/checkpoint.ts';
import { checkpointById, type StoredCheckpoint } from '../checkpoints/store.ts';
import type { AuditEvent } from '../event.ts';
import { inclusionProof, treeRoot } from '../tree/prove.ts';
import { byStorage, nodeKey, readParts, resolveNodes } from '../tree/read.ts';
import { inclusionShape, rootShape, type NodeId } from '../tree/shape.ts';
import { eventsAbout, idsOf } from './links.ts';
import { RECEIPT_FORMAT, RECEIPT_VERSION, type Receipt, type ReceiptCheckpoint } from './receipt.ts';

/** No receipt can be made now: the grant is unknown, or no signed checkpoint covers its events yet. */
export class ReceiptUnavailableError extends Error {}

interface EventRow {
  seq: number | string;
  canonical: string;
  prev_hash: string;
  hash: string;
}

async function scan(db: Db, markers: readonly string[]): Promise<EventRow[]> {
  const { rows } = await sql<EventRow>`
    select seq, canonical, encode(prev_hash, 'hex') as prev_hash, encode(hash, 'hex') as hash from audit_events
     where exists (select 1 from unnest(${markers}::text[]) as m(marker) where strpos(canonical, m.marker) > 0)
     order by seq`.execute(db);
  return rows;
}

/** The newest stored checkpoint, or null. */
async function newestCheckpoint(db: Db): Promise<StoredCheckpoint | null> {
  const newest = await db
    .selectFrom('audit_checkpoints')
    .select('id')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return newest ? checkpointById(db, Number(newest.id)) : null;
}

const subjectMarker = (id: string) => `"subject":${JSON.stringify(id)}`;

/**
 * The grant's events, found by one scan of the log for the texts that name it: the grant id
 * anywhere (its own events, its sessions', its extensions' creation) or one of its requests
 * as subject. The rule of links.ts then keeps only those about the grant. The domain tables
 * only say what to look for; what goes in is decided by the events. A request they did not
 * name (rows pruned, say) costs a second scan.
 */
async function grantEvents(db: Db, grantId: string) {
  const grant = await db
    .selectFrom('grants')
    .select('request_id')
    .where('id', '=', grantId as never)
    .executeTakeFirst();
  const extensions = await db
    .selectFrom('access_requests')
    .select('id')
    .where('extends_grant_id', '=', grantId as never)
    .execute();
  const known = new Set<string>([...(grant ? [grant.request_id] : []), ...extensions.map((e) => e.id)]);
  let rows = await scan(db, [JSON.stringify(grantId), ...[...known].map(subjectMarker)]);
  const parse = (found: EventRow[]) => found.map((row) => ({ row, event: JSON.parse(row.canonical) as AuditEvent }));
  let parsed = parse(rows);
  const ids = idsOf(
    grantId,
    parsed.map((p) => p.event),
  );
  const missed = [ids.request, ...ids.extensions].filter((id): id is string => id !== null && !known.has(id));
  if (missed.length > 0) {
    rows = await scan(db, [JSON.stringify(grantId), ...[...known, ...missed].map(subjectMarker)]);
    parsed = parse(rows);
  }
  const about = new Set(
    eventsAbout(
      grantId,
      parsed.map((p) => p.event),
    ).map((l) => l.event),
  );
  return parsed.filter((p) => about.has(p.event)).map((p) => ({ ...p.row, seq: Number(p.row.seq) }));
}

/** Inclusion proofs of many leaves in one tree of `size`: one round trip for every node they need. */
async function proveAll(db: Db, seqs: readonly number[], size: number) {
  const nodes: NodeId[] = [...rootShape(size), ...seqs.flatMap((seq) => inclusionShape(seq - 1, size).flat())];
  const parts = await readParts(db, { ...byStorage(nodes), head: true });
  if (size > parts.head)
    throw new ReceiptUnavailableError(
      `the audit log holds ${parts.head} events, fewer than its checkpoint's ${size}: run \`gatehouse audit verify\``,
    );
  const hashes = await resolveNodes(db, nodes, parts);
  const lookup = (node: NodeId) => hashes.get(nodeKey(node)) as Buffer;
  return {
    root: treeRoot(size, lookup).toString('hex'),
    paths: seqs.map((seq) => inclusionProof(seq - 1, size, lookup).map((h) => h.toString('hex'))),
  };
}

/**
 * The grant's receipt (docs/merkle.md §13): its events with their proofs in the tree of the
 * newest signed checkpoint, which must cover the last of them. Chain what is queued first
 * (AuditLog.flush) so the newest events are found.
 */
export async function buildReceipt(db: Db, grantId: string): Promise<Receipt> {
  const rows = await grantEvents(db, grantId);
  const last = rows[rows.length - 1];
  if (!last)
    throw new ReceiptUnavailableError(
      `the audit log holds no event about grant ${grantId}: give a grant id (grt_…) as the audit channel or /access shows it`,
    );
  const checkpoint = await newestCheckpoint(db);
  if (!checkpoint || checkpoint.seq < last.seq)
    throw new ReceiptUnavailableError(
      `grant ${grantId}'s newest event is seq ${last.seq}, but the newest signed checkpoint ${checkpoint ? `is of seq ${checkpoint.seq}` : 'does not exist yet'}: a receipt proves against a signed checkpoint. Run \`gatehouse audit checkpoint\` (or wait for the bot's next one), then ask again`,
    );
  const { root, paths } = await proveAll(
    db,
    rows.map((r) => r.seq),
    checkpoint.seq,
  );
  return {
    format: RECEIPT_FORMAT,
    v: RECEIPT_VERSION,
    log_id: checkpoint.logId,
    key_id: checkpoint.keyId,
    grant: grantId,
    size: checkpoint.seq,
    root,
    checkpoint: JSON.parse(checkpointToJson(checkpoint)) as ReceiptCheckpoint,
    note: checkpoint.note,
    events: rows.map((row, i) => ({
      seq: row.seq,
      canonical: row.canonical,
      prev_hash: row.prev_hash,
      hash: row.hash,
      path: paths[i] as string[],
    })),
  };
}
