import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../migrations/index.ts';
import { AuditSequencer } from '../src/audit/sequencer.ts';
import { consistencyProofJson, inclusionProofJson, verifyProofJson } from '../src/audit/tree/proof-file.ts';
import { completedNodes } from '../src/audit/tree/extend.ts';
import { STORED_LEVEL } from '../src/audit/tree/read.ts';
import { proveConsistency, proveInclusion, rootAt } from '../src/audit/tree/store.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createLogger, silentLogger } from '../src/log.ts';
import { captureLog } from './support/log-capture.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { childEnv, runNode } from './support/process.ts';
import { EMPTY_ROOT, hashChildren, hashLeaf, rootOfLeafHashes } from '../src/audit/tree/hash.ts';
import { consistencyProof, inclusionProof, lookupInLeaves, treeRoot } from '../src/audit/tree/prove.ts';
import { ProofError, verifyConsistency, verifyInclusion } from '../src/audit/tree/verify.ts';

const hex = (value: string) => Buffer.from(value, 'hex');
const hexes = (values: string[]) => values.map(hex);

/*
 * Test vectors of transparency-dev/merkle, proof/verify_test.go (commit 02194e9a; the same
 * values as google/trillian merkle/testonly/constants.go), which writes leaves 1-based:
 * here they are 0-based. Recomputed independently in /work/shared/research/audit.md §3a.
 */
