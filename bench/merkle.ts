import { sql } from 'kysely';
import { migrations } from '../migrations/index.ts';
import { rootOfLeafHashes, hashLeaf } from '../src/audit/tree/hash.ts';
import { consistencyProofJson, inclusionProofJson, verifyProofJson } from '../src/audit/tree/proof-file.ts';
import { logSize, proveConsistency, proveInclusion, rootAt } from '../src/audit/tree/store.ts';
import { createDb, createPool, type Db } from '../src/db/database.ts';
import { runMode } from './append.ts';
import type { BenchServer } from './cluster.ts';
import { fmt, median, ms } from './format.ts';
import { summarize, type Summary } from './percentiles.ts';
import { fillChain } from './verify.ts';
import { benchNotes, printNotes, type NoteResults } from './notes.ts';

/**
 * The Merkle tree over the audit log (docs/merkle.md): what maintaining it costs appends,
 * how long a log of `events` takes to get its tree (migration 0012's fill), and how fast
 * inclusion and consistency proofs are made and checked in that log.
 */
export interface MerkleOptions {
  /** BENCH_MERKLE_EVENTS (1000000): the log proofs are made in. */
  events: number;
  /** BENCH_MERKLE_PROOFS (2000): inclusion proofs timed per kind; a quarter as many consistency proofs. */
  proofs: number;
  /** BENCH_APPEND_SECONDS (5) per append run, BENCH_REPEATS (3) rounds. */
  appendSeconds: number;
  rounds: number;
}

export function parseMerkleOptions(env: NodeJS.ProcessEnv): MerkleOptions {
  const options = {
    events: Number(env.BENCH_MERKLE_EVENTS ?? 1_000_000),
    proofs: Number(env.BENCH_MERKLE_PROOFS ?? 2000),
    appendSeconds: Number(env.BENCH_APPEND_SECONDS ?? 5),
    rounds: Number(env.BENCH_REPEATS ?? 3),
  };
  if (!Number.isInteger(options.events) || options.events < 2)
    throw new Error('BENCH_MERKLE_EVENTS must be a whole number of at least 2');
  if (!Number.isInteger(options.proofs) || options.proofs < 4)
    throw new Error('BENCH_MERKLE_PROOFS must be a whole number of at least 4');
  return options;
}

const WRITERS = 32;
const WARMUP_PROOFS = 100;

interface AppendRun {
  mode: 'plain' | 'chained';
  perSecond: number;
  treeRows: number;
}

export interface MerkleResults {
  options: MerkleOptions;
  appends: AppendRun[];
  fillSeconds: number;
  treeRows: number;
  /** `select 1` timed just before each inclusion proof of the whole tree: one round trip on this machine then. */
  roundTrip: Summary;
  inclusionAtHead: { make: Summary; check: Summary; pathLength: number };
  inclusionAnySize: { make: Summary; check: Summary };
  consistency: { make: Summary; check: Summary };
  /** Signing and opening checkpoint notes and cosignatures (no database). */
  notes: NoteResults;
}

/** bench/append.ts's round at 32 writers; `chained` is timed until all are chained (tree included), then the tree is checked. */
async function append(server: BenchServer, mode: AppendRun['mode'], durationMs: number): Promise<AppendRun> {
  let treeRows = 0;
  const run = await runMode(server, mode, WRITERS, durationMs, {
    name: 'merkle',
    afterChained: async (db, events) => {
      await checkTree(db, events);
      treeRows = Number((await sql<{ n: string }>`select count(*) as n from audit_tree`.execute(db)).rows[0]?.n);
    },
  });
  return { mode, perSecond: run.perSecond, treeRows };
}

/** The tree the sequencer kept gives the root of every event's hash, computed afresh. */
async function checkTree(db: Db, events: number): Promise<void> {
  const rows = await db.selectFrom('audit_events').select('hash').orderBy('seq').execute();
  const expected = rootOfLeafHashes(rows.map((row) => hashLeaf(row.hash)));
  if (!(await rootAt(db, events)).equals(expected)) throw new Error('the tree kept while appending has the wrong root');
}

function timed<T>(work: () => T): [T, number] {
  const started = performance.now();
  const result = work();
  return [result, performance.now() - started];
}

async function timedAsync<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}

const randomIn = (from: number, to: number) => from + Math.floor(Math.random() * (to - from + 1));

/** Makes `count` proofs of random choice, after a warm-up; times making each and checking its JSON offline. */
async function timeProofs(
  db: Db,
  count: number,
  make: () => Promise<string>,
): Promise<{ make: Summary; check: Summary; roundTrip: Summary; text: string }> {
  const makeMs: number[] = [];
  const checkMs: number[] = [];
  const roundTripMs: number[] = [];
  let text = '';
  for (let i = 0; i < WARMUP_PROOFS + count; i++) {
    // A bare round trip just before each proof: what the machine's load does to any query at that moment.
    const [, roundTrip] = await timedAsync(() => sql`select 1`.execute(db));
    const [made, makeTime] = await timedAsync(make);
    const [, checkTime] = timed(() => verifyProofJson(made));
    text = made;
    if (i < WARMUP_PROOFS) continue;
    makeMs.push(makeTime);
    checkMs.push(checkTime);
    roundTripMs.push(roundTrip);
  }
  return { make: summarize(makeMs), check: summarize(checkMs), roundTrip: summarize(roundTripMs), text };
}

