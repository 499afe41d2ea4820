import { sha256 } from '../chain.ts';

/** RFC 6962 §2.1 with SHA-256: every hash in the tree is 32 bytes. */
export const HASH_SIZE = 32;

/** The root of the empty tree: SHA-256 of no bytes. */
export const EMPTY_ROOT: Buffer = sha256(Buffer.alloc(0));

/** Leaf hash: SHA-256(0x00 ‖ data). The prefix keeps a leaf from passing for an interior node. */
export function hashLeaf(data: Uint8Array): Buffer {
  const input = Buffer.allocUnsafe(1 + data.length);
  input[0] = 0x00;
  input.set(data, 1);
  return sha256(input);
}

/** Interior node: SHA-256(0x01 ‖ left ‖ right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  const input = Buffer.allocUnsafe(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return sha256(input);
}

/**
 * MTH of a list of leaf hashes (RFC 6962 §2.1), in one pass: complete subtrees are merged
 * as they fill, then the ones left (largest first) are folded from the right, which is the
 * shape the RFC's split at the largest power of two below n gives.
 */
export function rootOfLeafHashes(leafHashes: readonly Uint8Array[]): Buffer {
  if (leafHashes.length === 0) return EMPTY_ROOT;
  const stack: Uint8Array[] = [];
  for (let i = 0; i < leafHashes.length; i++) {
    let hash = leafHashes[i] as Uint8Array;
    // Leaf i closes one complete subtree for each trailing one bit of i.
    for (let n = i; n % 2 === 1; n = Math.floor(n / 2)) hash = hashChildren(stack.pop() as Uint8Array, hash);
    stack.push(hash);
  }
  return foldRight(stack);
}

/** Hashes a run of subtrees, largest (leftmost) first, into the one tree RFC 6962 makes of them. */
export function foldRight(hashes: readonly Uint8Array[]): Buffer {
  let hash = hashes[hashes.length - 1];
  if (!hash) throw new Error('foldRight needs at least one hash');
  for (let i = hashes.length - 2; i >= 0; i--) hash = hashChildren(hashes[i] as Uint8Array, hash);
  return Buffer.from(hash);
}
