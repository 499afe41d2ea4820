import type { WebClient } from '@slack/web-api';
import type { Gateway } from '../gateway/server.ts';
import type { AccessService } from '../access/service.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { loadCheckpointKey, loadPublicKey } from '../audit/checkpoints/keys.ts';
import type { Checkpointer } from '../audit/checkpoints/checkpointer.ts';
import { recordPolicy } from '../audit/policy-record.ts';
import { BackgroundThread } from '../background/thread.ts';
import { slackMode, type Config, type SlackMode } from '../config/env.ts';
import type { LoadedPolicy } from '../config/policy.ts';
import { openDatabase, type DatabaseHandle } from '../db/database.ts';
import { migrateToLatest, pendingMigrations } from '../db/migrate.ts';
import type { Logger } from '../log.ts';
import { checkProvisionerTargets } from '../provisioners/index.ts';
import { ownDatabaseOf } from '../provisioners/postgres-checks.ts';
import { closePostgresTargets } from '../provisioners/postgres.ts';
import { checkSlackToken, slackClient, type SlackIdentity } from '../slack/client.ts';
import type { SlackRuntime } from '../slack/inbound/app.ts';
import type { VerificationSettings } from '../slack/inbound/verify-audit.ts';
import { accessService, checkpointer as makeCheckpointer, type CoreParts } from './composition.ts';
import { startThreadMetrics } from '../metrics/metrics.ts';
import { startEndpoints } from './endpoints.ts';
import { startGateway } from './gateway.ts';
import { readPolicy } from './policy-file.ts';
import { ShutdownStack } from './shutdown-stack.ts';

/** Connections the background thread keeps: sweeps revoke 8 grants at once, the notifier and the feed one each. */
const BACKGROUND_POOL_SIZE = 10;

/** Everything a running Gatehouse holds, for the adapters and for tests. */
export interface Gatehouse {
  config: Config;
  log: Logger;
  database: DatabaseHandle;
  audit: AuditLog;
  policy: LoadedPolicy;
  access: AccessService;
  /** The sweeps, the outbox notifier and the audit feed, in their own thread. */
  background: BackgroundThread;
  slack: SlackRuntime | null;
  /** Null when no signing key is configured. */
  checkpointer: Checkpointer | null;
  /** The database gateway; null when no resource is reached through it. */
  gateway: Gateway | null;
  /** The port the HTTP endpoints listen on. */
  port: number;
  /** GATEHOUSE_METRICS_PORT's listener, when metrics have a port of their own; else null. */
  metricsPort: number | null;
  stop(): Promise<void>;
}

/**
 * Start-up, part by part: policy -> database -> migrations -> audit sequencer -> policy on
 * the record -> Slack token -> access rules -> checkpoint signing -> sweeps, outbox and
 * audit feed (after a catch-up run) -> the database gateway -> Slack or the health endpoints. Each part, once
 * started, pushes how to stop it; if a later part fails, whatever started is stopped again.
 */
export async function startGatehouse(config: Config, log: Logger): Promise<Gatehouse> {
  const mode = slackMode(config);
  startThreadMetrics('main');
  const policy = await readPolicy(config, mode, log);
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log });
  const parts = new ShutdownStack(log);
  parts.push(() => database.close());
  parts.push(() => closePostgresTargets());
  try {
    await migrate(config, database, log);
    // Every postgres target's admin can do every step of a grant and a revoke, or nothing starts.
    if (config.provisioning === 'real') await checkProvisionerTargets(policy, log, await ownDatabaseOf(database.pool));
    let background: BackgroundThread | null = null;
    const audit = await startAudit(config, policy, database, log, parts, () => background?.nudge());
    const slack = await connectSlack(config, mode, log);
    const core: CoreParts = { config, policy, db: database.db, audit, log, slack: slack?.client ?? null };
    const access = accessService(core);
    const { checkpointer, verification } = await startCheckpoints(core, database, parts);
    background = await startBackground(config, policy, database, audit, log, parts);
    const gateway = await startGateway(config, policy, database, log, parts);
    const endpoints = await startEndpoints(
      {
        config,
        mode,
        identity: slack?.identity ?? null,
        database,
        background,
        audit,
        access,
        policy,
        log,
        verification,
      },
      parts,
    );
    return {
      config,
      log,
      database,
      audit,
      policy,
      access,
      background,
      checkpointer,
      gateway,
      ...endpoints,
      stop: () => parts.stop(),
    };
  } catch (err) {
    await parts.stop();
    throw err;
  }
}

