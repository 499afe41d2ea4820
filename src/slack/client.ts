import { ErrorCode, WebClient, type WebClientOptions } from '@slack/web-api';
import type { Logger } from '../log.ts';
import { slackFetch } from './http-fetch.ts';
import { boltLogger } from './logger.ts';
import { describeSlackError } from './slack-errors.ts';

/**
 * The Web API client's settings: pino through Bolt's logger, Slack's fetch, GovSlack or a
 * stand-in's URL; no retries, which the listeners' client adds back (inbound/app.ts).
 */
export function backgroundClientOptions(apiUrl: string | undefined, log: Logger): WebClientOptions {
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
    throw new Error(
      `Could not reach Slack at ${apiUrl ?? 'https://slack.com/api/'} (${describeSlackError(err)}): check the network, or SLACK_API_URL if it is set.`,
    );
  }
}
