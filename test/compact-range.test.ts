import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CompactRange } from '../src/audit/tree/compact-range.ts';
import { EMPTY_ROOT, hashLeaf } from '../src/audit/tree/hash.ts';
import { lookupInLeaves, treeRoot } from '../src/audit/tree/prove.ts';

/** Leaf data as the log has it: 32-byte hashes, here SHA-256 of the leaf's index. */
const leafData = (count: number): Buffer[] =>
  Array.from({ length: count }, (_, i) => createHash('sha256').update(`leaf ${i}`).digest());

describe("a streamed tree's compact range", () => {
  it('gives, at every size from 0 to 200, the root the stored tree code computes', () => {
    const data = leafData(200);
    const lookup = lookupInLeaves(data.map(hashLeaf));
    const range = new CompactRange();
    expect(range.root()).toEqual(EMPTY_ROOT);
    for (const [i, leaf] of data.entries()) {
      range.push(leaf);
      expect(range.size).toBe(i + 1);
      expect(range.root().toString('hex'), `size ${i + 1}`).toBe(treeRoot(i + 1, lookup).toString('hex'));
    }
  });

  it('gives the same roots at large sizes around powers of two', () => {
    const data = leafData(65_537);
    const lookup = lookupInLeaves(data.map(hashLeaf));
    const wanted = new Set([1023, 1024, 1025, 4097, 65_535, 65_536, 65_537]);
    const range = new CompactRange();
    for (const leaf of data) {
      range.push(leaf);
      if (wanted.has(range.size)) expect(range.root(), `size ${range.size}`).toEqual(treeRoot(range.size, lookup));
    }
    expect(range.size).toBe(65_537);
  });
});
