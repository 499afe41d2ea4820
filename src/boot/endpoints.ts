import { once } from 'node:events';
import http from 'node:http';
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
import { metricsHandler } from '../metrics/endpoint.ts';
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
): Promise<{ slack: SlackRuntime | null; port: number; metricsPort: number | null }> {
  const { config, mode, identity, database, background, audit, access, policy, log, verification } = parts;
  const metrics = config.metrics.enabled ? metricsHandler(database.db, log, () => background.metrics()) : undefined;
  // On a port of its own, /metrics stays off the port Slack reaches (and the internet with it).
  let metricsPort: number | null = null;
  if (metrics && config.metrics.port !== null) {
    const server = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/metrics') return metrics(req, res);
      res.writeHead(404).end();
    });
    metricsPort = await listen(server, config.metrics.port);
    stops.push(() => new Promise((resolve) => server.close(resolve)));
    log.info({ port: metricsPort }, 'metrics on their own port: GET /metrics');
  }
  const sharedMetrics = metrics && config.metrics.port === null ? metrics : undefined;
  if (mode.kind === 'none') {
    const server = createHealthServer(database.db, log, () => background.running, sharedMetrics);
    const port = await listen(server, config.port);
    stops.push(() => new Promise((resolve) => server.close(resolve)));
    return { slack: null, port, metricsPort };
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
      ...(sharedMetrics ? { metrics: sharedMetrics } : {}),
      ...(config.slack.apiUrl ? { apiUrl: config.slack.apiUrl } : {}),
    },
    deps,
    database.db,
    log,
  );
  stops.push(() => slack.stop());
  return { slack, port: slack.port, metricsPort };
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
