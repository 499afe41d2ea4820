import { HEX_HASH_PATTERN } from '../chain.ts';
import { hashChildren } from '../tree/hash.ts';
import { ProofError } from '../tree/verify.ts';

interface Remembered {
  left: string;
  right: string;
  parent: string;
}

/**
 * Interior hashes remembered with the two children they were made of. A receipt's proofs are
 * all in one tree, and proofs of neighbouring events share most of their upper nodes: a
 * thousand statements of one session would hash ~40,000 nodes where a few thousand differ.
 * A node is looked up by its place in the tree, but taken only when both children given now
 * are the ones it was made of: H(l ‖ r) is H(l ‖ r) wherever it is met, so the result is the
 * one hashing everything gives, every element of every proof still takes part in reaching the
 * root, and a changed one still fails. Hashes are lower-case hex, the receipt's own form, so a
 * node met before costs two string comparisons and no conversion; a hash is checked to be 64
 * lower-case hex digits when it is first hashed (a pair met before was checked then).
 */
export class NodeMemo {
  /** One map per height, by index at that height: small integer keys. */
  private readonly heights: Map<number, Remembered>[] = [];

  hash(height: number, index: number, left: string, right: string): string {
    const nodes = (this.heights[height] ??= new Map());
    const known = nodes.get(index);
    if (known !== undefined && known.left === left && known.right === right) return known.parent;
    if (!HEX_HASH_PATTERN.test(left)) throw new ProofError(`"${left.slice(0, 70)}" is not 64 lower-case hex digits`);
    if (!HEX_HASH_PATTERN.test(right)) throw new ProofError(`"${right.slice(0, 70)}" is not 64 lower-case hex digits`);
    const parent = hashChildren(Buffer.from(left, 'hex'), Buffer.from(right, 'hex')).toString('hex');
    nodes.set(index, { left, right, parent });
    return parent;
  }
}

const odd = (n: number) => n % 2 === 1;
const half = (n: number) => Math.floor(n / 2);

/**
 * RFC 9162 §2.1.3.2, as rootFromInclusionProof in src/audit/tree/verify.ts, hashing through a
 * NodeMemo: the root the proof leads to (hex), or a ProofError when it has the wrong length or
 * an element is not a hash. `height` counts the halvings, so (fn, height) names the node made.
 */
export function rootThroughMemo(
  index: number,
  size: number,
  leafHash: string,
  proof: readonly string[],
  memo: NodeMemo,
): string {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size)
    throw new ProofError(`leaf index ${index} is not in a tree of size ${size}`);
  let fn = index;
  let sn = size - 1;
  let height = 0;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) throw new ProofError('the proof is longer than a tree of this size needs');
    if (odd(fn) || fn === sn) {
      r = memo.hash(height + 1, half(fn), p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
          height += 1;
        }
      }
    } else {
      r = memo.hash(height + 1, half(fn), r, p);
    }
    fn = half(fn);
    sn = half(sn);
    height += 1;
  }
  if (sn !== 0) throw new ProofError('the proof is shorter than a tree of this size needs');
  return r;
}
