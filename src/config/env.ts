import { z } from 'zod';

/**
 * Every setting Gatehouse reads from the environment, validated once at start-up.
 * README.md lists them; keep the two in step.
 */
const booleanText = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

/** Where the database gateway listens unless GATEHOUSE_GATEWAY_LISTEN says otherwise. */
export const GATEWAY_DEFAULT_LISTEN = '127.0.0.1:6432';

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection string')
    .optional(),
  GATEHOUSE_DATA_DIR: z.string().min(1).default('.data'),
  GATEHOUSE_POLICY: z.string().min(1).default('gatehouse.yml'),
  GATEHOUSE_MIGRATE_ON_START: booleanText.default(true),
  AUDIT_SEQUENCER_INTERVAL_MS: z.coerce.number().int().min(10).max(60_000).default(250),
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(3600).default(1),
  EXPIRY_WARNING_MINUTES: z.coerce.number().int().min(0).max(1440).default(10),
  GATEHOUSE_EXPIRY_TIMER: booleanText.default(true),
  GATEHOUSE_METRICS: booleanText.optional(),
  GATEHOUSE_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  SLACK_BOT_TOKEN: z.string().startsWith('xoxb-', 'must be a bot token (xoxb-…)').optional(),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  SLACK_APP_TOKEN: z.string().startsWith('xapp-', 'must be an app-level token (xapp-…)').optional(),
  SLACK_API_URL: z.string().url().optional(),
  GATEHOUSE_SANDBOX_PORT: z.coerce.number().int().min(0).max(65_535).default(3001),
  GATEHOUSE_SANDBOX_PROVISION: z
    .enum(['dry_run', 'real'], {
      error:
        'must be dry_run (the default: provisioners only record what they would have done) or real (the sandbox provisions on the targets the policy names)',
    })
    .default('dry_run'),
  GATEHOUSE_CHECKPOINT_KEY: z
    .string()
    .includes(
      '-----BEGIN PRIVATE KEY-----',
      'must be a PEM private key (-----BEGIN PRIVATE KEY-----); make one with `gatehouse audit keygen`',
    )
    .optional(),
  GATEHOUSE_CHECKPOINT_KEY_FILE: z.string().min(1).optional(),
  GATEHOUSE_CHECKPOINT_PUBLIC_KEY: z.string().min(1).optional(),
  GATEHOUSE_ANCHOR_FILE: z.string().min(1).optional(),
  GATEHOUSE_CHECKPOINT_ORIGIN: z
    .string()
    .regex(/^[^\s+]+$/, 'must be one word without spaces or "+", like example.com/gatehouse (docs/merkle.md §11)')
    .optional(),
  GATEHOUSE_FEED_CHECKPOINT_MS: z.coerce.number().int().min(0).max(3_600_000).default(3000),
  GATEHOUSE_SECRETS_KEY: z.string().min(1).optional(),
  GATEHOUSE_GATEWAY_LISTEN: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'must be host:port, like 0.0.0.0:6432')
    .default(GATEWAY_DEFAULT_LISTEN),
  GATEHOUSE_GATEWAY_PUBLIC_ADDRESS: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'must be host:port, as contractors reach the gateway')
    .optional(),
  GATEHOUSE_GATEWAY_TLS_CERT_FILE: z.string().min(1).optional(),
  GATEHOUSE_GATEWAY_TLS_KEY_FILE: z.string().min(1).optional(),
  GATEHOUSE_GATEWAY_SSLMODE: z
    .enum(['require', 'verify-ca', 'verify-full'], {
      error:
        'must be require (the default), or verify-full when the certificate is one holders trust (verify-ca: signed by a CA they trust, any name)',
    })
    .optional(),
  GATEHOUSE_GATEWAY_PLAINTEXT: z
    .enum(['loopback', 'never', 'always'], {
      error:
        'must be loopback (the default: plain TCP from this machine only), never (TLS always) or always (plain TCP from anywhere)',
    })
    .default('loopback'),
  GATEHOUSE_SIEM_OTLP_URL: z
    .string()
    .regex(/^https?:\/\/[^\s]+$/, 'must be the OTLP/HTTP logs endpoint, like https://collector:4318/v1/logs')
    .optional(),
  GATEHOUSE_SIEM_OTLP_HEADERS: z.string().min(1).optional(),
  GATEHOUSE_SIEM_SYSLOG_URL: z
    .string()
    .regex(/^(tcp|tls):\/\/(\[[0-9a-fA-F:.]+\]|[^:/\s]+):\d{1,5}$/, 'must be tcp://host:port or tls://host:port')
    .optional(),
  GATEHOUSE_SIEM_SYSLOG_CA_FILE: z.string().min(1).optional(),
  GATEHOUSE_SIEM_SYSLOG_HOSTNAME: z
    .string()
    .regex(/^[!-~]{1,255}$/, 'must be 1-255 printable ASCII characters, no spaces')
    .optional(),
  GATEHOUSE_SIEM_SYSLOG_APP_NAME: z
    .string()
    .regex(/^[!-~]{1,48}$/, 'must be 1-48 printable ASCII characters, no spaces')
    .default('gatehouse'),
  GATEHOUSE_SIEM_BATCH: z.coerce.number().int().min(1).max(5000).default(500),
});

