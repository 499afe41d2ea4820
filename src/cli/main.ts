import { queueCheckpointPost } from '../access/notifications.ts';
import { constants } from 'node:fs';
import { access, open } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { AnchorReadError, appendAnchor, readLastAnchor } from '../audit/checkpoints/anchors.ts';
import { checkpointToJson } from '../audit/checkpoints/checkpoint.ts';
import type { AnchoredVerifyResult } from '../audit/checkpoints/checks.ts';
import {
  CheckpointKeyError,
  generateCheckpointKey,
  loadCheckpointKey,
  publicKeyPem,
} from '../audit/checkpoints/keys.ts';
import {
  checkpointNoteAt,
  CheckpointRefusedError,
  latestNotedCheckpoint,
  makeCheckpoint,
} from '../audit/checkpoints/store.ts';
import { loadPublicKey } from '../audit/checkpoints/keys.ts';
import { headSeq } from '../audit/verify.ts';
import { readSinceArgument, verifySince } from '../audit/verify-since.ts';
import { formatSinceReport } from '../audit/since-report.ts';
import { verifyAnchored, verifyFileAnchored } from '../audit/checkpoints/verify-anchored.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { consistencyProofJson, inclusionProofJson, verifyProofJson } from '../audit/tree/proof-file.ts';
import { logSize, proveConsistency, proveInclusion } from '../audit/tree/store.ts';
import { ProofError } from '../audit/tree/verify.ts';
import { exportChain } from '../audit/export.ts';
import { ConfigError, loadConfig, type Config } from '../config/env.ts';
import { PolicyError } from '../config/policy.ts';
import { loadPolicyFile } from '../provisioners/index.ts';
import { openDatabase, type DatabaseHandle } from '../db/database.ts';
import { migrateToLatest, pendingMigrations } from '../db/migrate.ts';
import { createLogger } from '../log.ts';
import { resolveAnchoring, type AnchoringOptions } from './anchoring.ts';
import { locateData, type DataLocation } from './data-location.ts';
import { formatAnchoredReport, progressReporter } from './output.ts';
import { printSession, readVerifiedSession } from './session.ts';
import { registerReceiptCommands } from './receipt.ts';
import { registerReviewCommands } from './review.ts';
import {
  describeCheckpointNote,
  registerWitnessCommands,
  verifyNotesAndWitnesses,
  type WitnessVerifyOptions,
} from './witness.ts';

/** Exit codes: 0 done / log whole, 1 log not whole, 2 could not run. */
const EXIT_BROKEN = 1;
const EXIT_ERROR = 2;

function config(): Config {
  return loadConfig();
}

function cliLogger(cfg: Config) {
  // Progress and reports go to the terminal; only warnings from the plumbing are logged.
  return createLogger({ level: cfg.logLevel === 'info' ? 'warn' : cfg.logLevel, destination: process.stderr });
}

async function withDatabaseHandle<T>(
  database: DatabaseHandle,
  work: (database: DatabaseHandle) => Promise<T>,
): Promise<T> {
  try {
    return await work(database);
  } finally {
    await database.close();
  }
}

/** `migrate` only: the database is made when it does not exist yet, the embedded cluster included. */
async function withNewOrExistingDatabase<T>(work: (database: DatabaseHandle) => Promise<T>): Promise<T> {
  const cfg = config();
  const database = await openDatabase({
    databaseUrl: cfg.databaseUrl,
    dataDir: cfg.dataDir,
    log: cliLogger(cfg),
    poolSize: 2,
  });
  return withDatabaseHandle(database, work);
}

/** The database the app records into, found where it keeps it; never a new one. */
async function withRecordedDatabase<T>(
  location: DataLocation,
  work: (database: DatabaseHandle) => Promise<T>,
): Promise<T> {
  const cfg = config();
  const database = await openDatabase({
    databaseUrl: cfg.databaseUrl,
    dataDir: location.dataDir ?? cfg.dataDir,
    createCluster: false,
    log: cliLogger(cfg),
    poolSize: 2,
  });
  return withDatabaseHandle(database, work);
}

async function requireSchema(database: DatabaseHandle): Promise<void> {
  const pending = await pendingMigrations(database.db);
  if (pending.length > 0) {
    throw new Error(
      `The database has no complete Gatehouse schema (${pending.length} migration(s) pending): run \`gatehouse migrate\` first.`,
    );
  }
}