const LEAVES = hexes([
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
]);
const ROOTS = hexes([
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
]);
const INCLUSION: { index: number; size: number; proof: string[] }[] = [
  { index: 0, size: 1, proof: [] },
  {
    index: 0,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { index: 2, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];
const CONSISTENCY: { size1: number; size2: number; proof: string[] }[] = [
  { size1: 1, size2: 1, proof: [] },
  {
    size1: 1,
    size2: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    size1: 6,
    size2: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    size1: 2,
    size2: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    size1: 6,
    size2: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];
const SOME_HASH = hex('abacaba000000000000000000000000000000000000000000060061e00123456');

/** RFC 6962 §2.1 as written, recursion and all: the reference the fast code is held to. */
function naiveRoot(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return leaves[0] as Buffer;
  const k = 2 ** Math.ceil(Math.log2(leaves.length) - 1);
  return hashChildren(naiveRoot(leaves.slice(0, k)), naiveRoot(leaves.slice(k)));
}
function naivePath(m: number, leaves: readonly Buffer[]): Buffer[] {
  if (leaves.length <= 1) return [];
  const k = 2 ** Math.ceil(Math.log2(leaves.length) - 1);
  return m < k
    ? [...naivePath(m, leaves.slice(0, k)), naiveRoot(leaves.slice(k))]
    : [...naivePath(m - k, leaves.slice(k)), naiveRoot(leaves.slice(0, k))];
}
function naiveSubproof(m: number, leaves: readonly Buffer[], whole: boolean): Buffer[] {
  if (m === leaves.length) return whole ? [] : [naiveRoot(leaves)];
  const k = 2 ** Math.ceil(Math.log2(leaves.length) - 1);
  return m <= k
    ? [...naiveSubproof(m, leaves.slice(0, k), whole), naiveRoot(leaves.slice(k))]
    : [...naiveSubproof(m - k, leaves.slice(k), false), naiveRoot(leaves.slice(0, k))];
}

const leafHashes = (n: number) => Array.from({ length: n }, (_, i) => hashLeaf(Buffer.from(`leaf ${i}`)));

function flipBit(buffer: Buffer, byte: number, mask: number): void {
  buffer.writeUInt8(buffer.readUInt8(byte) ^ mask, byte);
}

function refused(check: () => void): boolean {
  try {
    check();
    return false;
  } catch (err) {
    if (!(err instanceof ProofError)) throw err;
    return true;
  }
}

describe('RFC 6962 hashing, against the published vectors', () => {
  const hashes = LEAVES.map(hashLeaf);

  it('hashes leaves and nodes as transparency-dev/merkle rfc6962_test.go does', () => {
    expect(hashLeaf(Buffer.alloc(0)).toString('hex')).toBe(ROOTS[1]?.toString('hex'));
    expect(hashLeaf(Buffer.from('L123456')).toString('hex')).toBe(
      '395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56',
    );
    expect(hashChildren(Buffer.from('N123'), Buffer.from('N456')).toString('hex')).toBe(
      'aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb',
    );
  });

  it('gives the published root for every size from 0 to 8', () => {
    for (let size = 0; size <= 8; size++) {
      expect(rootOfLeafHashes(hashes.slice(0, size))).toEqual(ROOTS[size]);
      expect(treeRoot(size, lookupInLeaves(hashes))).toEqual(ROOTS[size]);
    }
  });

  it('makes and accepts the published inclusion proofs, and refuses every corruption of them', () => {
    const lookup = lookupInLeaves(hashes);
    for (const { index, size, proof: published } of INCLUSION) {
      const proof = hexes(published);
      const root = ROOTS[size] as Buffer;
      const leaf = hashes[index] as Buffer;
      expect(inclusionProof(index, size, lookup)).toEqual(proof);
      verifyInclusion(index, size, leaf, proof, root);
      // The probes of verify_test.go's corruptInclusionProof.
      const probes: [number, number, Buffer, Buffer[], Buffer][] = [
        [index - 1, size, leaf, proof, root],
        [index + 1, size, leaf, proof, root],
        [index ^ 2, size, leaf, proof, root],
        [index, size * 2, leaf, proof, root],
        [index, Math.floor(size / 2), leaf, proof, root],
        [index, size, Buffer.from('WrongLeaf'), proof, root],
        [index, size, leaf, proof, EMPTY_ROOT],
        [index, size, leaf, proof, SOME_HASH],
        [index, size, leaf, [...proof, Buffer.alloc(0)], root],
        [index, size, leaf, [...proof, root], root],
        [index, size, leaf, [Buffer.alloc(0), ...proof], root],
        [index, size, leaf, [root, ...proof], root],
        ...proof.map((_, i): [number, number, Buffer, Buffer[], Buffer] => {
          const flipped = proof.map((p) => Buffer.from(p));
          flipBit(flipped[i] as Buffer, 0, 8);
          return [index, size, leaf, flipped, root];
        }),
      ];
      if (proof.length > 0) probes.push([index, size, leaf, proof.slice(0, -1), root]);
      if (proof.length > 1) probes.push([index, size, leaf, [proof[0] as Buffer, SOME_HASH, ...proof.slice(1)], root]);
      for (const [i, s, l, p, r] of probes) expect(refused(() => verifyInclusion(i, s, l, p, r))).toBe(true);
    }
  });

  it('makes and accepts the published consistency proofs, and refuses every corruption of them', () => {
    const lookup = lookupInLeaves(hashes);
    for (const { size1, size2, proof: published } of CONSISTENCY) {
      const proof = hexes(published);
      const root1 = ROOTS[size1] as Buffer;
      const root2 = ROOTS[size2] as Buffer;
      expect(consistencyProof(size1, size2, lookup)).toEqual(proof);
      verifyConsistency(size1, size2, root1, root2, proof);
      if (proof.length === 0) continue;
      // The probes of verify_test.go's corruptConsistencyProof.
      const probes: [number, number, Buffer, Buffer, Buffer[]][] = [
        [size1 - 1, size2, root1, root2, proof],
        [size1 + 1, size2, root1, root2, proof],
        [size1 ^ 2, size2, root1, root2, proof],
        [size1, size2 * 2, root1, root2, proof],
        [size1, Math.floor(size2 / 2), root1, root2, proof],
        [size1, size2, Buffer.from('WrongRoot'), root2, proof],
        [size1, size2, root1, Buffer.from('WrongRoot'), proof],
        [size1, size2, root2, root1, proof],
        [size1, size2, root1, root2, []],
        [size1, size2, root1, root2, [...proof, Buffer.alloc(0)]],
        [size1, size2, root1, root2, [...proof, root1]],
        [size1, size2, root1, root2, [...proof, root2]],
        [size1, size2, root1, root2, [Buffer.alloc(0), ...proof]],
        [size1, size2, root1, root2, [root1, ...proof]],
        [size1, size2, root1, root2, [root2, ...proof]],
        [size1, size2, root1, root2, [proof[0] as Buffer, ...proof]],
        [size1, size2, root1, root2, proof.slice(0, -1)],
        ...proof.map((_, i): [number, number, Buffer, Buffer, Buffer[]] => {
          const flipped = proof.map((p) => Buffer.from(p));
          flipBit(flipped[i] as Buffer, 0, 16);
          return [size1, size2, root1, root2, flipped];
        }),
      ];
      for (const [s1, s2, r1, r2, p] of probes) expect(refused(() => verifyConsistency(s1, s2, r1, r2, p))).toBe(true);
    }
  });

  it('judges the edge cases as verify_test.go does: empty trees, equal sizes, time travel', () => {
    const [root1, root2] = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)];
    expect(refused(() => verifyConsistency(0, 0, root1, root2, []))).toBe(true);
    expect(refused(() => verifyConsistency(1, 1, root1, root2, []))).toBe(true);
    expect(refused(() => verifyConsistency(1, 1, root2, root2, []))).toBe(false);
    expect(refused(() => verifyConsistency(0, 1, EMPTY_ROOT, root2, []))).toBe(false);
    expect(refused(() => verifyConsistency(1, 0, root1, root2, []))).toBe(true);
    expect(refused(() => verifyConsistency(2, 1, root1, root2, []))).toBe(true);
    expect(refused(() => verifyConsistency(1, 2, root1, root2, []))).toBe(true);
    expect(refused(() => verifyConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]))).toBe(true);
    expect(refused(() => verifyConsistency(1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]))).toBe(true);
    for (const [index, size] of [
      [0, 0],
      [1, 0],
      [2, 1],
    ] as const)
      expect(refused(() => verifyInclusion(index, size, SOME_HASH, [], EMPTY_ROOT))).toBe(true);
    const single = hashLeaf(Buffer.from('data'));
    expect(refused(() => verifyInclusion(0, 1, single, [], single))).toBe(false);
    expect(refused(() => verifyInclusion(0, 1, Buffer.alloc(0), [], single))).toBe(true);
  });
});