export type Env = z.infer<typeof envSchema>;

/**
 * Whether provisioners act on their targets (`real`) or only record what they would have
 * done (`dry_run`: none of the policy's databases, user groups or webhooks is touched).
 */
export type ProvisioningMode = 'real' | 'dry_run';

export interface Config {
  nodeEnv: Env['NODE_ENV'];
  logLevel: Env['LOG_LEVEL'];
  /** Unset means: run the embedded PostgreSQL under dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  policyFile: string;
  /** False when GATEHOUSE_POLICY is unset and the default path is in use. */
  policyFileExplicit: boolean;
  migrateOnStart: boolean;
  sequencerIntervalMs: number;
  port: number;
  /** How often the sweeps run: grants due, requests expired, retries, warnings. */
  sweepIntervalSeconds: number;
  /** Holders are warned this long before a grant ends; 0 turns the warning off. */
  expiryWarningMs: number;
  /** A timer for the earliest grant end, so grants end on time rather than at the next sweep tick. */
  expiryTimer: boolean;
  /** GET /metrics (Prometheus): off, on PORT beside Slack's requests (port null), or on a port of its own. */
  metrics: { enabled: boolean; port: number | null };
  slack: {
    botToken: string | undefined;
    signingSecret: string | undefined;
    appToken: string | undefined;
    apiUrl: string | undefined;
  };
  /** Where the local Slack sandbox serves its page and the stand-in's Web API (loopback only). */
  sandboxPort: number;
  /** How the sandbox provisions (GATEHOUSE_SANDBOX_PROVISION): a dry run unless asked for `real`. */
  sandboxProvision: ProvisioningMode;
  /**
   * How this run provisions. Always `real` from the environment; only the sandbox runs
   * Gatehouse with `dry_run` (from sandboxProvision). Both threads read it from here.
   */
  provisioning: ProvisioningMode;
  /** Signed checkpoints of the audit log (docs/audit-log.md, section 12). */
  checkpoint: {
    /** PEM text of the signing key (GATEHOUSE_CHECKPOINT_KEY): a secret, never log it. */
    privateKey: string | undefined;
    /** Path of the signing key's PEM file (GATEHOUSE_CHECKPOINT_KEY_FILE). */
    privateKeyFile: string | undefined;
    /** The key verification trusts: 64 hex digits, PEM, or a file holding either. */
    publicKey: string | undefined;
    /** The file checkpoints are appended to, on storage the database's admins cannot write. */
    anchorFile: string | undefined;
    /** The checkpoint notes' origin and key name (GATEHOUSE_CHECKPOINT_ORIGIN); unset: gatehouse.local/<log id>. */
    origin: string | undefined;
    /** Audit channel posts carry a newly signed checkpoint at most this often (ms); in between, the newest. */
    postEveryMs: number;
  };
  /** Seals credentials waiting to be sent (GATEHOUSE_SECRETS_KEY): a secret, never log it. */
  secretsKey: string | undefined;
  /** The database gateway (docs/gateway.md); it runs when a resource's provisioner has a `gateway:` block. */
  gateway: {
    host: string;
    port: number;
    /** Paths of the PEM certificate and key; without them the gateway speaks plain TCP only. */
    tlsCertFile: string | undefined;
    tlsKeyFile: string | undefined;
    plaintext: 'loopback' | 'never' | 'always';
  };
  /** Streaming the audit log to a SIEM (docs/siem.md); each destination is off until its URL is set. */
  siem: {
    /** The OTLP/HTTP logs endpoint and the headers sent with it (an API key: secrets, never log them). */
    otlp: { url: string; headers: Record<string, string> } | null;
    syslog: { url: string; caFile: string | undefined; hostname: string | undefined; appName: string } | null;
    /** Events per batch. */
    batch: number;
  };
}