const program = new Command();
program
  .name('gatehouse')
  .description(
    'Gatehouse: just-in-time access approved in Slack, with a tamper-evident audit log.\nDatabase: DATABASE_URL, or the embedded PostgreSQL under GATEHOUSE_DATA_DIR (.data), or that of the sandbox in its sandbox/ directory.\nOnly `migrate` creates a database; the other commands read the one the app records into.',
  )
  .showHelpAfterError();

program
  .command('migrate')
  .description('apply pending database migrations (safe to run from several processes at once)')
  .action(async () => {
    await withNewOrExistingDatabase(async (database) => {
      const applied = await migrateToLatest(database.db);
      console.log(
        applied.length > 0
          ? `Applied ${applied.length} migration(s): ${applied.join(', ')}`
          : 'The database is up to date.',
      );
    });
  });

const audit = program
  .command('audit')
  .description('check and export the hash-chained audit log, and sign checkpoints of it');

const KEY_OPTION = [
  '--public-key <key-or-file>',
  'trusted checkpoint key: 64 hex digits, PEM, or a file (default: GATEHOUSE_CHECKPOINT_PUBLIC_KEY)',
] as const;
const ANCHORS_OPTION = [
  '--anchors <file>',
  'anchor file of checkpoints kept outside the database (default: GATEHOUSE_ANCHOR_FILE)',
] as const;
const CHECKPOINT_OPTION = [
  '--checkpoint <json-or-file>',
  'one trusted checkpoint, as JSON or a file holding it',
] as const;
const NO_SLACK_OPTION = [
  '--no-slack',
  'do not read back the checkpoints posted to the audit channel (read by default when SLACK_BOT_TOKEN is set)',
] as const;

interface VerifyCommandOptions extends AnchoringOptions {
  json?: boolean;
}

/**
 * Prints a verification: the full result when signed or when an export carried checkpoints;
 * the plain chain verdict otherwise, as before checkpoints.
 */
function printVerification(
  result: AnchoredVerifyResult,
  source: string,
  notes: string[],
  json: boolean | undefined,
): void {
  if (json) {
    const { ok, checked, headSeq: seq, headHash, failure } = result;
    const full = result.signed || Boolean(result.bundle);
    console.log(JSON.stringify(full ? result : { ok, checked, headSeq: seq, headHash, failure }, null, 2));
    if (!result.signed) for (const warning of result.warnings) console.error(`warning: ${warning}`);
    for (const note of notes) console.error(`note: ${note}`);
  } else {
    console.log(formatAnchoredReport(result, source));
    for (const line of bundleLines(result, source)) console.log(line);
    for (const note of notes) console.log(`  note: ${note}`);
  }
  if (!result.ok) process.exitCode = EXIT_BROKEN;
}

/**
 * What an export's own checkpoints showed. With a key, formatAnchoredReport has listed the
 * problems already; without one it lists none, so they are listed here.
 */
function bundleLines(result: AnchoredVerifyResult, source: string): string[] {
  const bundle = result.bundle;
  if (!bundle) return [];
  const lines: string[] = [];
  if (!result.signed) {
    for (const p of result.problems) {
      lines.push(`✘ ${source} is NOT whole: ${p.reason} at seq ${p.seq}, caught by ${p.source}.`, `  ${p.message}`);
    }
    if (!result.failure && !result.ok) {
      lines.push(
        `  The hash chain itself holds: ${result.checked} event(s) checked; head: seq ${result.headSeq}, hash ${result.headHash}.`,
      );
    }
  }
  // A note that fails is the notes' line below, not the checkpoints'.
  const mark = result.problems.every((p) => p.reason === 'bad-note') ? '✔' : '✘';
  const latest = bundle.latestSeq === null ? '' : `; newest: seq ${bundle.latestSeq}, ${bundle.latestTime}`;
  const how = result.signed
    ? `checked with key ${result.keyId}`
    : `chained and held, signatures NOT checked (they name key ${bundle.claimedKeyId ?? 'none'})`;
  lines.push(
    bundle.checked === 0
      ? `  ${source} is an export of log ${bundle.logId} and carries no checkpoint.`
      : `${mark} export's checkpoints: ${bundle.checked} of log ${bundle.logId}, ${how}${latest}.`,
  );
  // Their signed notes against the Merkle tree of the file's events (docs/merkle.md §11.3).
  const notes = result.treeNotes;
  const badNotes = result.problems.filter((p) => p.reason === 'bad-note').length;
  const older = notes?.withoutNote ? ` (${notes.withoutNote} checkpoint(s) carry none)` : '';
  if (badNotes > 0)
    lines.push(`✘ export's checkpoint notes: ${badNotes} do NOT hold, of ${badNotes + notes!.checked}${older}.`);
  else if (notes && notes.checked > 0) {
    lines.push(
      `✔ export's checkpoint notes: ${notes.checked} ${result.signed ? 'signed and ' : ''}matching the Merkle tree of its events${older}.`,
    );
    if (!result.signed)
      lines.push("  note: without the public key the notes' signatures were NOT checked, only their roots.");
  } else if (notes?.withoutNote) lines.push(`  No checkpoint in ${source} carries a signed note${older}.`);
  return lines;
}

