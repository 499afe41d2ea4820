import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { hashChildren, hashLeaf, rootOfLeafHashes } from './hash.ts';
import { consistencyProof, inclusionProof, treeRoot, type NodeLookup } from './prove.ts';
import { consistencyShape, inclusionShape, rootShape, type NodeId } from './shape.ts';

/**
 * `audit_tree` holds the hash of every complete subtree of 2^STORED_LEVEL = 256 leaves and
 * up; the 255 levels' worth below are hashed from `audit_events.hash` when a proof needs them
 * (one index range read of at most 256 rows per leaf a proof touches). The table is a cache
 * of hashes the events determine: whatever it lacks is computed from the events, never guessed.
 * Leaf i is the event of seq i + 1; its leaf data is the event's 32-byte chain hash.
 */
export const STORED_LEVEL = 8;
const BLOCK = 2 ** STORED_LEVEL;

type Queryable = Kysely<Database> | Transaction<Database>;

/** The log cannot give a tree: a seq is missing (a tampered log) or the size asked is past its head. */
export class TreeUnavailableError extends Error {}

const key = (node: NodeId) => `${node.level}/${node.index}`;

/** Leaf hashes of leaves [from, to): the events of seq from+1 … to, refusing a gap. */
async function readLeafHashes(db: Queryable, ranges: [number, number][]): Promise<Map<number, Buffer>> {
  const leaves = new Map<number, Buffer>();
  if (ranges.length === 0) return leaves;
  const { rows } = await sql<{ seq: number; hash: Buffer }>`
    select e.seq, e.hash
    from unnest(${ranges.map((r) => r[0])}::bigint[], ${ranges.map((r) => r[1])}::bigint[]) as r(lo, hi)
    join audit_events e on e.seq > r.lo and e.seq <= r.hi
  `.execute(db);
  for (const row of rows) leaves.set(row.seq - 1, hashLeaf(row.hash));
  for (const [from, to] of ranges)
    for (let i = from; i < to; i++)
      if (!leaves.has(i))
        throw new TreeUnavailableError(
          `the audit log has no event with seq ${i + 1}, so no tree can be built over it: run \`gatehouse audit verify\``,
        );
  return leaves;
}

/** Sorted, overlapping ranges joined: each leaf is read once. */
function mergeRanges(ranges: [number, number][]): [number, number][] {
  const merged: [number, number][] = [];
  for (const [from, to] of [...ranges].sort((a, b) => a[0] - b[0])) {
    const last = merged[merged.length - 1];
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  return merged;
}

/**
 * The hashes of these complete subtrees: stored ones from `audit_tree` (one query), the
 * rest from their leaves (one query). `leavesHeld` are leaf hashes the caller has already.
 */
export async function nodeHashes(
  db: Queryable,
  nodes: readonly NodeId[],
  leavesHeld: ReadonlyMap<number, Buffer> = new Map(),
): Promise<Map<string, Buffer>> {
  const hashes = new Map<string, Buffer>();
  const unique = [...new Map(nodes.map((node) => [key(node), node])).values()];
  const stored = unique.filter((node) => node.level >= STORED_LEVEL);
  if (stored.length > 0) {
    const { rows } = await sql<{ level: number; index: number; hash: Buffer }>`
      select t.level, t.index, t.hash
      from unnest(${stored.map((n) => n.level)}::smallint[], ${stored.map((n) => n.index)}::bigint[]) as w(level, index)
      join audit_tree t on t.level = w.level and t.index = w.index
    `.execute(db);
    for (const row of rows) hashes.set(key(row), row.hash);
  }
  const fromLeaves = unique.filter((node) => !hashes.has(key(node)));
  const ranges = fromLeaves
    .map((node): [number, number] => [node.index * 2 ** node.level, (node.index + 1) * 2 ** node.level])
    .flatMap(([from, to]): [number, number][] => {
      // Leaves the caller holds are not read again; a range is cut where they start.
      let end = to;
      while (end > from && leavesHeld.has(end - 1)) end -= 1;
      return end > from ? [[from, end]] : [];
    });
  const read = await readLeafHashes(db, mergeRanges(ranges));
  const leaf = (i: number) => (read.get(i) ?? leavesHeld.get(i)) as Buffer;
  for (const node of fromLeaves) {
    const from = node.index * 2 ** node.level;
    hashes.set(key(node), rootOfLeafHashes(Array.from({ length: 2 ** node.level }, (_, i) => leaf(from + i))));
  }
  return hashes;
}

async function lookupFor(db: Queryable, nodes: readonly NodeId[]): Promise<NodeLookup> {
  const hashes = await nodeHashes(db, nodes);
  return (node) => hashes.get(key(node)) as Buffer;
}

/**
 * The sequencer's hook, inside its batch transaction: the events of seq firstSeq … firstSeq
 * + n − 1 were just inserted with these hashes. Writes every stored subtree they complete,
 * starting where the table ends (so a tree left behind, by a replica of an older version,
 * say, catches up here). Costs nothing until a batch crosses a multiple of 256 events.
 */
export async function extendTree(
  trx: Transaction<Database>,
  firstSeq: number,
  hashes: readonly Buffer[],
): Promise<void> {
  const start = firstSeq - 1;
  const end = start + hashes.length;
  if (Math.floor(end / BLOCK) === Math.floor(start / BLOCK)) return;
  const top = await sql<{ index: number | null }>`
    select max(index) as index from audit_tree where level = ${STORED_LEVEL}
  `.execute(trx);
  const covered = top.rows[0]?.index == null ? 0 : (Number(top.rows[0].index) + 1) * BLOCK;
  const held = new Map<number, Buffer>(hashes.map((hash, i) => [start + i, hashLeaf(hash)]));
  const nodes = completedNodes(covered, end);
  if (nodes.length === 0) return;
  // Each new node is hashed from its children; a left child made before this batch is read.
  const leftovers = nodes.flatMap((node) => {
    if (node.level === STORED_LEVEL) return [];
    const left = { level: node.level - 1, index: node.index * 2 };
    return (left.index + 1) * 2 ** left.level <= covered ? [left] : [];
  });
  const blocks = nodes.filter((node) => node.level === STORED_LEVEL);
  const known = await nodeHashes(trx, [...leftovers, ...blocks], held);
  for (const node of nodes) {
    if (node.level === STORED_LEVEL) continue;
    const left = known.get(key({ level: node.level - 1, index: node.index * 2 })) as Buffer;
    const right = known.get(key({ level: node.level - 1, index: node.index * 2 + 1 })) as Buffer;
    known.set(key(node), hashChildren(left, right));
  }
  await sql`
    insert into audit_tree (level, index, hash)
    select * from unnest(${nodes.map((n) => n.level)}::smallint[], ${nodes.map((n) => n.index)}::bigint[], ${nodes.map((n) => known.get(key(n)) as Buffer)}::bytea[])
    on conflict (level, index) do nothing
  `.execute(trx);
}

/** Stored subtrees whose last leaf is in [from, to) (from a multiple of 256), lowest level first. */
export function completedNodes(from: number, to: number): NodeId[] {
  const nodes: NodeId[] = [];
  for (let level = STORED_LEVEL; ; level++) {
    const width = 2 ** level;
    const first = Math.floor(from / width);
    const last = Math.floor(to / width);
    if (last <= first) return nodes;
    for (let index = first; index < last; index++) nodes.push({ level, index });
  }
}

/** Events in the log: the tree's size now. */
export async function logSize(db: Queryable): Promise<number> {
  const head = await db.selectFrom('audit_events').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return head?.seq ?? 0;
}

async function checkSize(db: Queryable, size: number, what: string): Promise<void> {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`${what} must be a whole number, not ${size}`);
  const head = await logSize(db);
  if (size > head)
    throw new TreeUnavailableError(`the audit log holds ${head} events, so ${what} ${size} is past its end`);
}