export async function benchMerkle(server: BenchServer, options: MerkleOptions): Promise<MerkleResults> {
  const notes = benchNotes();
  const appends: AppendRun[] = [];
  for (let round = 0; round < options.rounds; round++) {
    for (const mode of ['plain', 'chained'] as const) {
      const run = await append(server, mode, options.appendSeconds * 1000);
      console.error(`  append ${mode.padEnd(7)} ${WRITERS} writers: ${Math.round(run.perSecond)}/s`);
      appends.push(run);
    }
  }

  console.error(`  filling a log of ${options.events} events…`);
  const url = await server.freshDatabase('gatehouse_bench_merkle_log');
  await fillChain(url, options.events);
  const pool = createPool(url, 2);
  pool.on('error', () => undefined);
  const db = createDb(pool);
  try {
    // The log was copied in without its tree: fill it as migration 0012 does for a log upgraded to it.
    const migration = migrations['2026-12-03T0012_audit_tree'];
    if (!migration?.down) throw new Error('migration 2026-12-03T0012_audit_tree is missing');
    await migration.down(db);
    const [, fillMs] = await timedAsync(() => migration.up(db));
    await sql`vacuum analyze audit_tree`.execute(db);
    const treeRows = Number((await sql<{ n: string }>`select count(*) as n from audit_tree`.execute(db)).rows[0]?.n);
    console.error(`  tree filled in ${fmt(fillMs / 1000, 1)} s (${treeRows} rows); proofs…`);
    const n = await logSize(db);

    const atHead = await timeProofs(db, options.proofs, async () =>
      inclusionProofJson(await proveInclusion(db, randomIn(1, n), n)),
    );
    const anySize = await timeProofs(db, options.proofs, async () => {
      const size = randomIn(1, n);
      return inclusionProofJson(await proveInclusion(db, randomIn(1, size), size));
    });
    const consistency = await timeProofs(db, Math.ceil(options.proofs / 4), async () => {
      const size2 = randomIn(2, n);
      return consistencyProofJson(await proveConsistency(db, randomIn(1, size2 - 1), size2));
    });
    const pathLength = (JSON.parse(atHead.text) as { path: string[] }).path.length;
    return {
      options,
      appends,
      fillSeconds: fillMs / 1000,
      treeRows,
      roundTrip: atHead.roundTrip,
      inclusionAtHead: { make: atHead.make, check: atHead.check, pathLength },
      inclusionAnySize: { make: anySize.make, check: anySize.check },
      consistency: { make: consistency.make, check: consistency.check },
      notes,
    };
  } finally {
    await db.destroy();
    await server.dropDatabase('gatehouse_bench_merkle_log');
  }
}

export function printMerkle(results: MerkleResults): void {
  const { options, appends } = results;
  const rate = (mode: AppendRun['mode']) => median(appends.filter((a) => a.mode === mode).map((a) => a.perSecond));
  const ratio = rate('chained') / rate('plain');
  const ratios = [];
  for (let round = 0; round < options.rounds; round++)
    ratios.push((appends[round * 2 + 1]?.perSecond ?? NaN) / (appends[round * 2]?.perSecond ?? NaN));
  console.log(`Appends at ${WRITERS} writers, medians of ${options.rounds} rounds of ${options.appendSeconds} s:\n`);
  console.log(
    '| plain INSERT/s | chained with the tree/s (end to end) | chained ÷ plain | rounds | tree rows written |',
  );
  console.log('| ---: | ---: | ---: | --- | ---: |');
  console.log(
    `| ${fmt(rate('plain'))} | ${fmt(rate('chained'))} | ${fmt(ratio, 2)} | ${ratios.map((r) => fmt(r, 2)).join(', ')} | ${fmt(median(appends.filter((a) => a.mode === 'chained').map((a) => a.treeRows)))} |`,
  );
  console.log(
    `\nTarget chained with the tree ≥ 0.65 × plain at ${WRITERS} writers: ${ratio >= 0.65 ? 'met' : 'NOT met'} (${fmt(ratio, 2)}).\n`,
  );
  console.log(
    `A log of ${fmt(options.events)} events: its tree filled by migration 0012 in ${fmt(results.fillSeconds, 1)} s (${fmt(results.treeRows)} rows).\n`,
  );
  console.log(
    `| ${fmt(options.proofs)} proofs each (after ${WARMUP_PROOFS} warm-up), ms | make p50 | make p99 | make max | check p50 | check p99 | check max |`,
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const row = (label: string, r: { make: Summary; check: Summary }) =>
    console.log(
      `| ${label} | ${ms(r.make.p50)} | ${ms(r.make.p99)} | ${ms(r.make.max)} | ${fmt(r.check.p50, 3)} | ${fmt(r.check.p99, 3)} | ${fmt(r.check.max, 3)} |`,
    );
  row(
    `inclusion, random seq, tree of all ${fmt(options.events)} (path of ${results.inclusionAtHead.pathLength})`,
    results.inclusionAtHead,
  );
  row('inclusion, random size, random seq in it', results.inclusionAnySize);
  console.log(
    `| for scale: \`select 1\` just before each proof of the first row | ${ms(results.roundTrip.p50)} | ${ms(results.roundTrip.p99)} | ${ms(results.roundTrip.max)} | | | |`,
  );
  row(`consistency, random size1 < size2 (${fmt(Math.ceil(options.proofs / 4))} proofs)`, results.consistency);
  const { inclusionAtHead: head, inclusionAnySize: any, consistency } = results;
  const makeP99 = Math.max(head.make.p99, any.make.p99);
  const checkP99 = Math.max(head.check.p99, any.check.p99);
  console.log(
    `\nTargets: inclusion made p99 ≤ 5 ms: ${makeP99 <= 5 ? 'met' : 'NOT met'} (${ms(makeP99)}); checked p99 ≤ 1 ms: ${checkP99 <= 1 ? 'met' : 'NOT met'} (${fmt(checkP99, 3)}); consistency ≤ 50 ms (max): ${consistency.make.max <= 50 ? 'met' : 'NOT met'} (${ms(consistency.make.max)}).\n`,
  );
  printNotes(results.notes);
}