audit
  .command('verify')
  .description(
    'recompute every hash in the database and check the signed checkpoints and anchors; exit 0 only when the log is whole',
  )
  .option(
    '--witness <vkey>',
    "a witness's verifier key (name+keyid+base64, or a file): its cosignatures are checked; repeat for several",
    (value: string, previous: string[] = []) => [...previous, value],
  )
  .option('--witnesses <n>', 'how many of the --witness keys must have cosigned (default: all given)')
  .option(...KEY_OPTION)
  .option(...ANCHORS_OPTION)
  .option(...CHECKPOINT_OPTION)
  .option(...NO_SLACK_OPTION)
  .option('--json', 'print the result as JSON')
  .option(
    '--since <checkpoint>',
    'verify only the events after a checkpoint you trust: its JSON or a file holding it (an anchor line you kept), or a database checkpoint id (#12); needs the public key',
  )
  .action(async (options: VerifyCommandOptions & { since?: string }) => {
    const location = await locateData(config());
    const anchoring = await resolveAnchoring(options, config(), location.localKeyFile);
    const notes = [...location.notes, ...anchoring.notes];
    await withRecordedDatabase(location, async (database) => {
      await requireSchema(database);
      if (options.since !== undefined) {
        const since = await readSinceArgument(options.since, anchoring.publicKey);
        const result = await verifySince(database.pool, { ...anchoring, since, publicKey: anchoring.publicKey! });
        if (options.json) printVerification(result, 'The audit log', notes, true);
        else console.log([formatSinceReport(result, 'The audit log'), ...notes.map((n) => `  note: ${n}`)].join('\n'));
        if (!result.ok) process.exitCode = EXIT_BROKEN;
        // The notes of the trusted checkpoint and those after it, and the witnesses, as a full verify checks them.
        await verifyNotesAndWitnesses(
          database,
          anchoring.publicKey,
          result.headSeq,
          options as WitnessVerifyOptions,
          result.since.seq,
        );
        return;
      }
      const total = await headSeq(database.pool);
      const result = await verifyAnchored(database.pool, {
        publicKey: anchoring.publicKey,
        anchors: anchoring.anchors,
        onProgress: options.json ? undefined : progressReporter('verifying', total),
      });
      printVerification(result, 'The audit log', notes, options.json);
      // The checkpoints' signed notes against the Merkle tree, and the witnesses (docs/merkle.md §11, §12).
      await verifyNotesAndWitnesses(database, anchoring.publicKey, result.headSeq, options as WitnessVerifyOptions);
    });
  });

audit
  .command('session')
  .description(
    "verify the log as `audit verify` does, then show one gateway session's statements from it, in order; nothing if the log is not whole",
  )
  .argument('<session-id>', 'the session (ses_…), the subject of its gateway.* events')
  .option(...KEY_OPTION)
  .option(...ANCHORS_OPTION)
  .option(...CHECKPOINT_OPTION)
  .option(...NO_SLACK_OPTION)
  .option('--json', "print only the session's events, one a line, each exactly as stored and hashed")
  .action(async (sessionId: string, options: VerifyCommandOptions) => {
    const location = await locateData(config());
    const anchoring = await resolveAnchoring(options, config(), location.localKeyFile);
    const notes = [...location.notes, ...anchoring.notes];
    await withRecordedDatabase(location, async (database) => {
      await requireSchema(database);
      // As export does: what is queued is chained first, so the newest statements are shown.
      await new AuditLog(database.db, database.pool, createLogger({ level: 'silent' })).flush();
      const total = await headSeq(database.pool);
      const session = await readVerifiedSession(database.pool, sessionId, {
        publicKey: anchoring.publicKey,
        anchors: anchoring.anchors,
        onProgress: options.json ? undefined : progressReporter('verifying', total),
      });
      process.exitCode = printSession(sessionId, session, notes, Boolean(options.json));
    });
  });

