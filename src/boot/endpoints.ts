import { once } from 'node:events';
import type http from 'node:http';
import type { AccessService } from '../access/service.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { AnchoredVerifyResult } from '../audit/checkpoints/checks.ts';
import type { AnchoredVerifyOptions } from '../audit/checkpoints/verify-anchored.ts';
import type { BackgroundThread } from '../background/thread.ts';
import type { Config, SlackMode } from '../config/env.ts';
import type { LoadedPolicy } from '../config/policy.ts';
import type { DatabaseHandle } from '../db/database.ts';
import { createHealthServer } from '../http/health.ts';
import { listenError } from '../http/listen-error.ts';
import type { Logger } from '../log.ts';
import type { SlackIdentity } from '../slack/client.ts';
import { startSlack, type SlackRuntime } from '../slack/inbound/app.ts';
import type { VerificationSettings } from '../slack/inbound/verify-audit.ts';
import type { ShutdownStack } from './shutdown-stack.ts';

export interface EndpointParts {
  config: Config;
  mode: SlackMode;
  /** Who the bot is; null without Slack. */
  identity: SlackIdentity | null;
  database: DatabaseHandle;
  background: BackgroundThread;
  audit: AuditLog;
  access: AccessService;
  policy: LoadedPolicy;
  log: Logger;
  verification: VerificationSettings;
}

/**
 * What listens on PORT: the Slack app (its requests in HTTP mode, and the health checks),
 * or with no Slack configured the health endpoints alone.
 */
export async function startEndpoints(
  parts: EndpointParts,
  stops: ShutdownStack,
): Promise<{ slack: SlackRuntime | null; port: number }> {
  const { config, mode, identity, database, background, audit, access, policy, log, verification } = parts;
  if (mode.kind === 'none') {
    const server = createHealthServer(database.db, log, () => background.running);
    const port = await listen(server, config.port);
    stops.push(() => new Promise((resolve) => server.close(resolve)));
    return { slack: null, port };
  }
  const deps = {
    access,
    audit,
    policy: () => policy,
    log,
    verification,
    verifyAnchored: (options: AnchoredVerifyOptions) => verifyOffThread(background, audit, log, options),
  };
  const slack = await startSlack(
    {
      mode,
      port: config.port,
      identity: identity!,
      backgroundRunning: () => background.running,
      ...(config.slack.apiUrl ? { apiUrl: config.slack.apiUrl } : {}),
    },
    deps,
    database.db,
    log,
  );
  stops.push(() => slack.stop());
  return { slack, port: slack.port };
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

/**
 * /verify-audit's check, in the background thread when it runs: recomputing a large chain
 * takes seconds of CPU that, here, made acks ~120 ms late at p99 (docs/benchmarks.md §5). With the
 * thread down (between a crash and its restart), or failing, it runs here.
 */
async function verifyOffThread(
  background: BackgroundThread,
  audit: AuditLog,
  log: Logger,
  options: AnchoredVerifyOptions,
): Promise<AnchoredVerifyResult> {
  if (background.running) {
    try {
      return await background.verify({ publicKeyHex: options.publicKey?.hex ?? null, anchors: options.anchors ?? [] });
    } catch (err) {
      log.warn({ err }, 'the background thread could not verify the audit log; verifying on the main thread');
    }
  }
  return audit.verifyAnchored(options);
}