describe('RFC 6962 trees of every shape, against the RFC written out naively', () => {
  const N = 70;
  const hashes = leafHashes(N);
  const lookup = lookupInLeaves(hashes);

  it('gives the same root for every size up to 300', () => {
    const many = leafHashes(300);
    for (let size = 0; size <= 300; size++) {
      const expected = naiveRoot(many.slice(0, size));
      expect(rootOfLeafHashes(many.slice(0, size))).toEqual(expected);
      expect(treeRoot(size, lookupInLeaves(many))).toEqual(expected);
    }
  });

  it('makes the RFC inclusion proof for every leaf of every size up to 70, and it verifies', () => {
    for (let size = 1; size <= N; size++) {
      const root = naiveRoot(hashes.slice(0, size));
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(index, size, lookup);
        expect(proof).toEqual(naivePath(index, hashes.slice(0, size)));
        verifyInclusion(index, size, hashes[index] as Buffer, proof, root);
        expect(refused(() => verifyInclusion(index, size, hashes[(index + 1) % N] as Buffer, proof, root))).toBe(true);
      }
    }
  });

  it('makes the RFC consistency proof for every pair of sizes up to 70, and it verifies', () => {
    const roots = Array.from({ length: N + 1 }, (_, size) => naiveRoot(hashes.slice(0, size)));
    for (let size2 = 1; size2 <= N; size2++) {
      for (let size1 = 1; size1 <= size2; size1++) {
        const proof = consistencyProof(size1, size2, lookup);
        expect(proof).toEqual(size1 === size2 ? [] : naiveSubproof(size1, hashes.slice(0, size2), true));
        verifyConsistency(size1, size2, roots[size1] as Buffer, roots[size2] as Buffer, proof);
        if (size1 < size2) {
          const forged = Buffer.from(roots[size1] as Buffer);
          flipBit(forged, 31, 1);
          expect(refused(() => verifyConsistency(size1, size2, forged, roots[size2] as Buffer, proof))).toBe(true);
        }
      }
    }
  });
});