audit
  .command('keygen')
  .description('make an Ed25519 key for signing checkpoints, and print its public key for auditors')
  .option(
    '--out <file>',
    'where to write the private key (PEM, mode 0600; an existing file is never replaced)',
    'gatehouse-checkpoint-key.pem',
  )
  .action(async (options: { out: string }) => {
    const { key, pem } = generateCheckpointKey();
    await writeNewSecret(options.out, pem);
    const file = path.resolve(options.out);
    console.log(
      `Wrote a new checkpoint signing key to ${file} (mode 0600). Keep it secret, off the database host, and backed up.`,
    );
    console.log(`Give it to the bot with:\n  GATEHOUSE_CHECKPOINT_KEY_FILE=${file}`);
    console.log(`\nPublic key (key id ${key.publicKey.keyId}), for auditors and for verifying:`);
    console.log(`  GATEHOUSE_CHECKPOINT_PUBLIC_KEY=${key.publicKey.hex}`);
    console.log(`  gatehouse audit verify --public-key ${key.publicKey.hex}`);
    console.log(`\nThe same public key as PEM (for openssl):\n${publicKeyPem(key.publicKey).trimEnd()}`);
  });

audit
  .command('checkpoint')
  .description("sign the log's head now, store the checkpoint, and append it to GATEHOUSE_ANCHOR_FILE")
  .option('--json', 'print only the checkpoint, as one line of JSON')
  .action(async (options: { json?: boolean }) => {
    const cfg = config();
    const key = await loadCheckpointKey(cfg.checkpoint);
    if (!key) {
      throw new ConfigError(
        'No checkpoint signing key is set: set GATEHOUSE_CHECKPOINT_KEY_FILE (or GATEHOUSE_CHECKPOINT_KEY). Make one with `gatehouse audit keygen --out FILE`.',
      );
    }
    await withRecordedDatabase(await locateData(cfg), async (database) => {
      await requireSchema(database);
      await new AuditLog(database.db, database.pool, createLogger({ level: 'silent' })).flush();
      const lastAnchor = cfg.checkpoint.anchorFile ? await readLastAnchor(cfg.checkpoint.anchorFile) : null;
      // With a bot token set, the bot posts it to the audit channel too (from the outbox).
      const publish = cfg.slack.botToken ? { inTransaction: queueCheckpointPost } : {};
      const checkpoint = await makeCheckpoint(database.db, key, {
        lastAnchor,
        origin: cfg.checkpoint.origin,
        ...publish,
      });
      if (!checkpoint) {
        console.log('The audit log holds no events yet: there is nothing to checkpoint.');
        return;
      }
      if (cfg.checkpoint.anchorFile) await appendAnchor(cfg.checkpoint.anchorFile, checkpoint);
      if (options.json) {
        console.log(checkpointToJson(checkpoint));
        return;
      }
      console.log(
        `Signed checkpoint #${checkpoint.id}: seq ${checkpoint.seq}, hash ${checkpoint.hash}, ${checkpoint.time}, key ${checkpoint.keyId}.`,
      );
      if (cfg.slack.botToken) console.log('The running bot posts it to the audit channel as well.');
      console.log(
        cfg.checkpoint.anchorFile
          ? `Appended to the anchor file ${cfg.checkpoint.anchorFile}.`
          : "No anchor file is set (GATEHOUSE_ANCHOR_FILE): keep this line somewhere the database's admins cannot write:",
      );
      console.log(checkpointToJson(checkpoint));
      if (checkpoint.note) console.log(describeCheckpointNote(checkpoint.note, key.publicKey));
    });
  });

