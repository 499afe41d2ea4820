import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { Command } from 'commander';
import { headSeq } from '../audit/verify.ts';
import { verifyExportFile } from '../audit/verify-file.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { ConfigError, loadConfig, type Config } from '../config/env.ts';
import { loadPolicyFile, PolicyError } from '../config/policy.ts';
import { openDatabase, type DatabaseHandle } from '../db/database.ts';
import { migrateToLatest, pendingMigrations } from '../db/migrate.ts';
import { createLogger } from '../log.ts';
import { formatVerifyReport, progressReporter } from './output.ts';

/** Exit codes: 0 done / log whole, 1 log not whole, 2 could not run. */
const EXIT_BROKEN = 1;
const EXIT_ERROR = 2;

function config(): Config {
  return loadConfig();
}

async function withDatabase<T>(work: (database: DatabaseHandle, cfg: Config) => Promise<T>): Promise<T> {
  const cfg = config();
  // Progress and reports go to the terminal; only warnings from the plumbing are logged.
  const log = createLogger({ level: cfg.logLevel === 'info' ? 'warn' : cfg.logLevel, destination: process.stderr });
  const database = await openDatabase({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir, log, poolSize: 2 });
  try {
    return await work(database, cfg);
  } finally {
    await database.close();
  }
}

async function requireSchema(database: DatabaseHandle): Promise<void> {
  const pending = await pendingMigrations(database.db);
  if (pending.length > 0) {
    throw new Error(`The database has no complete Gatehouse schema (${pending.length} migration(s) pending): run \`gatehouse migrate\` first.`);
  }
}

const program = new Command();
program
  .name('gatehouse')
  .description('Gatehouse: just-in-time access approved in Slack, with a tamper-evident audit log.\nDatabase: DATABASE_URL, or the embedded PostgreSQL under GATEHOUSE_DATA_DIR (.data).')
  .showHelpAfterError();

program
  .command('migrate')
  .description('apply pending database migrations (safe to run from several processes at once)')
  .action(async () => {
    await withDatabase(async (database) => {
      const applied = await migrateToLatest(database.db);
      console.log(applied.length > 0 ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'The database is up to date.');
    });
  });

const audit = program.command('audit').description('check and export the hash-chained audit log');

audit
  .command('verify')
  .description('recompute every hash in the database; exit 0 only when the log is whole')
  .option('--json', 'print the result as JSON')
  .action(async (options: { json?: boolean }) => {
    await withDatabase(async (database) => {
      await requireSchema(database);
      const total = await headSeq(database.pool);
      const log = new AuditLog(database.db, database.pool, createLogger({ level: 'silent' }));
      const result = await log.verify({ onProgress: options.json ? undefined : progressReporter('verifying', total) });
      console.log(options.json ? JSON.stringify(result, null, 2) : formatVerifyReport(result, 'The audit log'));
      if (!result.ok) process.exitCode = EXIT_BROKEN;
    });
  });

audit
  .command('export')
  .description('write the log as JSON Lines, one event a line, with all that is needed to verify it offline')
  .requiredOption('--out <file>', 'file to write (replaced only once the export is complete)')
  .action(async (options: { out: string }) => {
    await withDatabase(async (database) => {
      await requireSchema(database);
      const log = new AuditLog(database.db, database.pool, createLogger({ level: 'silent' }));
      await log.flush();
      const { events } = await log.export(options.out);
      console.log(`Exported ${events} events to ${options.out}. Check it anywhere with: gatehouse audit verify-file ${options.out}`);
    });
  });

audit
  .command('verify-file')
  .description('verify an export with no database or bot: exit 0 only when it is whole')
  .argument('<file>', 'a file written by `gatehouse audit export`')
  .option('--json', 'print the result as JSON')
  .action(async (file: string, options: { json?: boolean }) => {
    try {
      await access(file, constants.R_OK);
    } catch {
      throw new Error(`cannot read ${file}: no such file, or no permission. Give the path of a file written by \`gatehouse audit export\`.`);
    }
    const result = await verifyExportFile(file, { onProgress: options.json ? undefined : progressReporter('verifying', null) });
    if (process.stderr.isTTY && !options.json) process.stderr.write('\n');
    console.log(options.json ? JSON.stringify(result, null, 2) : formatVerifyReport(result, file));
    if (!result.ok) process.exitCode = EXIT_BROKEN;
  });

program
  .command('policy')
  .description('check a policy file and summarise it')
  .argument('[file]', 'policy file (default: GATEHOUSE_POLICY or gatehouse.yml)')
  .action(async (file: string | undefined) => {
    const loaded = await loadPolicyFile(file ?? config().policyFile);
    console.log(`${loaded.path} is valid (sha256 ${loaded.sha256}).`);
    for (const r of loaded.policy.resources) {
      console.log(`  ${r.id}: ${r.name}; ${r.owners.length} owner(s), ${r.approvalsRequired} approval(s) needed, provisioner ${r.provisioner.kind}`);
    }
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ConfigError || err instanceof PolicyError) {
    console.error(err.message);
  } else {
    console.error(`gatehouse: ${(err as Error).message}`);
  }
  process.exitCode = EXIT_ERROR;
}
