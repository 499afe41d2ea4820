import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpointKey } from '../src/audit/checkpoints/keys.ts';
import { checkCheckpointNotes, treeRoots } from '../src/audit/checkpoints/note-checks.ts';
import {
  COSIGNATURE_ED25519,
  noteVerifier,
  openNote,
  parseVkey,
  vkeyOf,
  type NoteSigner,
} from '../src/audit/checkpoints/note.ts';
import { makeCheckpoint, readLogId } from '../src/audit/checkpoints/store.ts';
import { checkWitnesses } from '../src/audit/witness/checks.ts';
import { readWitnessState, writeWitnessState, type WitnessState } from '../src/audit/witness/state.ts';
import { witnessOnce, WitnessRefusedError } from '../src/audit/witness/witness.ts';
import { seedEvents, tamper } from './support/audit.ts';
import { randomKey, rewriteFrom, tamperCheckpoints } from './support/checkpoints.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { childEnv, killLeftoverChildren, runNode, type Exit } from './support/process.ts';

/** The witness role's grants in sql/least-privilege.sql, read from the file so the two agree. */
const WITNESS_GRANTS = (await fs.readFile(new URL('../sql/least-privilege.sql', import.meta.url), 'utf8'))
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => /^(grant|revoke) .*gatehouse_witness;$/.test(line));

/*
 * Logs here stay under 64 events: audit_tree stores subtrees from 64 leaves up, and the
 * rewrites below (an owner's) change the events only, as a careful forger of a small log
 * would; the tree is then recomputed from the events.
 */