describe('the tree over a real audit log', () => {
  let t: TestDatabase;
  let hashes: Buffer[];
  const EVENTS = 5 * 256 + 41;

  beforeAll(async () => {
    t = await createTestDatabase();
    // Queued in uneven lots and chained in batches of 100, so batches end everywhere in a block.
    const sequencer = new AuditSequencer(t.db, silentLogger(), { batchSize: 100 });
    for (let queued = 0; queued < EVENTS;) {
      const lot = Math.min(EVENTS - queued, [1, 7, 255, 256, 257, 300][queued % 6] as number);
      await queueEvents(t, lot);
      await sequencer.flush();
      queued += lot;
    }
    hashes = await eventHashes(t);
  });
  afterAll(async () => t.destroy());

  it('stores one node per complete subtree of 64 events and up, each the hash of its events', async () => {
    expect(hashes).toHaveLength(EVENTS);
    const rows = await storedTree(t);
    const expected = completedNodes(0, EVENTS).map(({ level, index }) => ({
      level,
      index,
      hash: naiveRoot(hashes.slice(index * 2 ** level, (index + 1) * 2 ** level).map(hashLeaf)).toString('hex'),
    }));
    expect(rows).toEqual(expected);
    expect(rows[0]).toMatchObject({ level: STORED_LEVEL, index: 0 });
    expect(rows.at(-1)).toMatchObject({ level: 10, index: 0 });
  });

  it("gives, for every size, the root of the events' hashes", async () => {
    for (const size of [0, 1, 2, 255, 256, 257, 511, 512, 513, 1024, 1100, EVENTS])
      expect((await rootAt(t.db, size)).toString('hex')).toBe(
        naiveRoot(hashes.slice(0, size).map(hashLeaf)).toString('hex'),
      );
    await expect(rootAt(t.db, EVENTS + 1)).rejects.toThrow(`the audit log holds ${EVENTS} events`);
  });

  it('proves any event in any tree that holds it, and the proof checks out offline', async () => {
    for (const [seq, size] of [
      [1, 1],
      [1, EVENTS],
      [256, 256],
      [257, EVENTS],
      [700, 1024],
      [1000, 1025],
      [EVENTS, EVENTS],
      [1300, 1310],
    ] as const) {
      const proof = await proveInclusion(t.db, seq, size);
      expect(proof.root).toEqual(naiveRoot(hashes.slice(0, size).map(hashLeaf)));
      expect(proof.path).toEqual(naivePath(seq - 1, hashes.slice(0, size).map(hashLeaf)));
      const file = inclusionProofJson(proof);
      expect(verifyProofJson(file)).toMatchObject({ kind: 'inclusion', seq, size });
      // The event is part of the proof: a changed byte of it no longer leads to the root.
      const forged = JSON.parse(file) as Record<string, unknown>;
      forged.canonical = String(forged.canonical).replace('test.tree', 'test.tref');
      expect(() => verifyProofJson(JSON.stringify(forged))).toThrow(ProofError);
    }
    await expect(proveInclusion(t.db, 10, 9)).rejects.toThrow('seq 10 is not in a tree of 9 events');
  });

  it('proves that a later tree extends an earlier one', async () => {
    for (const [size1, size2] of [
      [1, EVENTS],
      [256, 512],
      [300, 1024],
      [1000, EVENTS],
      [EVENTS, EVENTS],
    ] as const) {
      const proof = await proveConsistency(t.db, size1, size2);
      const leaves = hashes.slice(0, size2).map(hashLeaf);
      expect(proof.path).toEqual(size1 === size2 ? [] : naiveSubproof(size1, leaves, true));
      expect(verifyProofJson(consistencyProofJson(proof))).toMatchObject({ kind: 'consistency', size1, size2 });
    }
  });

  it('refuses to change or remove a node, like the events themselves', async () => {
    await expect(t.query('update audit_tree set hash = hash where level = 8')).rejects.toThrow(
      'audit_tree is append-only: UPDATE is not allowed',
    );
    await expect(t.query('delete from audit_tree')).rejects.toThrow('audit_tree is append-only: DELETE');
    await expect(t.query('truncate audit_tree')).rejects.toThrow('audit_tree is append-only: TRUNCATE');
  });

  it('is built the same by the migration, for a log chained before the tree existed, and caught up after', async () => {
    const old = await createTestDatabase({ migrate: false });
    try {
      const migrator = new Migrator({ db: old.db, provider: { getMigrations: async () => migrations } });
      expect((await migrator.migrateTo('2026-12-03T0011_extend_in_place')).error).toBeUndefined();
      const endingBy = async (db: TestDatabase, size: number) =>
        (await storedTree(db)).filter((row) => (row.index + 1) * 2 ** row.level <= size);
      await copyEvents(t, old, 1, 1100);
      await migrateToLatest(old.db);
      expect(await storedTree(old)).toEqual(await endingBy(t, 1100));

      // A replica of the older version chains on without the tree; the next batch that completes a block catches it up.
      await copyEvents(t, old, 1101, EVENTS - 1);
      // Until then, what the table lacks is hashed from the events: roots and proofs stay right.
      expect(await rootAt(old.db, EVENTS - 1)).toEqual(naiveRoot(hashes.slice(0, EVENTS - 1).map(hashLeaf)));
      const proof = await proveInclusion(old.db, 1200, EVENTS - 1);
      verifyInclusion(1199, EVENTS - 1, proof.leafHash, proof.path, proof.root);
      await queueEvents(old, 300);
      await new AuditSequencer(old.db, silentLogger()).flush();
      const oldHashes = await eventHashes(old);
      expect(oldHashes).toHaveLength(EVENTS - 1 + 300);
      const rows = await storedTree(old);
      expect(rows.map(({ level, index }) => ({ level, index }))).toEqual(completedNodes(0, oldHashes.length));
      for (const row of rows)
        expect(row.hash).toBe(
          naiveRoot(
            oldHashes.slice(row.index * 2 ** row.level, (row.index + 1) * 2 ** row.level).map(hashLeaf),
          ).toString('hex'),
        );
      expect(await endingBy(old, EVENTS - 1)).toEqual(await endingBy(t, EVENTS - 1));
    } finally {
      await old.destroy();
    }
  });
});

