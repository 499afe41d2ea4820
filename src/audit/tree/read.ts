import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { hashLeaf, rootOfLeafHashes } from './hash.ts';
import type { NodeId } from './shape.ts';

/**
 * `audit_tree` holds the hash of every complete subtree of 2^STORED_LEVEL leaves and up;
 * the levels below are hashed from `audit_events.hash` when needed (at most 2^STORED_LEVEL
 * leaves per edge of a proof). The table is a cache of hashes the events determine: what it
 * lacks is computed from the events, never guessed. Leaf i is the event of seq i + 1, and
 * its leaf data is the event's 32-byte chain hash.
 */
export const STORED_LEVEL = 6;
export const BLOCK = 2 ** STORED_LEVEL;

export type Queryable = Kysely<Database> | Transaction<Database>;

/** The log cannot give a tree: a seq is missing (a tampered log) or the size asked is past its head. */
export class TreeUnavailableError extends Error {}

export const nodeKey = (node: NodeId): string => `${node.level}/${node.index}`;

const leavesOf = (node: NodeId): [number, number] => [node.index * 2 ** node.level, (node.index + 1) * 2 ** node.level];

/** Sorted, overlapping and touching ranges joined, so that each leaf is read once. */
function mergeRanges(ranges: [number, number][]): [number, number][] {
  const merged: [number, number][] = [];
  for (const [from, to] of [...ranges].sort((a, b) => a[0] - b[0])) {
    const last = merged[merged.length - 1];
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  return merged;
}

export interface ReadRequest {
  /** Nodes to look up in `audit_tree`. */
  stored?: readonly NodeId[];
  /** Nodes whose leaves to read, to hash them here. */
  fromLeaves?: readonly NodeId[];
  /** Leaf hashes the caller holds already (the sequencer's batch): not read again. */
  held?: ReadonlyMap<number, Buffer>;
  /** Also read the log's head seq. */
  head?: boolean;
  /** Also read the highest index stored at STORED_LEVEL: where the stored tree ends. */
  top?: boolean;
  /** Also read this event's row. */
  seq?: number;
}

export interface ReadParts {
  head: number;
  /** Leaves covered by stored nodes of the lowest stored level. */
  covered: number;
  stored: Map<string, Buffer>;
  leaves: Map<number, Buffer>;
  event: { canonical: string; prevHash: Buffer; hash: Buffer } | null;
}

interface PartRow {
  kind: 'head' | 'top' | 'node' | 'leaf' | 'event';
  level: number;
  index: string | number;
  hash: Buffer | null;
  canonical: string | null;
  prev_hash: Buffer | null;
}

/**
 * One round trip for all of it, through `audit_tree_read` (migration 0012), whose plan the
 * session keeps. Its lookups go through LATERAL subqueries, so each is a primary key probe
 * or an index range scan whatever the planner thinks of the arrays' sizes.
 */
export async function readParts(db: Queryable, request: ReadRequest): Promise<ReadParts> {
  const stored = request.stored ?? [];
  const held = request.held ?? new Map<number, Buffer>();
  const ranges = mergeRanges(
    (request.fromLeaves ?? []).flatMap((node): [number, number][] => {
      const [from, to] = leavesOf(node);
      // Held leaves are the newest: a range stops where they start.
      let end = to;
      while (end > from && held.has(end - 1)) end -= 1;
      return end > from ? [[from, end]] : [];
    }),
  );
  const { rows } = await sql<PartRow>`
    select * from audit_tree_read(${request.head ?? false}, ${request.top ?? false},
      ${stored.map((n) => n.level)}::smallint[], ${stored.map((n) => n.index)}::bigint[],
      ${ranges.map((r) => r[0])}::bigint[], ${ranges.map((r) => r[1])}::bigint[], ${request.seq ?? 0})
  `.execute(db);
  const parts: ReadParts = { head: 0, covered: 0, stored: new Map(), leaves: new Map(held), event: null };
  for (const row of rows) {
    const hash = row.hash as Buffer;
    if (row.kind === 'head') parts.head = Number(row.index);
    else if (row.kind === 'top') parts.covered = Number(row.index) * BLOCK;
    else if (row.kind === 'node') parts.stored.set(nodeKey({ level: row.level, index: Number(row.index) }), hash);
    else if (row.kind === 'leaf') parts.leaves.set(Number(row.index) - 1, hashLeaf(hash));
    else parts.event = { canonical: row.canonical as string, prevHash: row.prev_hash as Buffer, hash };
  }
  return parts;
}

/** A complete subtree hashed from its leaves; a missing one means a gap in the log. */
export function hashFromLeaves(node: NodeId, leaves: ReadonlyMap<number, Buffer>): Buffer {
  const [from, to] = leavesOf(node);
  const hashes: Buffer[] = [];
  for (let i = from; i < to; i++) {
    const leaf = leaves.get(i);
    if (!leaf)
      throw new TreeUnavailableError(
        `the audit log has no event with seq ${i + 1}, so no tree can be built over it: run \`gatehouse audit verify\``,
      );
    hashes.push(leaf);
  }
  return rootOfLeafHashes(hashes);
}

/**
 * The hashes of `nodes`, from what `parts` read: stored nodes from the table, lower ones from
 * their leaves. A stored node the table lacks (a tree left behind) is hashed from its leaves,
 * read in a second round trip.
 */
export async function resolveNodes(
  db: Queryable,
  nodes: readonly NodeId[],
  parts: ReadParts,
): Promise<Map<string, Buffer>> {
  const hashes = new Map<string, Buffer>();
  const missing: NodeId[] = [];
  for (const node of nodes) {
    const stored = parts.stored.get(nodeKey(node));
    if (stored) hashes.set(nodeKey(node), stored);
    else if (node.level < STORED_LEVEL) hashes.set(nodeKey(node), hashFromLeaves(node, parts.leaves));
    else missing.push(node);
  }
  if (missing.length > 0) {
    const more = await readParts(db, { fromLeaves: missing, held: parts.leaves });
    for (const node of missing) hashes.set(nodeKey(node), hashFromLeaves(node, more.leaves));
  }
  return hashes;
}

/** Splits nodes into those the table holds and those hashed from leaves. */
export function byStorage(nodes: readonly NodeId[]): { stored: NodeId[]; fromLeaves: NodeId[] } {
  const unique = [...new Map(nodes.map((node) => [nodeKey(node), node])).values()];
  return {
    stored: unique.filter((node) => node.level >= STORED_LEVEL),
    fromLeaves: unique.filter((node) => node.level < STORED_LEVEL),
  };
}