audit
  .command('export')
  .description(
    'write the log as JSON Lines: a header naming the log and key, its signed checkpoints, then one event a line; all that is needed to verify it offline',
  )
  .requiredOption('--out <file>', 'file to write (replaced only once the export is complete)')
  .action(async (options: { out: string }) => {
    const location = await locateData(config());
    for (const note of location.notes) console.log(note);
    await withRecordedDatabase(location, async (database) => {
      await requireSchema(database);
      await new AuditLog(database.db, database.pool, createLogger({ level: 'silent' })).flush();
      const { events, checkpoints } = await exportChain(database.pool, options.out);
      console.log(
        `Exported ${events} events and ${checkpoints} checkpoint(s) to ${options.out}. Check it anywhere with: gatehouse audit verify-file ${options.out} --public-key KEY`,
      );
    });
  });

audit
  .command('verify-file')
  .description(
    'verify an export with no database or bot, against the public key and the anchors; exit 0 only when it is whole',
  )
  .argument('<file>', 'a file written by `gatehouse audit export`')
  .option(...KEY_OPTION)
  .option(...ANCHORS_OPTION)
  .option(...CHECKPOINT_OPTION)
  .option('--json', 'print the result as JSON')
  .action(async (file: string, options: VerifyCommandOptions) => {
    try {
      await access(file, constants.R_OK);
    } catch {
      throw new Error(
        `cannot read ${file}: no such file, or no permission. Give the path of a file written by \`gatehouse audit export\`.`,
      );
    }
    // Offline by design: the auditor's own anchors only, never the bot's Slack.
    const anchoring = await resolveAnchoring({ ...options, slack: false }, config());
    const result = await verifyFileAnchored(file, {
      publicKey: anchoring.publicKey,
      anchors: anchoring.anchors,
      onProgress: options.json ? undefined : progressReporter('verifying', null),
    });
    if (process.stderr.isTTY && !options.json) process.stderr.write('\n');
    printVerification(result, file, anchoring.notes, options.json);
  });

// The Merkle tree over the log (docs/merkle.md): proofs printed as JSON, and checked with no database.
function wholeNumber(name: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value))
    throw new Error(`${name} must be a whole number, like 42, not "${text}"`);
  return value;
}

audit
  .command('prove')
  .description("print a proof (JSON) that the event of seq SEQ is in the log's Merkle tree of the first N events")
  .argument('<seq>', 'the event')
  .option(
    '--size <n>',
    "the tree's size: the first N events (default: the newest checkpoint's, whose signed note the proof then carries; else every event)",
  )
  .action(async (seq: string, options: { size?: string }) => {
    const location = await locateData(config());
    for (const note of location.notes) console.error(`note: ${note}`);
    await withRecordedDatabase(location, async (database) => {
      await requireSchema(database);
      const wanted = wholeNumber('seq', seq);
      const noted = options.size === undefined ? await latestNotedCheckpoint(database.pool) : null;
      const size =
        options.size !== undefined
          ? wholeNumber('--size', options.size)
          : noted && noted.seq >= wanted
            ? noted.seq
            : await logSize(database.db);
      const proof = await proveInclusion(database.db, wanted, size);
      console.log(inclusionProofJson(proof, await checkpointNoteAt(database.pool, size)));
    });
  });

audit
  .command('consistency')
  .description('print a proof (JSON) that the tree of the first SIZE2 events extends the tree of the first SIZE1')
  .argument('<size1>', "the earlier size, a checkpoint's seq say")
  .argument('<size2>', 'the later size, at most the number of events')
  .action(async (size1: string, size2: string) => {
    const location = await locateData(config());
    for (const note of location.notes) console.error(`note: ${note}`);
    await withRecordedDatabase(location, async (database) => {
      await requireSchema(database);
      const proof = await proveConsistency(database.db, wholeNumber('size1', size1), wholeNumber('size2', size2));
      const [checkpoint1, checkpoint2] = [
        await checkpointNoteAt(database.pool, proof.size1),
        await checkpointNoteAt(database.pool, proof.size2),
      ];
      console.log(consistencyProofJson(proof, { checkpoint1, checkpoint2 }));
    });
  });

