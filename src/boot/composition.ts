import type { WebClient } from '@slack/web-api';
import type pg from 'pg';
import { queueCheckpointPost } from '../access/notifications.ts';
import { AccessService } from '../access/service.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { CheckpointKey } from '../audit/checkpoints/keys.ts';
import { Checkpointer } from '../audit/checkpoints/checkpointer.ts';
import type { Config } from '../config/env.ts';
import type { LoadedPolicy } from '../config/policy.ts';
import type { Db } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { dryRunProvisioner } from '../provisioners/dry-run.ts';
import { instrumentProvisioner } from '../metrics/metrics.ts';
import { provisionerFor } from '../provisioners/index.ts';
import { SecretBox } from '../secrets/sealed.ts';

/**
 * The pieces both threads build alike (the main thread answering Slack, the background
 * thread running the sweeps), so the two never disagree on how access is provisioned or
 * how checkpoints are made and published.
 */
export interface CoreParts {
  config: Config;
  policy: LoadedPolicy;
  db: Db;
  audit: AuditLog;
  log: Logger;
  /** The bot's Web API client; null when Slack is not configured. */
  slack: WebClient | null;
}

/**
 * The access rules, provisioning with this thread's Slack client and database, sealing
 * credentials with GATEHOUSE_SECRETS_KEY. In a dry run (the sandbox's default) every
 * provisioner is the dry run's, in both threads: nothing outside Gatehouse is touched.
 */
export function accessService({ config, policy, db, audit, log, slack }: CoreParts): AccessService {
  return new AccessService({
    db,
    audit,
    policy: () => policy,
    // Counted and timed by kind (GET /metrics); a dry run's calls are counted as its own kind.
    provisionerFor:
      config.provisioning === 'dry_run'
        ? (settings) => instrumentProvisioner(`${settings.kind}_dry_run`, dryRunProvisioner(settings))
        : (settings) => instrumentProvisioner(settings.kind, provisionerFor(settings, process.env, { slack, db })),
    log: log.child({ component: 'access' }),
    now: () => new Date(),
    secrets: SecretBox.fromEnv(config.secretsKey),
  });
}

/** The checkpoint signer: policy cadence, the anchor file, and with Slack a post to the audit channel. */
export function checkpointer(
  { config, policy, db, log, slack }: CoreParts,
  pool: pg.Pool,
  key: CheckpointKey,
): Checkpointer {
  return new Checkpointer(db, pool, key, log.child({ component: 'checkpoints' }), {
    everyEvents: () => policy.policy.checkpointEveryEvents,
    everyMs: () => policy.policy.checkpointEveryMs,
    ...(config.checkpoint.anchorFile ? { anchorFile: config.checkpoint.anchorFile } : {}),
    ...(slack ? { publish: queueCheckpointPost } : {}),
    postEveryMs: config.checkpoint.postEveryMs,
    origin: config.checkpoint.origin,
  });
}
