import canonicalize from 'canonicalize';
import type { AuditAction } from './actions.ts';

/** Format version carried in every event as `v`. */
export const EVENT_VERSION = 1;

/**
 * What a caller records; the sequencer adds `seq` and the database clock adds `time`.
 * `Action` is the list in actions.ts everywhere but in tests, whose made-up actions
 * (`test.event`) are allowed by test/support only.
 */
export interface AuditEventInput<Action extends string = AuditAction> {
  /** Slack user id (`U…`/`W…`), `system`, or `cli:<name>` for the command line. */
  actor: string;
  /** Dotted, lower-case: `request.created`, `grant.revoked`, `policy.loaded`. */
  action: Action;
  /** The request, grant or other thing the event is about. */
  subject?: string | null;
  body?: Record<string, unknown>;
}

/** An event as hashed: the fields of its canonical form (docs/audit-log.md). */
export interface AuditEvent {
  v: number;
  seq: number;
  time: string;
  actor: string;
  action: string;
  subject: string | null;
  body: Record<string, unknown>;
}

export const ACTION_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
export const ACTOR_PATTERN = /^(system|[UW][A-Z0-9]{2,20}|cli:[A-Za-z0-9._-]{1,64})$/;
/** RFC 3339 in UTC with exactly six fractional digits: what PostgreSQL stores, to the microsecond. */
export const TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
export const MAX_BODY_BYTES = 16 * 1024;
const MAX_SUBJECT_LENGTH = 200;

/** RFC 8785 canonical JSON. Throws on values JSON cannot carry (NaN, Infinity, lone surrogates). */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON form');
  return text;
}

/** The first `max` UTF-16 units of `text`, never half a surrogate pair (canonical JSON refuses a lone one): text cut to fit a record. */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

export class InvalidAuditEventError extends Error {}

/**
 * Checks an event before it is queued, so that nothing the sequencer later takes from the
 * queue can fail to encode: a bad event fails the caller's transaction instead.
 * Returns the body in canonical JSON.
 */
export function validateEventInput(input: AuditEventInput<string>): string {
  if (!ACTOR_PATTERN.test(input.actor)) {
    throw new InvalidAuditEventError(`audit actor "${input.actor}" is not a Slack user id, "system" or "cli:<name>"`);
  }
  if (!ACTION_PATTERN.test(input.action)) {
    throw new InvalidAuditEventError(
      `audit action "${input.action}" must be dotted lower-case words, like request.created`,
    );
  }
  const subject = input.subject ?? null;
  if (
    subject !== null &&
    (subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH || /\p{Cc}/u.test(subject) || !subject.isWellFormed())
  ) {
    throw new InvalidAuditEventError(
      `audit subject must be 1 to ${MAX_SUBJECT_LENGTH} characters, with no control characters or lone surrogates`,
    );
  }
  const body = input.body ?? {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidAuditEventError('audit body must be a JSON object');
  }
  let text: string;
  try {
    text = canonicalJson(body);
  } catch (err) {
    throw new InvalidAuditEventError(`audit body has no canonical JSON form: ${(err as Error).message}`);
  }
  // PostgreSQL's jsonb, which the audit_log view reads events through, cannot hold U+0000.
  // In canonical JSON it is the escape \u0000 after an even run of backslashes.
  if (/(?<!\\)(?:\\\\)*\\u0000/.test(text))
    throw new InvalidAuditEventError('audit body must not contain the character U+0000');
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) {
    throw new InvalidAuditEventError(
      `audit body is ${Buffer.byteLength(text)} bytes; at most ${MAX_BODY_BYTES} are allowed`,
    );
  }
  return text;
}

/** The exact text that is hashed for an event. */
export function encodeEvent(event: AuditEvent): string {
  return canonicalJson({
    v: event.v,
    seq: event.seq,
    time: event.time,
    actor: event.actor,
    action: event.action,
    subject: event.subject,
    body: event.body,
  });
}
