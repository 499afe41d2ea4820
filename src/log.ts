import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths pino blanks out wherever they appear, so a token, password or one-time code that
 * slips into a log object never reaches the output. Keys are matched at the top level and
 * one or two levels down, which covers `{ config: { slackBotToken } }` and `{ err: { config } }`.
 * Generic words such as `code` are left alone: error codes must stay readable.
 */
const SECRET_KEYS = [
  'password',
  'token',
  'botToken',
  'appToken',
  'signingSecret',
  'clientSecret',
  'secret',
  'totp',
  'totpCode',
  'totpSecret',
  'otpCode',
  'authorization',
  'cookie',
  'databaseUrl',
  'connectionString',
  'privateKey',
  'checkpointKey',
  'GATEHOUSE_CHECKPOINT_KEY',
  'GATEHOUSE_SECRETS_KEY',
  'secretsKey',
  'deliverySecret',
  'delivery_secret',
  'SLACK_BOT_TOKEN',
  'SLACK_APP_TOKEN',
  'SLACK_SIGNING_SECRET',
  'DATABASE_URL',
];

export const REDACT_PATHS = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

export interface LogSettings {
  level?: string;
  /** Pretty, human output; by default only when stdout is a terminal. */
  pretty?: boolean;
  /** Where lines go; a pino destination stream, stdout by default. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(settings: LogSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: { app: 'gatehouse' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  const pretty = settings.pretty ?? (settings.destination === undefined && process.stdout.isTTY === true);
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

/** A logger that drops everything: for tests and for CLI commands that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Removes the password from a connection string so it can be shown to an operator. */
export function describeDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}
