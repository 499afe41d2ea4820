/** What every part of the fake Slack shares: its identity, answers, argument readers, clock. */

export const TEAM_ID = 'T0GATE';
export const TEAM_DOMAIN = 'gatehouse-test';
export const BOT_USER_ID = 'U0BOT';
export const BOT_ID = 'B0BOT';
export const APP_ID = 'A0GATE';

/** Arguments of a Web API call, with JSON form fields (`blocks`, `view`, …) parsed. */
export type Args = Record<string, unknown>;

export type Answer =
  ({ ok: true } & Record<string, unknown>) | { ok: false; error: string; response_metadata?: { messages: string[] } };

export type MethodHandler = (args: Args, token: string) => Answer;

export function ok(fields: Record<string, unknown> = {}): Answer {
  return { ok: true, ...fields };
}

/** An error as Slack gives it; `messages` become `[ERROR] …` lines, which the SDK logs. */
export function fail(error: string, messages: string[] = []): Answer {
  if (messages.length === 0) return { ok: false, error };
  return { ok: false, error, response_metadata: { messages: messages.map((m) => `[ERROR] ${m}`) } };
}

export function missing(field: string): Answer {
  return fail('invalid_arguments', [`missing required field: ${field}`]);
}

/** Form fields arrive as strings, JSON bodies as anything: read both the same way. */
export function str(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

export function flag(value: unknown): boolean {
  return value === true || value === 'true' || value === '1' || value === 1;
}

export function int(value: unknown, fallback: number): number {
  const n = Number.parseInt(str(value) ?? '', 10);
  return Number.isNaN(n) ? fallback : n;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Slack user ids (`U…`, or `W…` on Enterprise Grid) used where a channel id belongs. */
export function isUserId(id: string): boolean {
  return /^[UW][A-Z0-9]+$/.test(id);
}

/** The bot's DM with a user; Slack posts there when `channel` is a user id. */
export function dmChannelOf(userId: string): string {
  return `D${userId}`;
}

/**
 * The wall clock plus whatever a test has advanced it by. Expiry rules (trigger ids live
 * 3 s) count only the advanced part, so they are tested by advancing, never by waiting,
 * and a slow CI machine cannot expire a trigger by accident.
 */
export class Clock {
  private lastTs: [seconds: number, micros: number] = [0, 0];
  /** Milliseconds tests have moved time forward; the measure for expiry. */
  advancedMs = 0;

  now(): number {
    return Date.now() + this.advancedMs;
  }

  advance(ms: number): void {
    this.advancedMs += ms;
  }

  /** Issues later ts than `ts`, one kept from before (messages restored after a restart). */
  observe(ts: string): void {
    const [seconds = 0, micros = 0] = ts.split('.').map(Number);
    const [lastSeconds, lastMicros] = this.lastTs;
    if (seconds > lastSeconds || (seconds === lastSeconds && micros > lastMicros)) this.lastTs = [seconds, micros];
  }

  /** A message ts (`"1795734871.000100"`): unique, and increasing in the order issued. */
  nextTs(): string {
    const [lastSeconds, lastMicros] = this.lastTs;
    let seconds = Math.max(Math.floor(this.now() / 1000), lastSeconds);
    let micros = seconds === lastSeconds ? lastMicros + 100 : 100;
    if (micros >= 1_000_000) [seconds, micros] = [seconds + 1, 100];
    this.lastTs = [seconds, micros];
    return `${seconds}.${String(micros).padStart(6, '0')}`;
  }
}
