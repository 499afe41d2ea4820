import fs from 'node:fs/promises';
import { AuditLog } from './audit/audit-log.ts';
import type { Config } from './config/env.ts';
import { loadPolicyFile, type LoadedPolicy } from './config/policy.ts';
import { recordPolicy } from './config/policy-record.ts';
import { openDatabase, type DatabaseHandle } from './db/database.ts';
import { migrateToLatest, pendingMigrations } from './db/migrate.ts';
import type { Logger } from './log.ts';

/** Everything a running Gatehouse holds, for the adapters (Slack, CLI, sweeps) to use. */
export interface Gatehouse {
  config: Config;
  log: Logger;
  database: DatabaseHandle;
  audit: AuditLog;
  policy: LoadedPolicy;
  stop(): Promise<void>;
}

/**
 * Composition: policy -> database -> migrations -> audit sequencer -> policy on the record.
 * The policy is read first, so a bad file stops start-up before anything else is touched.
 */
export async function startGatehouse(config: Config, log: Logger): Promise<Gatehouse> {
  const policy = await loadPolicyFile(await choosePolicyFile(config, log));
  log.info({ file: policy.path, sha256: policy.sha256, resources: policy.policy.resources.length }, 'policy loaded');

  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log });
  let audit: AuditLog | null = null;
  try {
    if (config.migrateOnStart) {
      const applied = await migrateToLatest(database.db);
      if (applied.length > 0) log.info({ migrations: applied }, 'database migrations applied');
    } else {
      const pending = await pendingMigrations(database.db);
      if (pending.length > 0) {
        throw new Error(
          `The database lacks ${pending.length} migration(s) (${pending.join(', ')}) and GATEHOUSE_MIGRATE_ON_START is false: run \`gatehouse migrate\` as the schema owner first.`,
        );
      }
    }
    audit = new AuditLog(database.db, database.pool, log, { intervalMs: config.sequencerIntervalMs });
    audit.sequencer.start();
    if (await recordPolicy(audit, policy)) log.info({ sha256: policy.sha256 }, 'policy change recorded in the audit log');
  } catch (err) {
    await audit?.sequencer.stop();
    await database.close();
    throw err;
  }

  const running = audit;
  let stopping: Promise<void> | null = null;
  return {
    config,
    log,
    database,
    audit: running,
    policy,
    stop() {
      stopping ??= (async () => {
        await running.sequencer.stop();
        await database.close();
      })();
      return stopping;
    },
  };
}

export const EXAMPLE_POLICY_FILE = 'gatehouse.example.yml';

/**
 * Outside production, a first `npm start` with no gatehouse.yml runs on the example policy
 * and says so; in production, or when GATEHOUSE_POLICY names a file, that file must exist.
 */
async function choosePolicyFile(config: Config, log: Logger): Promise<string> {
  if (config.policyFileExplicit || config.nodeEnv === 'production') return config.policyFile;
  try {
    await fs.access(config.policyFile);
    return config.policyFile;
  } catch {
    log.warn(
      `No ${config.policyFile} found: running on ${EXAMPLE_POLICY_FILE}, whose people and channels are made up. ` +
        `Copy it to ${config.policyFile} and put in your own Slack ids, or set GATEHOUSE_POLICY.`,
    );
    return EXAMPLE_POLICY_FILE;
  }
}
