import { createHmac } from 'node:crypto';
import type { FakeSlack } from './fake-slack.ts';
import { SlackPayloads, type ButtonClick, type CommandChannel, type ViewSubmission } from './payloads.ts';

export type { ButtonClick, StateValues, ViewSubmission } from './payloads.ts';

/** Slack's v0 request signature: `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<raw body>`. */
export function signSlackRequest(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

/** Ways to send a request Slack would not: for the app's verification tests. */
export interface Tamper {
  /** `bad`: signed with another secret; `missing`: no X-Slack-Signature header. */
  signature?: 'bad' | 'missing';
  /** Unix seconds to sign with instead of now (the request is still correctly signed). */
  timestamp?: number;
}

export interface CommandOptions extends Tamper, CommandChannel {}

export interface EventOptions extends Tamper {
  eventId?: string;
  /** Sets X-Slack-Retry-Num / X-Slack-Retry-Reason, as Slack does when it redelivers. */
  retryNum?: number;
  retryReason?: string;
}

export interface DriverReply {
  status: number;
  /** Parsed JSON, or the text as sent (empty for a bare ack). */
  body: unknown;
}

export interface InteractionReply extends DriverReply {
  triggerId: string;
  /** Absent for clicks in views, which Slack sends without one. */
  responseUrl?: string;
}

export interface SlackDriverOptions {
  /** Where the app listens, e.g. `http://127.0.0.1:3000/slack/events`. */
  url: string;
  signingSecret: string;
  fake: FakeSlack;
  teamId?: string;
}

const FORM = 'application/x-www-form-urlencoded';

function parseReply(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Sends the app what Slack sends: slash commands and interactions as signed forms, events
 * as signed JSON, each with ids (trigger, response_url) the fake will then accept.
 */
export class SlackDriver {
  readonly url: string;
  readonly payloads: SlackPayloads;
  private readonly secret: string;
  private readonly fake: FakeSlack;

  constructor(options: SlackDriverOptions) {
    this.url = options.url;
    this.fake = options.fake;
    this.secret = options.signingSecret;
    this.payloads = new SlackPayloads(options.fake, options.teamId);
  }

  async command(userId: string, command: string, text = '', options: CommandOptions = {}): Promise<InteractionReply> {
    const payload = this.payloads.command(userId, command, text, options);
    const reply = await this.post(new URLSearchParams(payload).toString(), FORM, options);
    return { ...reply, triggerId: payload.trigger_id, responseUrl: payload.response_url };
  }

  async clickButton(click: ButtonClick, tamper: Tamper = {}): Promise<InteractionReply> {
    const payload = this.payloads.blockActions(click);
    const reply = await this.post(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), FORM, tamper);
    return { ...reply, triggerId: payload.trigger_id, responseUrl: payload.response_url };
  }

  /** The reply body is the app's ack: `{response_action: 'errors', errors}` and the like. */
  submitView(submission: ViewSubmission, tamper: Tamper = {}): Promise<DriverReply> {
    const payload = this.payloads.viewSubmission(submission);
    return this.post(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), FORM, tamper);
  }

  event(event: Record<string, unknown>, options: EventOptions = {}): Promise<DriverReply> {
    const headers: Record<string, string> = {};
    if (options.retryNum !== undefined) {
      headers['x-slack-retry-num'] = String(options.retryNum);
      headers['x-slack-retry-reason'] = options.retryReason ?? 'http_timeout';
    }
    return this.post(
      JSON.stringify(this.payloads.eventCallback(event, options.eventId)),
      'application/json',
      options,
      headers,
    );
  }

  /** The user opens the bot's Home tab. */
  homeOpened(userId: string, options: EventOptions = {}): Promise<DriverReply> {
    return this.event(this.payloads.appHomeOpened(userId), options);
  }

  private async post(
    body: string,
    contentType: string,
    tamper: Tamper,
    extraHeaders: Record<string, string> = {},
  ): Promise<DriverReply> {
    // The wall clock, not the fake's: the app checks freshness against its own clock.
    const timestamp = tamper.timestamp ?? Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      // Bare, as Slack sends it: Bolt compares content types exactly and answers 400 to `; charset=…`.
      'content-type': contentType,
      'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
      'x-slack-request-timestamp': String(timestamp),
      ...extraHeaders,
    };
    if (tamper.signature !== 'missing') {
      headers['x-slack-signature'] = signSlackRequest(
        tamper.signature === 'bad' ? `not-${this.secret}` : this.secret,
        timestamp,
        body,
      );
    }
    this.fake.sentToApp.push({ contentType, body });
    const response = await fetch(this.url, { method: 'POST', headers, body });
    return { status: response.status, body: parseReply(await response.text()) };
  }
}