describe('the tree never stops the chain', () => {
  it('chains on when extending the tree fails, says so, and the tree catches up once it can', async () => {
    const t = await createTestDatabase();
    try {
      const log = captureLog();
      const sequencer = new AuditSequencer(t.db, createLogger({ level: 'error', destination: log.stream }));
      await queueEvents(t, 100);
      await sequencer.flush();
      // Something goes wrong with the tree (here: its table is out of the way).
      await t.query('alter table audit_tree rename to audit_tree_away');
      await queueEvents(t, 100);
      await sequencer.flush();
      expect(await eventHashes(t)).toHaveLength(200);
      expect(log.lines().map((line) => line.msg)).toContain(
        'the Merkle tree could not be extended; chaining goes on, and it catches up later',
      );
      await t.query('alter table audit_tree_away rename to audit_tree');
      // The next batch that completes a block fills in what was missed.
      await queueEvents(t, 100);
      await sequencer.flush();
      const hashes = await eventHashes(t);
      const rows = await storedTree(t);
      expect(rows.map(({ level, index }) => ({ level, index }))).toEqual(completedNodes(0, 300));
      for (const row of rows)
        expect(row.hash).toBe(
          naiveRoot(hashes.slice(row.index * 2 ** row.level, (row.index + 1) * 2 ** row.level).map(hashLeaf)).toString(
            'hex',
          ),
        );
      expect((await t.audit.verify()).ok).toBe(true);
    } finally {
      await t.destroy();
    }
  });
});

