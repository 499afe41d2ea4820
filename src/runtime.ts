import { once } from 'node:events';
import fs from 'node:fs/promises';
import type http from 'node:http';
import type { AccessService } from './access/service.ts';
import { AuditLog } from './audit/audit-log.ts';
import { accessService, checkpointer as makeCheckpointer } from './composition.ts';
import { BackgroundThread } from './background/thread.ts';
import { loadCheckpointKey, loadPublicKey } from './audit/checkpoint-keys.ts';
import type { AnchoredVerifyResult } from './audit/checkpoint-checks.ts';
import { Checkpointer } from './audit/checkpointer.ts';
import type { AnchoredVerifyOptions } from './audit/verify-anchored.ts';
import { slackMode, type Config } from './config/env.ts';
import { checkMfaSetup } from './mfa/setup.ts';
import type { LoadedPolicy } from './config/policy.ts';
import { recordPolicy } from './audit/policy-record.ts';
import { openDatabase, type DatabaseHandle } from './db/database.ts';
import { migrateToLatest, pendingMigrations } from './db/migrate.ts';
import { createHealthServer } from './http/health.ts';
import { listenError } from './http/listen-error.ts';
import type { Logger } from './log.ts';
import { checkProvisioners, checkProvisionerTargets, loadPolicyFile } from './provisioners/index.ts';
import { ownDatabaseOf } from './provisioners/postgres-checks.ts';
import { closePostgresTargets } from './provisioners/postgres.ts';
import { checkSlackToken, slackClient, startSlack, type SlackRuntime } from './slack/app.ts';
import type { VerificationSettings } from './slack/verify-audit.ts';

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
  /** The port the HTTP endpoints listen on. */
  port: number;
  stop(): Promise<void>;
}

/**
 * Composition: policy -> database -> migrations -> audit sequencer -> policy on the record
 * -> access rules -> sweeps (after a catch-up run) -> Slack, its outbox and the audit feed.
 * The policy is read first, so a bad file stops start-up before anything else is touched.
 * Whatever started is stopped again if a later step fails.
 */
