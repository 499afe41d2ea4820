import type http from 'node:http';
import { App } from '@slack/bolt';
import type { SlackMode } from '../../config/env.ts';
import type { Db } from '../../db/database.ts';
import { healthRoutes } from '../../http/health.ts';
import { listenError } from '../../http/listen-error.ts';
import type { Logger } from '../../log.ts';
import { backgroundClientOptions, type SlackIdentity } from '../client.ts';
import { boltLogger } from '../logger.ts';
import { answerFailures } from './answer-failures.ts';
import type { SlackDeps } from './deps.ts';
import { registerActions } from './listeners/actions.ts';
import { registerAlerts } from './listeners/alerts.ts';
import { registerBreakGlass } from './listeners/break-glass.ts';
import { registerReviews } from './listeners/review.ts';
import { registerCommands } from './listeners/commands.ts';
import { registerEvents } from './listeners/events.ts';
import { registerGatewaySessions } from './listeners/gateway-sessions.ts';
import { registerMfa } from './listeners/mfa.ts';
import { registerReceipt } from './listeners/receipt.ts';
import { registerViews } from './listeners/views.ts';
import { slackHttpReceiver } from './receiver.ts';

export interface SlackSettings {
  mode: Exclude<SlackMode, { kind: 'none' }>;
  port: number;
  /** Web API base URL: GovSlack, or a local stand-in in tests. */
  apiUrl?: string;
  /** Who the bot is, from checkSlackToken. */
  identity: SlackIdentity;
  /** For /readyz: whether the background thread runs. */
  backgroundRunning?: () => boolean;
  /** GET /metrics on the same port, when metrics are not served on a port of their own. */
  metrics?: http.RequestListener;
}

export interface SlackRuntime {
  app: App;
  /** The port the HTTP endpoints listen on (Slack's requests in HTTP mode, health checks in both). */
  port: number;
  stop(): Promise<void>;
}

/** Starts the Bolt app in HTTP or Socket Mode, with /healthz and /readyz on the same port. */
export async function startSlack(settings: SlackSettings, deps: SlackDeps, db: Db, log: Logger): Promise<SlackRuntime> {
  const logger = boltLogger(log);
  const clientOptions = backgroundClientOptions(settings.apiUrl, log);
  const { identity } = settings;
  const common = {
    token: settings.mode.botToken,
    logger,
    botId: identity.botId,
    botUserId: identity.botUserId,
    // Listener calls (views.open within Slack's 3 s) retry briefly; background work retries from the database.
    clientOptions: { ...clientOptions, retryConfig: { retries: 2, maxTimeout: 1000 }, rejectRateLimitedCalls: false },
  };
  const customRoutes = healthRoutes(db, log, settings.backgroundRunning, settings.metrics);
  const app =
    settings.mode.kind === 'http'
      ? new App({
          ...common,
          receiver: slackHttpReceiver(
            { signingSecret: settings.mode.signingSecret, port: settings.port, customRoutes, logger },
            log,
          ),
        })
      : new App({
          ...common,
          customRoutes,
          appToken: settings.mode.appToken,
          socketMode: true,
          installerOptions: { port: settings.port, clientOptions },
        });
  // First, so it wraps every listener: a failure is answered, not left to Slack's silence.
  app.use(answerFailures(log));
  registerCommands(app, deps);
  registerActions(app, deps);
  registerViews(app, deps);
  registerEvents(app, deps);
  registerMfa(app, deps);
  registerGatewaySessions(app, deps);
  registerAlerts(app, deps);
  registerReceipt(app, deps);
  registerBreakGlass(app, deps);
  registerReviews(app, deps);
  app.error(async (error) => {
    log.error({ err: error }, 'a Slack listener failed');
  });

  let started: unknown;
  try {
    started = await app.start(settings.port);
  } catch (err) {
    throw listenError(err, settings.port);
  }
  const server = started as http.Server | undefined;
  const address = server && typeof server.address === 'function' ? server.address() : null;
  const port = typeof address === 'object' && address ? address.port : settings.port;
  log.info({ mode: settings.mode.kind, port, team: identity.team, bot: identity.botUserId }, 'connected to Slack');
  return {
    app,
    port,
    async stop() {
      await app.stop();
    },
  };
}
