import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { Grant, Provisioner } from '../access/ports.ts';
import { envName, explain, strict } from '../config/policy-schema.ts';
import { ProvisionerSetupError, type ProvisionerKind } from './kind.ts';

export interface WebhookProvisionerConfig {
  kind: 'webhook';
  url: string;
  /** The environment variable that holds the signing secret. */
  secretEnv: string;
  timeoutMs: number;
}

/** How long a webhook receiver has to answer, unless the policy says otherwise (`timeout_seconds`). */
export const DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10;

/** Headers of every webhook call (docs/provisioners.md). */
export const TIMESTAMP_HEADER = 'x-gatehouse-timestamp';
export const SIGNATURE_HEADER = 'x-gatehouse-signature';

/** `extend`: an approved extension moved `ends_at`; the access itself stays as it is. */
export type WebhookEventType = 'grant' | 'revoke' | 'extend';

/**
 * The JSON a receiver gets. `id` is the same on every retry of one event, so a receiver
 * that has seen it can answer 2xx and do nothing.
 */
export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  grant_id: string;
  user: string;
  resource: string;
  starts_at: string;
  ends_at: string;
}

/** `v1=` and the hex HMAC-SHA256, keyed with the secret, of `<timestamp>.<body>`. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * `kind: webhook`: tells another system to give or take away access, with a signed POST.
 * A 2xx answer is success; anything else, or no answer within the timeout, is a failure the
 * sweeps retry with backoff (so receivers must treat a repeated `id` as done).
 */
export function webhookProvisioner(config: WebhookProvisionerConfig, secret: string): Provisioner {
  const send = async (type: WebhookEventType, grant: Grant): Promise<void> => {
    const event: WebhookEvent = {
      // Each extension is an event of its own: its id names the end it moves to.
      id: type === 'extend' ? `${grant.id}:extend:${grant.endsAt.toISOString()}` : `${grant.id}:${type}`,
      type,
      grant_id: grant.id,
      user: grant.userId,
      resource: grant.resourceId,
      starts_at: grant.startsAt.toISOString(),
      ends_at: grant.endsAt.toISOString(),
    };
    const body = JSON.stringify(event);
    const timestamp = String(Math.floor(Date.now() / 1000));
    let response: Response;
    try {
      response = await fetch(config.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Gatehouse',
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(config.timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why =
        e.name === 'TimeoutError'
          ? `no answer within ${config.timeoutMs} ms`
          : (e.cause?.code ?? e.cause?.message ?? e.message);
      throw new Error(`webhook ${describeUrl(config.url)} ${type}: ${why}`);
    }
    const text = await response.text().catch(() => '');
    if (response.status < 200 || response.status > 299) {
      throw new Error(
        `webhook ${describeUrl(config.url)} answered ${response.status} to ${type}${text ? `: ${text.replace(/\s+/g, ' ').slice(0, 200)}` : ''}`,
      );
    }
  };
  return {
    grant: (grant) => send('grant', grant),
    revoke: (grant) => send('revoke', grant),
    extend: (grant) => send('extend', grant),
  };
}

/** The URL without credentials or query, for error messages that reach logs and the audit log. */
export function describeUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

const schema = strict(
  {
    kind: z.literal('webhook'),
    url: z
      .string({ error: explain('a URL', "give the receiver's address, like https://hooks.example.com/gatehouse") })
      .refine(
        (text) => {
          try {
            return ['http:', 'https:'].includes(new URL(text).protocol);
          } catch {
            return false;
          }
        },
        { error: "is not an http(s) URL: give the receiver's address, like https://hooks.example.com/gatehouse" },
      ),
    secret_env: envName,
    timeout_seconds: z
      .number({ error: explain('a number of seconds', 'use a whole number from 1 to 120, like 10') })
      .int()
      .min(1)
      .max(120)
      .optional(),
  },
  'a webhook provisioner',
  'kind webhook takes url, secret_env and optionally timeout_seconds',
).transform((fields): WebhookProvisionerConfig => ({
  kind: 'webhook',
  url: fields.url,
  secretEnv: fields.secret_env,
  timeoutMs: (fields.timeout_seconds ?? DEFAULT_WEBHOOK_TIMEOUT_SECONDS) * 1000,
}));

export const webhookKind: ProvisionerKind<WebhookProvisionerConfig> = {
  kind: 'webhook',
  schema,
  create(config, env) {
    const secret = env[config.secretEnv];
    if (!secret)
      throw new ProvisionerSetupError(
        `${config.secretEnv} is not set`,
        'secret_env',
        'set it to the secret the receiver checks signatures with',
      );
    return webhookProvisioner(config, secret);
  },
  wouldDo: (config) => ({ kind: 'webhook', url: describeUrl(config.url) }),
};
