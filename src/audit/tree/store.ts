import { hashLeaf } from './hash.ts';
import { consistencyProof, inclusionProof, treeRoot } from './prove.ts';
import { byStorage, readParts, resolveNodes, TreeUnavailableError, nodeKey, type Queryable } from './read.ts';
import { consistencyShape, inclusionShape, rootShape, type NodeId } from './shape.ts';

export { TreeUnavailableError };

/**
 * Roots and proofs at any size of the log, from `audit_tree` and `audit_events` (see
 * read.ts): one round trip for the head, the stored nodes, the leaves below them and the
 * event proved.
 */
async function lookupAt(db: Queryable, size: number, nodes: readonly NodeId[], seq?: number) {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`a tree size must be a whole number, not ${size}`);
  const parts = await readParts(db, { ...byStorage(nodes), head: true, seq });
  if (size > parts.head)
    throw new TreeUnavailableError(`the audit log holds ${parts.head} events, so size ${size} is past its end`);
  const hashes = await resolveNodes(db, nodes, parts);
  return { lookup: (node: NodeId) => hashes.get(nodeKey(node)) as Buffer, event: parts.event };
}

/** Events in the log: the tree's size now. */
export async function logSize(db: Queryable): Promise<number> {
  return (await readParts(db, { head: true })).head;
}

export async function rootAt(db: Queryable, size: number): Promise<Buffer> {
  const { lookup } = await lookupAt(db, size, size === 0 ? [] : rootShape(size));
  return treeRoot(size, lookup);
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
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(size) || seq < 1 || seq > size)
    throw new RangeError(`seq ${seq} is not in a tree of ${size} events: give a seq from 1 to ${size}`);
  const nodes = [...inclusionShape(seq - 1, size).flat(), ...rootShape(size)];
  const { lookup, event } = await lookupAt(db, size, nodes, seq);
  if (!event)
    throw new TreeUnavailableError(`the audit log has no event with seq ${seq}: run \`gatehouse audit verify\``);
  return {
    seq,
    size,
    ...event,
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
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size1 > size2)
    throw new RangeError(`size1 must be a whole number from 0 to size2 (${size2}), not ${size1}`);
  const nodes = [...consistencyShape(size1, size2).flat(), ...rootShape(size1), ...rootShape(size2)];
  const { lookup } = await lookupAt(db, size2, nodes);
  return {
    size1,
    size2,
    root1: treeRoot(size1, lookup),
    root2: treeRoot(size2, lookup),
    path: consistencyProof(size1, size2, lookup),
  };
}