export class ConfigError extends Error {}

/** Reads the environment; throws ConfigError naming each bad variable and what it takes. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set", as in most shells' `FOO= cmd`.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = issue.path.join('.');
      // Never echo the value: it may be a secret.
      return `  ${key}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid environment:\n${lines.join('\n')}\nSee the configuration table in README.md.`);
  }
  const e = parsed.data;
  if (Boolean(e.GATEHOUSE_GATEWAY_TLS_CERT_FILE) !== Boolean(e.GATEHOUSE_GATEWAY_TLS_KEY_FILE)) {
    throw new ConfigError(
      'Set both GATEHOUSE_GATEWAY_TLS_CERT_FILE and GATEHOUSE_GATEWAY_TLS_KEY_FILE (the PEM certificate and its key), or neither.',
    );
  }
  if (e.GATEHOUSE_CHECKPOINT_KEY && e.GATEHOUSE_CHECKPOINT_KEY_FILE) {
    throw new ConfigError('Both GATEHOUSE_CHECKPOINT_KEY and GATEHOUSE_CHECKPOINT_KEY_FILE are set: keep one.');
  }
  if (e.GATEHOUSE_SIEM_OTLP_HEADERS && !e.GATEHOUSE_SIEM_OTLP_URL) {
    throw new ConfigError(
      'GATEHOUSE_SIEM_OTLP_HEADERS is set but GATEHOUSE_SIEM_OTLP_URL is not: set the OTLP/HTTP logs endpoint (like https://collector:4318/v1/logs), or unset the headers.',
    );
  }
  if (e.GATEHOUSE_SIEM_SYSLOG_CA_FILE && !e.GATEHOUSE_SIEM_SYSLOG_URL?.startsWith('tls://')) {
    throw new ConfigError(
      'GATEHOUSE_SIEM_SYSLOG_CA_FILE is set but GATEHOUSE_SIEM_SYSLOG_URL is not tls://host:port: the CA file checks a TLS server. Use tls://, or unset the CA file.',
    );
  }
  return {
    nodeEnv: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.GATEHOUSE_DATA_DIR,
    policyFile: e.GATEHOUSE_POLICY,
    policyFileExplicit: present.GATEHOUSE_POLICY !== undefined,
    migrateOnStart: e.GATEHOUSE_MIGRATE_ON_START,
    sequencerIntervalMs: e.AUDIT_SEQUENCER_INTERVAL_MS,
    port: e.PORT,
    sweepIntervalSeconds: e.SWEEP_INTERVAL_SECONDS,
    expiryWarningMs: e.EXPIRY_WARNING_MINUTES * 60_000,
    expiryTimer: e.GATEHOUSE_EXPIRY_TIMER,
    // Off the port Slack reaches unless asked for: on a port of its own, or GATEHOUSE_METRICS=true on PORT.
    metrics: {
      enabled: e.GATEHOUSE_METRICS ?? e.GATEHOUSE_METRICS_PORT !== undefined,
      port: e.GATEHOUSE_METRICS_PORT ?? null,
    },
    slack: {
      botToken: e.SLACK_BOT_TOKEN,
      signingSecret: e.SLACK_SIGNING_SECRET,
      appToken: e.SLACK_APP_TOKEN,
      apiUrl: e.SLACK_API_URL,
    },
    sandboxPort: e.GATEHOUSE_SANDBOX_PORT,
    sandboxProvision: e.GATEHOUSE_SANDBOX_PROVISION,
    provisioning: 'real',
    checkpoint: {
      privateKey: e.GATEHOUSE_CHECKPOINT_KEY === undefined ? undefined : unescapeNewlines(e.GATEHOUSE_CHECKPOINT_KEY),
      privateKeyFile: e.GATEHOUSE_CHECKPOINT_KEY_FILE,
      publicKey:
        e.GATEHOUSE_CHECKPOINT_PUBLIC_KEY === undefined
          ? undefined
          : unescapeNewlines(e.GATEHOUSE_CHECKPOINT_PUBLIC_KEY),
      anchorFile: e.GATEHOUSE_ANCHOR_FILE,
      origin: e.GATEHOUSE_CHECKPOINT_ORIGIN,
      postEveryMs: e.GATEHOUSE_FEED_CHECKPOINT_MS,
    },
    secretsKey: e.GATEHOUSE_SECRETS_KEY,
    gateway: {
      ...splitAddress(e.GATEHOUSE_GATEWAY_LISTEN),
      tlsCertFile: e.GATEHOUSE_GATEWAY_TLS_CERT_FILE,
      tlsKeyFile: e.GATEHOUSE_GATEWAY_TLS_KEY_FILE,
      plaintext: e.GATEHOUSE_GATEWAY_PLAINTEXT,
    },
    siem: {
      otlp: e.GATEHOUSE_SIEM_OTLP_URL
        ? { url: e.GATEHOUSE_SIEM_OTLP_URL, headers: parseHeaders(e.GATEHOUSE_SIEM_OTLP_HEADERS) }
        : null,
      syslog: e.GATEHOUSE_SIEM_SYSLOG_URL
        ? {
            url: e.GATEHOUSE_SIEM_SYSLOG_URL,
            caFile: e.GATEHOUSE_SIEM_SYSLOG_CA_FILE,
            hostname: e.GATEHOUSE_SIEM_SYSLOG_HOSTNAME,
            appName: e.GATEHOUSE_SIEM_SYSLOG_APP_NAME,
          }
        : null,
      batch: e.GATEHOUSE_SIEM_BATCH,
    },
  };
}

/** `name=value,name2=value2` (as OTEL_EXPORTER_OTLP_HEADERS), values URL-encoded if need be; never echoed: they are secrets. */
function parseHeaders(text: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [i, pair] of (text ?? '').split(',').entries()) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    const name = pair.slice(0, at).trim();
    if (at < 1 || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name))
      throw new ConfigError(
        `GATEHOUSE_SIEM_OTLP_HEADERS: entry ${i + 1} is not name=value. Write the headers as name=value pairs separated by commas, like authorization=Bearer%20TOKEN,x-tenant=ops (values URL-encoded).`,
      );
    try {
      headers[name.toLowerCase()] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      throw new ConfigError(
        `GATEHOUSE_SIEM_OTLP_HEADERS: the value of ${name} is not URL-encoded text. Write % as %25 and a comma as %2C.`,
      );
    }
  }
  return headers;
}