describe('gatehouse audit prove, consistency and verify-proof', () => {
  let t: TestDatabase;
  let dir: string;
  const gatehouse = (...args: string[]) =>
    runNode(['bin/gatehouse.js', ...args], childEnv({ DATABASE_URL: t.url, LOG_LEVEL: 'warn' }));

  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-merkle-'));
    await queueEvents(t, 600);
    await t.audit.flush();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await t.destroy();
  });

  it('prints an inclusion proof that verify-proof accepts with no database, and refuses once edited', async () => {
    const proved = await gatehouse('audit', 'prove', '300', '--size', '513');
    expect(proved.code, proved.stderr).toBe(0);
    const proof = JSON.parse(proved.stdout) as { seq: number; size: number; root: string; path: string[] };
    expect(proof).toMatchObject({ seq: 300, size: 513, root: (await rootAt(t.db, 513)).toString('hex') });
    const file = join(dir, 'inclusion.json');
    await writeFile(file, proved.stdout);
    const checked = await runNode(['bin/gatehouse.js', 'audit', 'verify-proof', file, '--root', proof.root], {
      ...childEnv({ LOG_LEVEL: 'warn' }),
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
    });
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stdout).toContain(
      `The proof holds: event 300 is in the tree of the first 513 events, root ${proof.root}.`,
    );

    const wrongRoot = await gatehouse('audit', 'verify-proof', file, '--root', EMPTY_ROOT.toString('hex'));
    expect(wrongRoot.code).toBe(1);
    expect(wrongRoot.stderr).toContain('The proof does not hold');
    await writeFile(file, proved.stdout.replace(proof.path[2] as string, EMPTY_ROOT.toString('hex')));
    const edited = await gatehouse('audit', 'verify-proof', file);
    expect(edited.code).toBe(1);
    expect(edited.stderr).toContain('The proof does not hold: the proof leads to root');
  });

  it('proves by default against the whole log, and says plainly when a seq or size is past its end', async () => {
    const proved = await gatehouse('audit', 'prove', '600');
    expect(proved.code, proved.stderr).toBe(0);
    expect(JSON.parse(proved.stdout)).toMatchObject({
      seq: 600,
      size: 600,
      root: (await rootAt(t.db, 600)).toString('hex'),
    });
    const past = await gatehouse('audit', 'prove', '5', '--size', '601');
    expect(past.code).toBe(2);
    expect(past.stderr).toContain('the audit log holds 600 events, so size 601 is past its end');
    const bad = await gatehouse('audit', 'prove', 'five');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('seq must be a whole number, like 42, not "five"');
  });

  it('prints a consistency proof between two sizes that verify-proof accepts', async () => {
    const proved = await gatehouse('audit', 'consistency', '256', '600');
    expect(proved.code, proved.stderr).toBe(0);
    const file = join(dir, 'consistency.json');
    await writeFile(file, proved.stdout);
    const proof = JSON.parse(proved.stdout) as { root1: string; root2: string };
    const checked = await gatehouse('audit', 'verify-proof', file, '--root1', proof.root1, '--root', proof.root2);
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stdout).toContain('extends that of the first 256');
  });
});

async function queueEvents(t: TestDatabase, count: number): Promise<void> {
  await t.query(
    `insert into audit_queue (actor, action, subject, body)
     select 'U0TREE0001', 'test.tree', 'n' || n, '{"n":' || n || '}' from generate_series(1, $1::int) as n`,
    [count],
  );
}

async function eventHashes(t: TestDatabase): Promise<Buffer[]> {
  const { rows } = await t.query<{ hash: Buffer }>('select hash from audit_events order by seq');
  return rows.map((row) => row.hash);
}

async function storedTree(t: TestDatabase): Promise<{ level: number; index: number; hash: string }[]> {
  const { rows } = await t.query<{ level: number; index: string; hash: string }>(
    `select level, index, encode(hash, 'hex') as hash from audit_tree order by level, index`,
  );
  return rows.map((row) => ({ level: row.level, index: Number(row.index), hash: row.hash }));
}

/** Copies events as they are, as a replica without the tree would have chained them. */
async function copyEvents(from: TestDatabase, to: TestDatabase, first: number, last: number): Promise<void> {
  const { rows } = await from.query<{ seq: string; canonical: string; prev_hash: Buffer; hash: Buffer }>(
    'select seq, canonical, prev_hash, hash from audit_events where seq between $1 and $2 order by seq',
    [first, last],
  );
  await to.query(
    `insert into audit_events (seq, canonical, prev_hash, hash)
     select * from unnest($1::bigint[], $2::text[], $3::bytea[], $4::bytea[])`,
    [rows.map((r) => r.seq), rows.map((r) => r.canonical), rows.map((r) => r.prev_hash), rows.map((r) => r.hash)],
  );
}