/** Applies the migrations this version needs, or, when the operator applies them, refuses to run without them. */
async function migrate(config: Config, database: DatabaseHandle, log: Logger): Promise<void> {
  if (config.migrateOnStart) {
    const applied = await migrateToLatest(database.db);
    if (applied.length > 0) log.info({ migrations: applied }, 'database migrations applied');
    return;
  }
  const pending = await pendingMigrations(database.db);
  if (pending.length > 0) {
    throw new Error(
      `The database lacks ${pending.length} migration(s) (${pending.join(', ')}) and GATEHOUSE_MIGRATE_ON_START is false: run \`gatehouse migrate\` as the schema owner first.`,
    );
  }
}

/**
 * The audit log, with the policy on the record. Events are chained by the sequencer in the
 * background thread, which this thread's commits nudge; this one only flushes (for
 * /verify-audit, and at shutdown).
 */
async function startAudit(
  config: Config,
  policy: LoadedPolicy,
  database: DatabaseHandle,
  log: Logger,
  parts: ShutdownStack,
  nudge: () => void,
): Promise<AuditLog> {
  const audit = new AuditLog(database.db, database.pool, log, { intervalMs: config.sequencerIntervalMs, nudge });
  parts.push(() => audit.sequencer.stop());
  if (await recordPolicy(audit, policy)) log.info({ sha256: policy.sha256 }, 'policy change recorded in the audit log');
  return audit;
}

/**
 * One Web API client for this thread: auth.test at start-up, and provisioning (approvals
 * provision at once, here; slack_usergroup grants need it). Null without Slack.
 */
async function connectSlack(
  config: Config,
  mode: SlackMode,
  log: Logger,
): Promise<{ client: WebClient; identity: SlackIdentity } | null> {
  if (mode.kind === 'none') return null;
  const client = slackClient(mode.botToken, config.slack.apiUrl, log);
  // A wrong token stops the start here, before the background thread tries to deliver with it.
  return { client, identity: await checkSlackToken(client, config.slack.apiUrl) };
}

/** The checkpoint signer, when a key is configured, and what /verify-audit checks with. */
async function startCheckpoints(
  core: CoreParts,
  database: DatabaseHandle,
  parts: ShutdownStack,
): Promise<{ checkpointer: Checkpointer | null; verification: VerificationSettings }> {
  const { config, audit, log } = core;
  const key = await loadCheckpointKey(config.checkpoint);
  const verification: VerificationSettings = {
    publicKey: config.checkpoint.publicKey
      ? await loadPublicKey(config.checkpoint.publicKey, 'GATEHOUSE_CHECKPOINT_PUBLIC_KEY')
      : (key?.publicKey ?? null),
    anchorFile: config.checkpoint.anchorFile ?? null,
  };
  if (!key) {
    log.warn(
      'No checkpoint signing key (GATEHOUSE_CHECKPOINT_KEY or GATEHOUSE_CHECKPOINT_KEY_FILE): the audit chain is checked, but deleted newest events or a rewritten log cannot be detected. Make a key with `gatehouse audit keygen`.',
    );
    return { checkpointer: null, verification };
  }
  const checkpointer = makeCheckpointer(core, database.pool, key);
  log.info(
    { keyId: key.publicKey.keyId, publicKey: key.publicKey.hex },
    `Signing audit checkpoints with key ${key.publicKey.keyId}. Auditors verify with: gatehouse audit verify --public-key ${key.publicKey.hex}`,
  );
  // The background thread signs (and posts) the last one as it stops; this covers a
  // thread that was down at shutdown, and is a no-op when the head is already signed.
  parts.push(async () => {
    await audit.flush();
    await checkpointer.checkpointNow();
  });
  return { checkpointer, verification };
}

/**
 * The sweeps, the notifier and the audit feed run in a thread of their own, started (and
 * caught up on whatever fell due while no process ran) before Slack's requests are taken.
 */
async function startBackground(
  config: Config,
  policy: LoadedPolicy,
  database: DatabaseHandle,
  audit: AuditLog,
  log: Logger,
  parts: ShutdownStack,
): Promise<BackgroundThread> {
  const background = await BackgroundThread.start(
    { config, policy, databaseUrl: database.url, poolSize: BACKGROUND_POOL_SIZE, logLevel: log.level },
    log,
    audit.sequencer,
  );
  parts.push(() => background.stop());
  return background;
}
