import type http from 'node:http';
import { App } from '@slack/bolt';
import { ErrorCode, WebClient, type WebClientOptions } from '@slack/web-api';
import type { SlackMode } from '../config/env.ts';
import type { Db } from '../db/database.ts';
import { healthRoutes } from '../http/health.ts';
import { listenError } from '../http/listen-error.ts';
import type { Logger } from '../log.ts';
import { answerFailures } from './answer-failures.ts';
import type { SlackDeps } from './deps.ts';
import { registerActions } from './listeners/actions.ts';
import { registerCommands } from './listeners/commands.ts';
import { registerEvents } from './listeners/events.ts';
import { registerMfa } from './listeners/mfa.ts';
import { registerViews } from './listeners/views.ts';
import { boltLogger } from './logger.ts';
import { slackHttpReceiver } from './receiver.ts';
import { slackFetch } from './http-fetch.ts';
import { describeSlackError } from './slack-errors.ts';

export interface SlackSettings {
  mode: Exclude<SlackMode, { kind: 'none' }>;
  port: number;
  /** Web API base URL: GovSlack, or a local stand-in in tests. */
  apiUrl?: string;
  /** Who the bot is, from checkSlackToken. */
  identity: SlackIdentity;
  /** For /readyz: whether the background thread runs. */
  backgroundRunning?: () => boolean;
}

export interface SlackRuntime {
  app: App;
  /** The port the HTTP endpoints listen on (Slack's requests in HTTP mode, health checks in both). */
  port: number;
  stop(): Promise<void>;
}

function backgroundClientOptions(apiUrl: string | undefined, log: Logger): WebClientOptions {
  return {
    logger: boltLogger(log),
    timeout: 10_000,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    fetch: slackFetch,
    ...(apiUrl ? { slackApiUrl: apiUrl } : {}),
  };
}

/**
 * A Web API client for work that retries from the database (the notifier, the audit feed,
 * provisioning): no retries or rate-limit queueing of its own, so a failure comes back at
 * once and is retried after Slack's Retry-After.
 */
export function slackClient(botToken: string, apiUrl: string | undefined, log: Logger): WebClient {
  return new WebClient(botToken, backgroundClientOptions(apiUrl, log));
}

export interface SlackIdentity {
  team: string | undefined;
  botId: string | undefined;
  botUserId: string | undefined;
}

/**
 * Checks the bot token with auth.test, before anything uses it (the background thread's
 * deliveries included), so a wrong token stops start-up with a message instead of failing
 * at the first click.
 */
export async function checkSlackToken(client: WebClient, apiUrl: string | undefined): Promise<SlackIdentity> {
  try {
    const identity = await client.auth.test();
    return { team: identity.team, botId: identity.bot_id, botUserId: identity.user_id };
  } catch (err) {
    if ((err as { code?: string }).code === ErrorCode.PlatformError) {
      throw new Error(
        `Slack refused SLACK_BOT_TOKEN (${describeSlackError(err)}): copy the Bot User OAuth Token again from the app's OAuth & Permissions page, and reinstall the app if it was revoked.`,
      );
    }
    throw new Error(`Could not reach Slack at ${apiUrl ?? 'https://slack.com/api/'} (${describeSlackError(err)}): check the network, or SLACK_API_URL if it is set.`);
  }
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
  const customRoutes = healthRoutes(db, log, settings.backgroundRunning);
  const app =
    settings.mode.kind === 'http'
      ? new App({ ...common, receiver: slackHttpReceiver({ signingSecret: settings.mode.signingSecret, port: settings.port, customRoutes, logger }, log) })
      : new App({ ...common, customRoutes, appToken: settings.mode.appToken, socketMode: true, installerOptions: { port: settings.port, clientOptions } });
  // First, so it wraps every listener: a failure is answered, not left to Slack's silence.
  app.use(answerFailures(log));
  registerCommands(app, deps);
  registerActions(app, deps);
  registerViews(app, deps);
  registerEvents(app, deps);
  registerMfa(app, deps);
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
