import { LogLevel, type Logger as SlackLogger } from '@slack/bolt';
import type { Logger } from '../log.ts';

/**
 * Bolt's logger interface over pino, so Bolt's lines share our format and redaction.
 * Bolt passes errors and objects as extra arguments; they go into pino's merge object
 * under `err` / `detail` instead of being formatted into the message.
 */
/**
 * At debug level the Web API client logs whole request and response bodies: direct
 * messages with database passwords, MFA enrolment keys. Those lines keep their label only.
 */
const PAYLOAD_DUMP = /^(http request (?:body|result)): /;

function scrub(text: string): string {
  const dump = PAYLOAD_DUMP.exec(text);
  return dump ? `${dump[1]}: [not logged: Slack payloads can hold credentials]` : text;
}

export function boltLogger(log: Logger): SlackLogger {
  let current = log.child({ component: 'bolt' });
  const write = (level: 'debug' | 'info' | 'warn' | 'error', args: unknown[]) => {
    const texts: string[] = [];
    const merge: Record<string, unknown> = {};
    for (const arg of args) {
      if (arg instanceof Error) merge.err = arg;
      else if (typeof arg === 'object' && arg !== null) merge.detail = arg;
      else texts.push(scrub(String(arg)));
    }
    current[level](merge, texts.join(' '));
  };
  return {
    debug: (...args) => write('debug', args),
    info: (...args) => write('info', args),
    warn: (...args) => write('warn', args),
    error: (...args) => write('error', args),
    // LOG_LEVEL decides: Bolt sets its default level (info) on any logger it is given,
    // which would otherwise undo a quieter or louder setting.
    setLevel() {},
    getLevel(): LogLevel {
      const level = current.level;
      if (level === 'trace') return LogLevel.DEBUG;
      if (level === 'fatal' || level === 'silent') return LogLevel.ERROR;
      return level as LogLevel;
    },
    setName(name: string) {
      current = current.child({ name });
    },
  };
}
