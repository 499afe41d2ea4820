/**
 * Which subtrees an RFC 6962 proof is made of, before any hash is known: the store fetches
 * exactly these, and the tests build them from a plain list.
 *
 * A node is a complete subtree: `level` L, `index` k covers leaves [k·2^L, (k+1)·2^L).
 * A proof element is the hash of a run of leaves [lo, hi); at the right edge of a tree that
 * is not a power of two that run is several complete subtrees, folded from the right.
 */
export interface NodeId {
  level: number;
  index: number;
}

/** One proof element: its complete subtrees, largest (leftmost) first. */
export type Element = NodeId[];

/** Largest power of two strictly below n (n ≥ 2): where RFC 6962 splits a tree of n leaves. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The complete subtrees whose fold is MTH(leaves[lo:hi]). Every run a proof names starts at
 * a multiple of the power of two at or above its length, so the greedy cut is the RFC's split.
 */
export function rangeNodes(lo: number, hi: number): Element {
  const nodes: Element = [];
  while (lo < hi) {
    let size = 1;
    while (lo % (size * 2) === 0 && lo + size * 2 <= hi) size *= 2;
    nodes.push({ level: Math.log2(size), index: lo / size });
    lo += size;
  }
  return nodes;
}

function checkSize(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`${name} must be a whole number ≥ 0, not ${value}`);
}

/** RFC 6962 §2.1.1 PATH(index, D[0:size]): the audit path, the leaf's sibling first. */
export function inclusionShape(index: number, size: number): Element[] {
  checkSize('index', index);
  checkSize('size', size);
  if (index >= size) throw new RangeError(`leaf ${index} is not in a tree of ${size} leaves`);
  const path: Element[] = [];
  const walk = (m: number, lo: number, hi: number): void => {
    if (hi - lo <= 1) return;
    const k = splitPoint(hi - lo);
    if (m < k) {
      walk(m, lo, lo + k);
      path.push(rangeNodes(lo + k, hi));
    } else {
      walk(m - k, lo + k, hi);
      path.push(rangeNodes(lo, lo + k));
    }
  };
  walk(index, 0, size);
  return path;
}

/** RFC 6962 §2.1.2 PROOF(size1, D[0:size2]); empty when size1 is 0 or equals size2. */
export function consistencyShape(size1: number, size2: number): Element[] {
  checkSize('size1', size1);
  checkSize('size2', size2);
  if (size1 > size2) throw new RangeError(`a tree of ${size1} leaves cannot be a prefix of one of ${size2}`);
  const proof: Element[] = [];
  if (size1 === 0 || size1 === size2) return proof;
  const sub = (m: number, lo: number, hi: number, whole: boolean): void => {
    if (m === hi - lo) {
      if (!whole) proof.push(rangeNodes(lo, hi));
      return;
    }
    const k = splitPoint(hi - lo);
    if (m <= k) {
      sub(m, lo, lo + k, whole);
      proof.push(rangeNodes(lo + k, hi));
    } else {
      sub(m - k, lo + k, hi, false);
      proof.push(rangeNodes(lo, lo + k));
    }
  };
  sub(size1, 0, size2, true);
  return proof;
}

/** The subtrees whose fold is the root of a tree of `size` leaves. */
export function rootShape(size: number): Element {
  checkSize('size', size);
  return rangeNodes(0, size);
}