export async function rootAt(db: Queryable, size: number): Promise<Buffer> {
  await checkSize(db, size, 'size');
  return treeRoot(size, await lookupFor(db, size === 0 ? [] : rootShape(size)));
}

export interface InclusionProof {
  seq: number;
  size: number;
  /** The event, so a verifier hashes it: leaf data = SHA-256(prev_hash ‖ canonical). */
  canonical: string;
  prevHash: Buffer;
  hash: Buffer;
  leafHash: Buffer;
  root: Buffer;
  path: Buffer[];
}

/** Proof that the event of `seq` is leaf seq − 1 of the tree of the first `size` events. */
export async function proveInclusion(db: Queryable, seq: number, size: number): Promise<InclusionProof> {
  await checkSize(db, size, 'size');
  if (!Number.isSafeInteger(seq) || seq < 1 || seq > size)
    throw new RangeError(`seq ${seq} is not in a tree of ${size} events: give a seq from 1 to ${size}`);
  const shape = inclusionShape(seq - 1, size);
  const root = size === 0 ? [] : rootShape(size);
  const lookup = await lookupFor(db, [...shape.flat(), ...root]);
  const event = await db
    .selectFrom('audit_events')
    .select(['canonical', 'prev_hash', 'hash'])
    .where('seq', '=', seq)
    .executeTakeFirstOrThrow();
  return {
    seq,
    size,
    canonical: event.canonical,
    prevHash: event.prev_hash,
    hash: event.hash,
    leafHash: hashLeaf(event.hash),
    root: treeRoot(size, lookup),
    path: inclusionProof(seq - 1, size, lookup),
  };
}

export interface ConsistencyProof {
  size1: number;
  size2: number;
  root1: Buffer;
  root2: Buffer;
  path: Buffer[];
}

/** Proof that the tree of the first `size2` events extends the one of the first `size1`. */
export async function proveConsistency(db: Queryable, size1: number, size2: number): Promise<ConsistencyProof> {
  await checkSize(db, size2, 'size2');
  if (!Number.isSafeInteger(size1) || size1 < 0 || size1 > size2)
    throw new RangeError(`size1 must be a whole number from 0 to size2 (${size2}), not ${size1}`);
  const nodes = [...consistencyShape(size1, size2).flat(), ...rootShape(size1), ...rootShape(size2)];
  const lookup = await lookupFor(db, nodes);
  return {
    size1,
    size2,
    root1: treeRoot(size1, lookup),
    root2: treeRoot(size2, lookup),
    path: consistencyProof(size1, size2, lookup),
  };
}