/** `host:port` (IPv6 in brackets) as its parts. */
export function splitAddress(text: string): { host: string; port: number } {
  const at = text.lastIndexOf(':');
  return { host: text.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(text.slice(at + 1)) };
}

/** PEM pasted into a one-line setting often arrives with `\n` for its line breaks. */
function unescapeNewlines(text: string): string {
  return text.includes('\n') ? text : text.replaceAll('\\n', '\n');
}

export type SlackMode =
  | { kind: 'http'; botToken: string; signingSecret: string }
  | { kind: 'socket'; botToken: string; appToken: string }
  | { kind: 'none' };

/**
 * Which way Slack reaches us: HTTP (bot token + signing secret), Socket Mode (bot token +
 * app-level token), or not at all. Half a configuration is an error that says what to set
 * and where Slack shows it.
 */
export function slackMode(config: Config): SlackMode {
  const { botToken, signingSecret, appToken } = config.slack;
  const where = {
    bot: 'SLACK_BOT_TOKEN (Slack app settings > OAuth & Permissions > Bot User OAuth Token, xoxb-…)',
    secret: 'SLACK_SIGNING_SECRET (Basic Information > App Credentials > Signing Secret) for HTTP mode',
    app: 'SLACK_APP_TOKEN (Basic Information > App-Level Tokens, scope connections:write, xapp-…) for Socket Mode',
  };
  if (!botToken && !signingSecret && !appToken) {
    if (config.nodeEnv === 'production')
      throw new ConfigError(`Slack is not configured: set ${where.bot}, and ${where.secret} or ${where.app}.`);
    return { kind: 'none' };
  }
  if (!botToken) throw new ConfigError(`Slack is half configured: also set ${where.bot}.`);
  if (signingSecret && appToken) {
    throw new ConfigError(
      'Both SLACK_SIGNING_SECRET and SLACK_APP_TOKEN are set: keep SLACK_SIGNING_SECRET for HTTP mode or SLACK_APP_TOKEN for Socket Mode, not both.',
    );
  }
  if (signingSecret) return { kind: 'http', botToken, signingSecret };
  if (appToken) return { kind: 'socket', botToken, appToken };
  throw new ConfigError(`SLACK_BOT_TOKEN is set but Slack cannot reach the bot: set ${where.secret}, or ${where.app}.`);
}