describe('witnesses the customer controls (PostgreSQL)', () => {
  let t: TestDatabase;
  let dir: string;
  const logKey = randomKey();
  let origin: string;
  const witness = (name: string): NoteSigner => ({ name, key: randomKey() });
  const cosignerOf = (w: NoteSigner) => parseVkey(vkeyOf(w.name, w.key.publicKey, COSIGNATURE_ED25519));
  let clock = 1_790_000_000;
  const now = () => ++clock;

  /** One witness run from its state file, as `gatehouse audit witness` does. */
  async function run(w: NoteSigner, stateFile: string) {
    const state = await readWitnessState(stateFile);
    const outcome = await witnessOnce(t.pool, t.db, { signer: w, logKey: logVerifier(), state, now });
    if (outcome.kind === 'cosigned') await writeWitnessState(stateFile, outcome.state);
    return outcome;
  }
  const logVerifier = () => parseVkey(vkeyOf(origin, logKey.publicKey));
  const verifyWitnesses = async (witnesses: NoteSigner[], required: number) =>
    checkWitnesses(t.pool, {
      witnesses: witnesses.map(cosignerOf),
      required,
      origin,
      rootOf: treeRoots(t.db),
    });

  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-witness-'));
    origin = `gatehouse.local/${await readLogId(t.db)}`;
  });
  afterAll(async () => {
    await t.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('cosigns the newest checkpoint, then only a tree that extends it; verify counts N witnesses and names the missing', async () => {
    const alice = witness('witness.example.com/alice');
    const bob = witness('witness.example.com/bob');
    const carol = witness('witness.example.com/carol');
    expect((await run(alice, path.join(dir, 'alice.json'))).kind).toBe('none');

    await seedEvents(t, 10);
    await makeCheckpoint(t.db, logKey);
    const first = await run(alice, path.join(dir, 'alice.json'));
    expect(first).toMatchObject({ kind: 'cosigned', from: null, state: { size: 10, origin } });
    expect((await run(alice, path.join(dir, 'alice.json'))).kind).toBe('unchanged');

    await seedEvents(t, 7);
    await makeCheckpoint(t.db, logKey);
    const second = await run(alice, path.join(dir, 'alice.json'));
    expect(second).toMatchObject({ kind: 'cosigned', from: 10, state: { size: 17 } });
    await run(bob, path.join(dir, 'bob.json'));

    // The stored cosignature is a note signature line over the checkpoint's body: a note
    // with the log's and the witness's lines opens with both keys.
    const row = (
      await t.query<{ body: string; line: string }>(
        `select body, line from audit_cosignatures where witness = $1 order by id desc limit 1`,
        [bob.name],
      )
    ).rows[0]!;
    const { rows: cps } = await t.query<{ note: string }>(
      'select note from audit_checkpoints order by id desc limit 1',
    );
    const opened = openNote(`${cps[0]!.note}${row.line}\n`, [logVerifier(), cosignerOf(bob)]);
    expect(opened.verified.map((s) => s.name)).toEqual([origin, bob.name]);
    expect(opened.body).toBe(row.body);

    const two = await verifyWitnesses([alice, bob], 2);
    expect(two).toMatchObject({ ok: true, witnessedSize: 17, problems: [] });
    const three = await verifyWitnesses([alice, bob, carol], 3);
    expect(three.ok).toBe(false);
    expect(three.witnesses.filter((w) => !w.newest).map((w) => w.name)).toEqual([carol.name]);
    expect((await verifyWitnesses([alice, bob, carol], 2)).ok).toBe(true);

    // A cosignature's bytes changed in the table: it no longer counts, and verify says so.
    await t.query(`alter table audit_cosignatures disable trigger audit_cosignatures_no_update_delete`);
    await t.query(`update audit_cosignatures set body = replace(body, E'\\n17\\n', E'\\n18\\n') where witness = $1`, [
      bob.name,
    ]);
    await t.query(`alter table audit_cosignatures enable always trigger audit_cosignatures_no_update_delete`);
    const forged = await verifyWitnesses([alice, bob], 2);
    expect(forged.ok).toBe(false);
    expect(forged.problems.join('\n')).toMatch(/bob's cosignature .* does not verify/);
  });

  it('a split view: the log rewritten after a witness cosigned is refused by the witness, and caught by verify', async () => {
    const dave = witness('witness.example.com/dave');
    const erin = witness('witness.example.com/erin');
    const daveState = path.join(dir, 'dave.json');
    await run(dave, daveState);
    const cosigned = (await readWitnessState(daveState)) as WitnessState;
    expect(cosigned.size).toBe(17);

    // The owner rewrites event 5 (recomputing the chain), drops the checkpoints that signed
    // the old history, and signs the new one with the same key.
    await rewriteFrom(t, 5, (event) => ({ ...event, actor: 'U0MALLORY' }));
    await tamperCheckpoints(t, 'delete from audit_checkpoints');
    await seedEvents(t, 3);
    const forged = await makeCheckpoint(t.db, logKey);
    expect(forged!.seq).toBe(20);

    const refusal = await run(dave, daveState).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refusal).toBeInstanceOf(WitnessRefusedError);
    const { message, evidence } = refusal as WitnessRefusedError;
    expect(message).toMatch(/REFUSED to cosign .* does not extend the tree of 17 events/);
    expect(evidence.cosigned).toBe(cosigned.note);
    expect(evidence.offered).toBe(forged!.note);
    // Both notes are signed by the log's key: the evidence stands on its own.
    expect(openNote(evidence.cosigned, [logVerifier()]).size).toBe(17);
    expect(openNote(evidence.offered, [logVerifier()]).size).toBe(20);
    expect(await readWitnessState(daveState)).toEqual(cosigned);

    // A fresh witness, shown only the new history, cosigns it; verify requiring both (and
    // the earlier witnesses' cosignatures of the old history) fails.
    await run(erin, path.join(dir, 'erin.json'));
    const result = await verifyWitnesses([dave, erin], 2);
    expect(result.ok).toBe(false);
    expect(result.problems.join('\n')).toMatch(
      /dave's cosignature .* vouches for root .* of the first 17 events, but the log's tree has/,
    );

    // And the notes of the forged checkpoints are of this tree: the split view shows in the cosignatures.
    expect((await checkCheckpointNotes(t.pool, t.db, logKey.publicKey)).ok).toBe(true);
  });

  it('refuses a log that went back, and a checkpoint not signed by the log key', async () => {
    const frank = witness('witness.example.com/frank');
    const state = path.join(dir, 'frank.json');
    await run(frank, state);
    const saved = (await readWitnessState(state))!;
    await writeWitnessState(state, {
      ...saved,
      size: saved.size + 5,
      note: saved.note.replace(`\n${saved.size}\n`, `\n${saved.size + 5}\n`),
    });
    await expect(run(frank, state)).rejects.toThrow(/went back/);

    const stranger = witness('witness.example.com/grace');
    await expect(
      witnessOnce(t.pool, t.db, {
        signer: stranger,
        logKey: noteVerifier(origin, randomKey().publicKey),
        state: null,
        now,
      }),
    ).rejects.toThrow(/not signed by the log key/);
  });

  it('refuses, with both notes, a checkpoint whose events were deleted after it was signed', async () => {
    const heidi = witness('witness.example.com/heidi');
    const state = path.join(dir, 'heidi.json');
    expect((await run(heidi, state)).kind).toBe('cosigned');
    await seedEvents(t, 2);
    const signed = (await makeCheckpoint(t.db, logKey))!;
    await tamper(t, `delete from audit_events where seq > ${signed.seq - 2}`);
    const refusal = await run(heidi, state).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refusal).toBeInstanceOf(WitnessRefusedError);
    expect((refusal as WitnessRefusedError).message).toMatch(/no consistency proof can be read for it/);
    expect((refusal as WitnessRefusedError).evidence.offered).toBe(signed.note);
  });

  it('refuses UPDATE, DELETE and TRUNCATE of cosignatures', async () => {
    await expect(t.query('update audit_cosignatures set witness = witness')).rejects.toThrow(/append-only/);
    await expect(t.query('delete from audit_cosignatures')).rejects.toThrow(/append-only/);
    await expect(t.query('truncate audit_cosignatures')).rejects.toThrow(/append-only/);
  });
});