export async function startGatehouse(config: Config, log: Logger): Promise<Gatehouse> {
  const mode = slackMode(config);
  const policy = await loadPolicyFile(await choosePolicyFile(config, log));
  log.info({ file: policy.path, sha256: policy.sha256, resources: policy.policy.resources.length }, 'policy loaded');
  // A dry run (the sandbox's default) reaches no target, so it needs none of their settings
  // and checks none of them: every check of a target belongs behind this test.
  if (config.provisioning === 'real') checkProvisioners(policy, { ...process.env, GATEHOUSE_SECRETS_KEY: config.secretsKey }, { slackConfigured: mode.kind !== 'none' });
  checkMfaSetup(policy, config.secretsKey);

  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log });
  const stops: (() => Promise<unknown>)[] = [() => database.close(), () => closePostgresTargets()];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => log.error({ err }, 'shutdown step failed'));
  };
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
    // Every postgres target's admin can do every step of a grant and a revoke, or nothing starts.
    if (config.provisioning === 'real') await checkProvisionerTargets(policy, log, await ownDatabaseOf(database.pool));
    // Events are chained by the sequencer in the background thread, which this thread's
    // commits nudge; this one only flushes (for /verify-audit, and at shutdown).
    let background: BackgroundThread | null = null;
    const audit = new AuditLog(database.db, database.pool, log, { intervalMs: config.sequencerIntervalMs, nudge: () => background?.nudge() });
    stops.push(() => audit.sequencer.stop());
    if (await recordPolicy(audit, policy)) log.info({ sha256: policy.sha256 }, 'policy change recorded in the audit log');

    // One Web API client for this thread: auth.test at start-up, and provisioning (approvals
    // provision at once, here; slack_usergroup grants need it).
    const client = mode.kind === 'none' ? null : slackClient(mode.botToken, config.slack.apiUrl, log);
    // A wrong token stops the start here, before the background thread tries to deliver with it.
    const identity = client ? await checkSlackToken(client, config.slack.apiUrl) : null;
    const core = { config, policy, db: database.db, audit, log, slack: client };
    const access = accessService(core);
    const key = await loadCheckpointKey(config.checkpoint);
    const verification: VerificationSettings = {
      publicKey: config.checkpoint.publicKey ? await loadPublicKey(config.checkpoint.publicKey, 'GATEHOUSE_CHECKPOINT_PUBLIC_KEY') : (key?.publicKey ?? null),
      anchorFile: config.checkpoint.anchorFile ?? null,
    };
    let checkpointer: Checkpointer | null = null;
    if (key) {
      checkpointer = makeCheckpointer(core, database.pool, key);
      log.info(
        { keyId: key.publicKey.keyId, publicKey: key.publicKey.hex },
        `Signing audit checkpoints with key ${key.publicKey.keyId}. Auditors verify with: gatehouse audit verify --public-key ${key.publicKey.hex}`,
      );
      const signer = checkpointer;
      // The background thread signs (and posts) the last one as it stops; this covers a
      // thread that was down at shutdown, and is a no-op when the head is already signed.
      stops.push(async () => {
        await audit.flush();
        await signer.checkpointNow();
      });
    } else {
      log.warn('No checkpoint signing key (GATEHOUSE_CHECKPOINT_KEY or GATEHOUSE_CHECKPOINT_KEY_FILE): the audit chain is checked, but deleted newest events or a rewritten log cannot be detected. Make a key with `gatehouse audit keygen`.');
    }
    // The sweeps, the notifier and the audit feed run in a thread of their own, started
    // (and caught up on whatever fell due while no process ran) before Slack's requests
    // are taken.
    background = await BackgroundThread.start(
      { config, policy, databaseUrl: database.url, poolSize: BACKGROUND_POOL_SIZE, logLevel: log.level },
      log,
      audit.sequencer,
    );
    const started = background;
    stops.push(() => started.stop());

    let slack: SlackRuntime | null = null;
    let port: number;
    if (mode.kind === 'none') {
      const server = createHealthServer(database.db, log, () => started.running);
      port = await listen(server, config.port);
      stops.push(() => new Promise((resolve) => server.close(resolve)));
    } else {
      const deps = { access, audit, policy: () => policy, log, verification, verifyAnchored: (options: AnchoredVerifyOptions) => verifyOffThread(started, audit, log, options) };
      slack = await startSlack(
        { mode, port: config.port, identity: identity!, backgroundRunning: () => started.running, ...(config.slack.apiUrl ? { apiUrl: config.slack.apiUrl } : {}) },
        deps,
        database.db,
        log,
      );
      const runtime = slack;
      stops.push(() => runtime.stop());
      port = slack.port;
    }

    let stopping: Promise<void> | null = null;
    return {
      config,
      log,
      database,
      audit,
      policy,
      access,
      background: started,
      slack,
      checkpointer,
      port,
      stop() {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function listen(server: http.Server, port: number): Promise<number> {
  try {
    server.listen(port);
    await once(server, 'listening');
  } catch (err) {
    throw listenError(err, port);
  }
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
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

/**
 * /verify-audit's check, in the background thread when it runs: recomputing a large chain
 * takes seconds of CPU that, here, made acks ~120 ms late at p99 (docs/benchmarks.md §5). With the
 * thread down (between a crash and its restart), or failing, it runs here.
 */
async function verifyOffThread(background: BackgroundThread, audit: AuditLog, log: Logger, options: AnchoredVerifyOptions): Promise<AnchoredVerifyResult> {
  if (background.running) {
    try {
      return await background.verify({ publicKeyHex: options.publicKey?.hex ?? null, anchors: options.anchors ?? [] });
    } catch (err) {
      log.warn({ err }, 'the background thread could not verify the audit log; verifying on the main thread');
    }
  }
  return audit.verifyAnchored(options);
}
