import { EMPTY_ROOT, foldRight, hashChildren, hashLeaf } from './hash.ts';

/**
 * The RFC 6962 tree of a stream of leaves, kept as its compact range: the roots of the
 * perfect subtrees the leaves so far make, one per one-bit of the size, largest (leftmost)
 * first. Memory is O(log n) hashes, and each leaf costs one leaf hash and, amortised, one
 * node hash. The root at the current size is those subtrees folded from the right
 * (docs/merkle.md §4), as `treeRoot` computes it from the stored tree. `verify-file` feeds
 * it the events as it checks them, to know the roots the checkpoints' notes sign.
 */
export class CompactRange {
  private readonly stack: Buffer[] = [];
  private count = 0;

  /** Leaves added so far: the tree's size. */
  get size(): number {
    return this.count;
  }

  /** Adds the next leaf; `leafData` is an event's 32-byte chain hash (docs/merkle.md §1). */
  push(leafData: Uint8Array): void {
    let hash = hashLeaf(leafData);
    // Leaf i completes one perfect subtree for each trailing one-bit of i.
    for (let n = this.count; n % 2 === 1; n = Math.floor(n / 2)) hash = hashChildren(this.stack.pop()!, hash);
    this.stack.push(hash);
    this.count += 1;
  }

  /** MTH of the leaves so far; SHA-256 of nothing for none. */
  root(): Buffer {
    return this.count === 0 ? EMPTY_ROOT : foldRight(this.stack);
  }
}