audit
  .command('verify-proof')
  .description('check a proof printed by `audit prove` or `audit consistency`, offline; exit 0 only when it holds')
  .argument('<file>', 'the proof, as printed')
  .option('--root <hex>', 'a root you trust for the tree the proof ends at (size, or size2): the proof must lead to it')
  .option('--root1 <hex>', 'a root you trust for the earlier tree of a consistency proof')
  .option(
    '--public-key <key-or-file>',
    "the log's checkpoint key: the proof's signed checkpoint notes must carry its roots, so no --root is needed",
  )
  .action(async (file: string, options: { root?: string; root1?: string; publicKey?: string }) => {
    const logKey = options.publicKey === undefined ? null : await loadPublicKey(options.publicKey, '--public-key');
    let text: string;
    try {
      const handle = await open(file);
      text = await handle.readFile('utf8').finally(() => handle.close());
    } catch {
      throw new Error(`cannot read ${file}: give the path of a proof printed by \`gatehouse audit prove\``);
    }
    try {
      const proved = verifyProofJson(text, { ...options, logKey });
      console.log(
        proved.kind === 'inclusion'
          ? `The proof holds: event ${proved.seq} is in the tree of the first ${proved.size} events, root ${proved.root}.`
          : `The proof holds: the tree of the first ${proved.size2} events (root ${proved.root2}) extends that of the first ${proved.size1} (root ${proved.root1}).`,
      );
      if (proved.signedBy.length > 0)
        console.log(`  The root is the one the log signed, with the key given, as ${proved.signedBy.join(' and ')}.`);
      else if (options.root === undefined)
        console.log('  note: no --root given, so the root is the one the proof names; compare it with one you trust.');
      if (proved.unchecked > 0)
        console.log("  note: the proof carries the log's signed checkpoint note: give --public-key to check it.");
    } catch (err) {
      if (!(err instanceof ProofError)) throw err;
      console.error(`The proof does not hold: ${err.message}.`);
      process.exitCode = EXIT_BROKEN;
    }
  });

// Witnesses an auditor runs with their own key (docs/merkle.md §12).
registerWitnessCommands(audit, {
  withDatabase: async (work) =>
    withRecordedDatabase(await locateData(config()), async (database) => {
      await requireSchema(database);
      return work(database);
    }),
});

// A grant's receipt and its offline check (docs/merkle.md §13).
registerReceiptCommands(audit, {
  config,
  withDatabase: async (work) =>
    withRecordedDatabase(await locateData(config()), async (database) => {
      await requireSchema(database);
      return work(database);
    }),
});

// Access reviews: the evidence export (docs/reviews.md).
registerReviewCommands(program, {
  config,
  policy: async () => (await loadPolicyFile(config().policyFile).catch(() => null))?.policy ?? null,
  withDatabase: async (work) =>
    withRecordedDatabase(await locateData(config()), async (database) => {
      await requireSchema(database);
      return work(database);
    }),
});

/** Writes a secret to a new file, readable by its owner only; never replaces one. */
async function writeNewSecret(file: string, text: string): Promise<void> {
  let handle;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new Error(
        `${file} already exists, and keygen never replaces a key (checkpoints it signed would stop verifying). Choose another --out, or move the old key away first.`,
      );
    }
    throw new Error(`cannot create ${file}: ${(err as Error).message}`);
  }
  try {
    await handle.chmod(0o600);
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

program
  .command('policy')
  .description('check a policy file and summarise it')
  .argument('[file]', 'policy file (default: GATEHOUSE_POLICY or gatehouse.yml)')
  .action(async (file: string | undefined) => {
    const loaded = await loadPolicyFile(file ?? config().policyFile);
    console.log(`${loaded.path} is valid (sha256 ${loaded.sha256}).`);
    for (const r of loaded.policy.resources) {
      console.log(
        `  ${r.id}: ${r.name}; ${r.owners.length} owner(s), ${r.approvalsRequired} approval(s) needed, provisioner ${r.provisioner.kind}`,
      );
    }
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = EXIT_ERROR;
  if (
    err instanceof ConfigError ||
    err instanceof CheckpointKeyError ||
    err instanceof PolicyError ||
    err instanceof AnchorReadError
  ) {
    console.error(err.message);
  } else if (err instanceof CheckpointRefusedError) {
    // The log does not extend its newest checkpoint: that is a verdict on the log, not a failure to run.
    console.error(`gatehouse: refused to sign a checkpoint: ${err.message}`);
    process.exitCode = EXIT_BROKEN;
  } else {
    console.error(`gatehouse: ${(err as Error).message}`);
  }
}
