import { timingSafeEqual } from 'node:crypto';
import { EMPTY_ROOT, HASH_SIZE, hashChildren } from './hash.ts';

/** Why a proof was refused: said so that a person can tell a wrong input from a forged proof. */
export class ProofError extends Error {}

function isHash(value: Uint8Array): boolean {
  return value.length === HASH_SIZE;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const odd = (n: number) => n % 2 === 1;
const half = (n: number) => Math.floor(n / 2);

function isPowerOfTwo(n: number): boolean {
  while (n > 1 && n % 2 === 0) n /= 2;
  return n === 1;
}

/**
 * The root an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1–5), or a ProofError.
 * Sizes are JavaScript numbers: halved by division, exact up to 2^53.
 */
export function rootFromInclusionProof(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size)
    throw new ProofError(`leaf index ${index} is not in a tree of size ${size}`);
  if (!isHash(leafHash)) throw new ProofError(`the leaf hash must be ${HASH_SIZE} bytes`);
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    if (!isHash(p)) throw new ProofError(`every proof element must be ${HASH_SIZE} bytes`);
    if (sn === 0) throw new ProofError('the proof is longer than a tree of this size needs');
    if (odd(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new ProofError('the proof is shorter than a tree of this size needs');
  return r;
}

/** RFC 9162 §2.1.3.2: throws a ProofError unless the proof leads from the leaf hash to `root`. */
export function verifyInclusion(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  const computed = rootFromInclusionProof(index, size, leafHash, proof);
  if (!same(computed, root))
    throw new ProofError(`the proof leads to root ${computed.toString('hex')}, not the one given`);
}

/**
 * RFC 9162 §2.1.4.2: throws a ProofError unless the tree of `size2` leaves with `root2`
 * extends the one of `size1` leaves with `root1`. As transparency-dev/merkle does, the empty
 * tree is a prefix of every tree (empty proof), and equal sizes need equal roots and no proof.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: readonly Uint8Array[],
): void {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size2 < size1)
    throw new ProofError(`size ${size2} cannot extend size ${size1}: sizes only grow`);
  if (!isHash(root1) || !isHash(root2)) throw new ProofError(`both roots must be ${HASH_SIZE} bytes`);
  if (!proof.every(isHash)) throw new ProofError(`every proof element must be ${HASH_SIZE} bytes`);
  if (size1 === size2) {
    if (proof.length > 0) throw new ProofError('trees of the same size need an empty proof');
    if (!same(root1, root2)) throw new ProofError('two trees of the same size have different roots');
    return;
  }
  if (size1 === 0) {
    if (proof.length > 0) throw new ProofError('the empty tree needs an empty proof');
    if (!same(root1, EMPTY_ROOT)) throw new ProofError('the root of the empty tree is SHA-256 of no bytes');
    return;
  }
  if (proof.length === 0) throw new ProofError('a consistency proof between different sizes cannot be empty');

  // Step 2: a first tree whose size is a power of two is a node of the second: its root starts the path.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = fr;
  for (const c of path.slice(1)) {
    if (sn === 0) throw new ProofError('the proof is longer than trees of these sizes need');
    if (odd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new ProofError('the proof is shorter than trees of these sizes need');
  if (!same(fr, root1)) throw new ProofError(`the proof leads to first root ${fr.toString('hex')}, not the one given`);
  if (!same(sr, root2)) throw new ProofError(`the proof leads to second root ${sr.toString('hex')}, not the one given`);
}