describe('gatehouse audit witness, checkpoint, prove and verify --witness (the command line)', () => {
  let t: TestDatabase;
  let dir: string;
  const role = `witness_test_${Math.random().toString(16).slice(2, 10)}`;
  let witnessUrl: string;
  let bot: Record<string, string>;
  const gatehouse = (settings: Record<string, string>, ...args: string[]): Promise<Exit> =>
    runNode(['bin/gatehouse.js', ...args], childEnv({ LOG_LEVEL: 'warn', ...settings }));

  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-witness-cli-'));
    bot = { DATABASE_URL: t.url, GATEHOUSE_CHECKPOINT_KEY_FILE: path.join(dir, 'log.pem') };
    // The witness's role as sql/least-privilege.sql grants it: reads, and INSERT on one table.
    await t.query(`create role ${role} login password 'witness-pw'`);
    for (const statement of WITNESS_GRANTS) await t.query(statement.replaceAll('gatehouse_witness', role));
    const url = new URL(t.url);
    url.username = role;
    url.password = 'witness-pw';
    witnessUrl = url.toString();
  });
  afterAll(async () => {
    await killLeftoverChildren();
    await t.query(`drop owned by ${role}`);
    await t.destroy();
    await t.query(`drop role ${role}`).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('cosigns as a least-privilege role, verifies N witnesses, proves against the signed note, and refuses a split view', async () => {
    expect(
      (await gatehouse({ DATABASE_URL: t.url }, 'audit', 'keygen', '--out', bot.GATEHOUSE_CHECKPOINT_KEY_FILE!)).code,
    ).toBe(0);
    const logKey = (await loadCheckpointKey({ privateKeyFile: bot.GATEHOUSE_CHECKPOINT_KEY_FILE }))!;
    await seedEvents(t, 12);
    const checkpoint = await gatehouse(bot, 'audit', 'checkpoint');
    expect(checkpoint.code, checkpoint.output).toBe(0);
    expect(checkpoint.stdout).toMatch(
      /Its signed note \(c2sp.org\/tlog-checkpoint\): the Merkle tree of the first 12 events/,
    );
    const vkey = /The log's verifier key, for witnesses and signed-note tools: (\S+)/.exec(checkpoint.stdout)![1]!;
    expect(parseVkey(vkey).publicKey.hex).toBe(logKey.publicKey.hex);

    // Witness 1 is given the log's vkey as text, witness 2 as a file holding it.
    const vkeyFile = path.join(dir, 'log.vkey');
    await fs.writeFile(vkeyFile, `${vkey}\n`);
    const vkeys: string[] = [];
    for (const name of ['w1.example.com/audit', 'w2.example.com/audit']) {
      const made = await gatehouse(
        {},
        'audit',
        'witness-keygen',
        '--name',
        name,
        '--out',
        path.join(dir, `${name.slice(0, 2)}.pem`),
      );
      expect(made.code, made.output).toBe(0);
      vkeys.push(/audit verify --witness`:\n\s+(\S+)/.exec(made.stdout)![1]!);
    }
    const witnessRun = (n: 1 | 2) =>
      gatehouse(
        { DATABASE_URL: witnessUrl },
        'audit',
        'witness',
        '--key',
        path.join(dir, `w${n}.pem`),
        '--name',
        `w${n}.example.com/audit`,
        '--log-key',
        n === 1 ? vkey : vkeyFile,
        '--state',
        path.join(dir, `w${n}.json`),
      );
    const first = await witnessRun(1);
    expect(first.code, first.output).toBe(0);
    expect(first.stdout).toMatch(/Cosigned checkpoint #1: 12 events, root [0-9a-f]{64} \(first run/);
    expect(first.stdout).toMatch(/^— w1\.example\.com\/audit \S+$/m);

    const verify = (...args: string[]) =>
      gatehouse({ DATABASE_URL: t.url }, 'audit', 'verify', '--public-key', logKey.publicKey.hex, ...args);
    const one = await verify('--witness', vkeys[0]!, '--witness', vkeys[1]!, '--witnesses', '2');
    expect(one.code).toBe(1);
    expect(one.stdout).toContain('✘ witnesses: 1 of 2 cosigned, 2 required.');
    expect(one.stdout).toContain('✘ missing: w2.example.com/audit');
    expect((await witnessRun(2)).code).toBe(0);
    const both = await verify('--witness', vkeys[0]!, '--witness', vkeys[1]!);
    expect(both.code, both.output).toBe(0);
    expect(both.stdout).toMatch(/✔ checkpoint notes: 1 signed and matching the Merkle tree/);
    expect(both.stdout).toMatch(/✔ witnesses: 2 of 2 cosigned \(2 required\); every event up to seq 12/);

    // A proof against the newest checkpoint carries its note; the auditor needs only the log key.
    await seedEvents(t, 2);
    const proved = await gatehouse({ DATABASE_URL: t.url }, 'audit', 'prove', '5');
    expect(proved.code, proved.output).toBe(0);
    const proofFile = path.join(dir, 'proof.json');
    await fs.writeFile(proofFile, proved.stdout);
    expect(JSON.parse(proved.stdout)).toMatchObject({ size: 12, checkpoint: expect.stringContaining('\n12\n') });
    const checked = await gatehouse({}, 'audit', 'verify-proof', proofFile, '--public-key', logKey.publicKey.hex);
    expect(checked.code, checked.output).toBe(0);
    expect(checked.stdout).toContain('The root is the one the log signed, with the key given');
    const otherKey = randomKey().publicKey.hex;
    expect((await gatehouse({}, 'audit', 'verify-proof', proofFile, '--public-key', otherKey)).code).toBe(1);

    // The split view: event 3 rewritten, the old checkpoint dropped, the new history signed.
    await rewriteFrom(t, 3, (event) => ({ ...event, actor: 'U0MALLORY' }));
    await tamperCheckpoints(t, 'delete from audit_checkpoints');
    expect((await gatehouse(bot, 'audit', 'checkpoint')).code).toBe(0);
    const refused = await witnessRun(1);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /REFUSED to cosign checkpoint #2: its tree of 14 events .* does not extend the tree of 12 events/,
    );
    expect(refused.stderr).toContain('The checkpoint this witness cosigned before:');
    expect(refused.stderr).toMatch(/\n12\n[A-Za-z0-9+/]{43}=\n\n— gatehouse\.local\//);
    expect(refused.stderr).toMatch(/The checkpoint the log shows now:\n.*\n14\n/);
    const caught = await verify('--witness', vkeys[0]!, '--witness', vkeys[1]!, '--witnesses', '1');
    expect(caught.code).toBe(1);
    expect(caught.stdout).toMatch(/w1\.example\.com\/audit's cosignature of checkpoint #1 vouches for root/);

    // The witness's role cannot change what it wrote, nor write anywhere else.
    const asWitness = new pg.Client({ connectionString: witnessUrl });
    await asWitness.connect();
    try {
      await expect(asWitness.query('delete from audit_cosignatures')).rejects.toThrow(/permission denied/);
      await expect(asWitness.query(`insert into audit_checkpoints (log_id) values ('x')`)).rejects.toThrow(
        /permission denied/,
      );
    } finally {
      await asWitness.end();
    }
  }, 240_000);
});
