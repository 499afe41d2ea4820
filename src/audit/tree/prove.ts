import { EMPTY_ROOT, foldRight, rootOfLeafHashes } from './hash.ts';
import { consistencyShape, inclusionShape, rootShape, type Element, type NodeId } from './shape.ts';

/** The hash of a complete subtree. The store answers from its table and the leaves; tests from a list. */
export type NodeLookup = (node: NodeId) => Uint8Array;

function elementHashes(elements: readonly Element[], lookup: NodeLookup): Buffer[] {
  return elements.map((element) => foldRight(element.map(lookup)));
}

export function treeRoot(size: number, lookup: NodeLookup): Buffer {
  return size === 0 ? EMPTY_ROOT : foldRight(rootShape(size).map(lookup));
}

export function inclusionProof(index: number, size: number, lookup: NodeLookup): Buffer[] {
  return elementHashes(inclusionShape(index, size), lookup);
}

export function consistencyProof(size1: number, size2: number, lookup: NodeLookup): Buffer[] {
  return elementHashes(consistencyShape(size1, size2), lookup);
}

/** A lookup over leaf hashes held in memory, leaf 0 at `leafHashes[0]`: each node hashed from its leaves. */
export function lookupInLeaves(leafHashes: readonly Uint8Array[]): NodeLookup {
  return ({ level, index }) => {
    const width = 2 ** level;
    const leaves = leafHashes.slice(index * width, (index + 1) * width);
    if (leaves.length !== width) throw new RangeError(`node ${level}/${index} is past the leaves held`);
    return rootOfLeafHashes(leaves);
  };
}
