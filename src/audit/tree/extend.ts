import { sql, type Transaction } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { hashChildren, hashLeaf } from './hash.ts';
import { BLOCK, byStorage, nodeKey, readParts, resolveNodes, STORED_LEVEL } from './read.ts';
import type { NodeId } from './shape.ts';

/** Stored subtrees whose last leaf is in [from, to) (from a multiple of BLOCK), lowest level first. */
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

/** What hashing the nodes completed in leaves [covered, end) needs: left children made before, and the new blocks' leaves. */
function inputsFor(covered: number, end: number): { nodes: NodeId[]; needed: NodeId[] } {
  const nodes = completedNodes(covered, end);
  const needed = nodes.flatMap((node) => {
    if (node.level === STORED_LEVEL) return [node];
    const left = { level: node.level - 1, index: node.index * 2 };
    return (left.index + 1) * 2 ** left.level <= covered ? [left] : [];
  });
  return { nodes, needed };
}

/** Whether chaining seq firstSeq … firstSeq + count − 1 completes a stored block (so extendTree has work). */
export function completesBlock(firstSeq: number, count: number): boolean {
  const start = firstSeq - 1;
  return Math.floor((start + count) / BLOCK) !== Math.floor(start / BLOCK);
}

/**
 * The sequencer's hook, inside its batch transaction: the events of seq firstSeq … firstSeq
 * + n − 1 were just inserted with these hashes. Writes every stored subtree they complete.
 * Costs nothing until a batch crosses a multiple of BLOCK events, then one read and one
 * insert. The read also says where the stored tree ends; when that is not where this batch
 * expects (a tree left behind by a replica of an older version, say), it starts from there,
 * so the tree catches up.
 */
export async function extendTree(
  trx: Transaction<Database>,
  firstSeq: number,
  hashes: readonly Buffer[],
): Promise<void> {
  if (!completesBlock(firstSeq, hashes.length)) return;
  const start = firstSeq - 1;
  const end = start + hashes.length;
  const held = new Map<number, Buffer>(hashes.map((hash, i) => [start + i, hashLeaf(hash)]));
  const expected = Math.floor(start / BLOCK) * BLOCK;
  let plan = inputsFor(expected, end);
  let parts = await readParts(trx, { ...byStorage(plan.needed), held, top: true });
  if (parts.covered !== expected) {
    plan = inputsFor(parts.covered, end);
    if (plan.nodes.length === 0) return;
    parts = await readParts(trx, { ...byStorage(plan.needed), held });
  }
  const known = await resolveNodes(trx, plan.needed, parts);
  for (const node of plan.nodes) {
    if (node.level === STORED_LEVEL) continue;
    const left = known.get(nodeKey({ level: node.level - 1, index: node.index * 2 })) as Buffer;
    const right = known.get(nodeKey({ level: node.level - 1, index: node.index * 2 + 1 })) as Buffer;
    known.set(nodeKey(node), hashChildren(left, right));
  }
  const { nodes } = plan;
  await sql`
    insert into audit_tree (level, index, hash)
    select * from unnest(${nodes.map((n) => n.level)}::smallint[], ${nodes.map((n) => n.index)}::bigint[], ${nodes.map((n) => known.get(nodeKey(n)) as Buffer)}::bytea[])
    on conflict (level, index) do nothing
  `.execute(trx);
}
