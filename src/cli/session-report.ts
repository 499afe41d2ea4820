import type { AnchoredVerifyResult } from '../audit/checkpoints/checks.ts';
import type { AuditEvent } from '../audit/event.ts';
import type { SessionEvent } from './session.ts';

type Body = Record<string, unknown>;

/** One statement number n: what was sent (or refused), and how the database answered. */
interface Entry {
  n: number;
  /** `gateway.statement` or `gateway.statement_refused`. */
  opened: AuditEvent;
  /** The matching `gateway.statement_done`, for a statement that was sent. */
  done: AuditEvent | null;
}

const number = new Intl.NumberFormat('en-US');

const END_REASONS: Record<string, string> = {
  client_closed: 'the client closed the connection',
  grant_ended: 'the grant ended',
  ended_by_owner: 'an owner ended it',
  upstream_closed: 'the database closed the connection',
  setting_changed: 'the gateway ended it: the session changed its encoding or string settings',
  gateway_stopped: 'the gateway stopped',
  replica_lost: 'the gateway replica holding it was lost (killed, or cut off from Gatehouse)',
};

/**
 * Control characters (but tab and newline) and bidirectional overrides, shown as escapes:
 * the text comes from the person whose session this is, and must not be able to move the
 * cursor, clear lines or reorder what the auditor's terminal shows.
 */
const HIDDEN = /[\p{Cc}\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu;

function visible(text: string): string {
  return text.replace(HIDDEN, (c) =>
    c === '\n' || c === '\t' ? c : `\\u{${c.codePointAt(0)!.toString(16).padStart(4, '0')}}`,
  );
}

/** A body value as text: strings as they are, anything else as JSON. */
function text(value: unknown): string {
  return visible(typeof value === 'string' ? value : JSON.stringify(value));
}

function count(value: unknown, noun: string): string {
  return typeof value === 'number'
    ? `${number.format(value)} ${noun}${value === 1 ? '' : 's'}`
    : `${noun}s ${text(value)}`;
}

function duration(ms: unknown): string {
  if (typeof ms !== 'number') return '';
  if (ms < 1000) return `${number.format(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60
    ? `${minutes} min ${seconds % 60} s`
    : `${Math.floor(minutes / 60)} h ${minutes % 60} min ${seconds % 60} s`;
}

/** Who and where from, as the session's events say; the first that names it wins. */
function first(events: AuditEvent[], key: string): unknown {
  return events.find((e) => e.body[key] !== undefined)?.body[key];
}

/**
 * A person's view of one session, from its verified events in seq order: a header (who,
 * what, when it started and how it ended), then one entry per statement number with its
 * SQL, parameters and outcome. Events that fit no entry are listed at the end, never dropped.
 */
export function formatSessionReport(sessionId: string, items: SessionEvent[]): string {
  const events = items.map((item) => item.event);
  const started = events.find((e) => e.action === 'gateway.session_started') ?? null;
  const ended = events.find((e) => e.action === 'gateway.session_ended') ?? null;
  const endRequest = events.find((e) => e.action === 'gateway.end_requested') ?? null;
  const entries = new Map<number, Entry>();
  const unmatched: AuditEvent[] = [];
  for (const e of events) {
    const n = e.body.n;
    if (e.action === 'gateway.statement' || e.action === 'gateway.statement_refused') {
      if (typeof n === 'number' && !entries.has(n)) entries.set(n, { n, opened: e, done: null });
      else unmatched.push(e);
    } else if (e.action === 'gateway.statement_done') {
      const entry = typeof n === 'number' ? entries.get(n) : undefined;
      if (entry && entry.opened.action === 'gateway.statement' && !entry.done) entry.done = e;
      else unmatched.push(e);
    } else if (e !== started && e !== ended && e !== endRequest) {
      unmatched.push(e);
    }
  }

  const holder = started?.actor ?? events.find((e) => e.action === 'gateway.statement')?.actor;
  const lines = [`Session ${visible(sessionId)}`];
  lines.push(`  holder:    ${holder ? text(holder) : '(not on the record)'}`);
  const resource = first(events, 'resource');
  const target = started ? `, database ${text(started.body.database)} as role ${text(started.body.role)}` : '';
  lines.push(`  resource:  ${resource === undefined ? '(not on the record)' : text(resource)}${target}`);
  const grant = first(events, 'grant');
  lines.push(`  grant:     ${grant === undefined ? '(not on the record)' : text(grant)}`);
  if (started) {
    const b = started.body;
    const app = b.application_name ? `, application ${text(b.application_name)}` : '';
    const tls = b.tls === true ? 'TLS' : b.tls === false ? 'no TLS' : `tls ${text(b.tls)}`;
    const replica = b.replica === undefined ? '' : `, gateway replica ${text(b.replica)}`;
    const address = b.client_address == null ? 'address unknown' : text(b.client_address);
    lines.push(`  client:    ${address}${app}, ${tls}${replica}`);
  }
  lines.push(`  started:   ${started ? `${started.time} (seq ${started.seq})` : '(not on the record)'}`);
  lines.push(
    `  ended:     ${ended ? `${ended.time} (seq ${ended.seq}): ${howItEnded(ended, endRequest)}` : stillOpen(endRequest)}`,
  );
  if (ended) {
    const b = ended.body;
    const open = b.in_transaction === true ? '; a transaction was open and was rolled back' : '';
    lines.push(
      `  summary:   ${count(b.statements, 'statement')}, ${typeof b.refused === 'number' ? number.format(b.refused) : text(b.refused)} refused, ${count(b.rows, 'row')}, ${duration(b.duration_ms)}${open}`,
    );
  }

  const sorted = [...entries.values()].sort((a, b) => a.opened.seq - b.opened.seq);
  if (sorted.length === 0) lines.push('', 'No statements on the record.');
  for (const entry of sorted) lines.push('', ...formatEntry(entry));
  if (unmatched.length > 0) {
    lines.push('', 'Also on the record for this session (no statement to join them to):');
    for (const e of unmatched)
      lines.push(`  seq ${e.seq}  ${e.time}  ${e.action} by ${text(e.actor)}: ${text(e.body)}`);
  }
  return lines.join('\n');
}

function howItEnded(ended: AuditEvent, endRequest: AuditEvent | null): string {
  const reason = ended.body.reason;
  const said = typeof reason === 'string' ? (END_REASONS[reason] ?? text(reason)) : text(reason);
  // The sweep says which replica it lost and when it last saw it; its counts are as of then.
  const lost =
    reason === 'replica_lost' && ended.body.last_seen_at !== undefined
      ? `; the lost-session sweep ended it (${text(ended.body.replica)}, last seen ${text(ended.body.last_seen_at)}; its counts are as of then)`
      : '';
  const asked = endRequest
    ? `; ${text(endRequest.actor)} pressed End session at ${endRequest.time} (seq ${endRequest.seq})`
    : '';
  return `${said}${lost}${asked}`;
}

function stillOpen(endRequest: AuditEvent | null): string {
  const asked = endRequest ? `; ${text(endRequest.actor)} asked for it to end (seq ${endRequest.seq})` : '';
  return `not on the record: the session is still open, or its end has not been recorded${asked}`;
}

function formatEntry({ n, opened, done }: Entry): string[] {
  const b = opened.body;
  const refused = opened.action === 'gateway.statement_refused';
  const lines = [`#${n}  seq ${opened.seq}  ${opened.time}${refused ? '' : `  ${via(b)}`}`];
  const sql = typeof b.sql === 'string' ? b.sql : '';
  for (const line of sql.split(/\r?\n/)) lines.push(`    ${visible(line)}`);
  if (typeof b.sql_length === 'number') {
    lines.push(
      `  (cut: the first ${number.format(sql.length)} of ${number.format(b.sql_length)} characters are on the record; SHA-256 of the whole text ${text(b.sql_sha256)})`,
    );
  }
  const params = parameters(b);
  if (params) lines.push(`  params: ${params}`);
  lines.push(`  → ${refused ? `refused: ${text(b.reason)} (${text(b.rule)})` : outcome(done)}`);
  return lines;
}

function via(b: Body): string {
  switch (b.via) {
    case 'simple':
      return 'simple query';
    case 'extended':
      return b.statement ? `extended, prepared statement ${text(JSON.stringify(b.statement))}` : 'extended';
    case 'function_call':
      return `function call, oid ${text(b.function_oid)}`;
    default:
      return text(b.via);
  }
}

/** The parameters as the resource's gateway.parameters setting recorded them. */
function parameters(b: Body): string | null {
  const list = (values: unknown[]) =>
    values.map((value, i) => `$${i + 1} = ${value === null ? 'NULL' : text(JSON.stringify(value))}`).join(', ');
  if (Array.isArray(b.params) && b.params.length > 0) return list(b.params);
  if (Array.isArray(b.params_sha256) && b.params_sha256.length > 0) {
    return `(SHA-256 of each) ${b.params_sha256.map((hash, i) => `$${i + 1} = ${hash === null ? 'NULL' : text(hash)}`).join(', ')}`;
  }
  if (typeof b.params_omitted === 'number' && b.params_omitted > 0) return `${b.params_omitted} (not recorded)`;
  return null;
}

function outcome(done: AuditEvent | null): string {
  if (!done) return 'no outcome on the record';
  const b = done.body;
  const at = `(seq ${done.seq}${typeof b.duration_ms === 'number' ? `, ${duration(b.duration_ms)}` : ''})`;
  if (b.cut === true) return `cut when the session ended ${at}`;
  if (b.skipped === true) return `skipped: an earlier statement in the same pipeline failed ${at}`;
  if (b.error && typeof b.error === 'object') {
    const error = b.error as Body;
    return `error ${text(error.code)}: ${text(error.message)} ${at}`;
  }
  const tag = typeof b.tag === 'string' && b.tag !== '' ? text(b.tag) : '(empty query)';
  return `${tag}, ${count(b.rows, 'row')} ${at}`;
}

/** Why nothing is shown: where the log breaks, from the verification. */
export function refusalText(sessionId: string, result: AnchoredVerifyResult): string {
  const where = result.failure ?? result.problems[0];
  const at = where ? ` (${where.reason} at seq ${where.seq})` : '';
  return `Refusing to show session ${visible(sessionId)}: the audit log is not whole${at}, so what it says of the session cannot be trusted. The report above says where it breaks; \`gatehouse audit verify\` gives it in full.`;
}

export function unknownSessionText(sessionId: string, checked: number): string {
  const hint = /^ses_[0-9a-f]{20}$/.test(sessionId)
    ? 'Check the id: it is the subject of the gateway.* events of the session.'
    : 'A session id is ses_ and 20 hex digits: the subject of the gateway.* events of the session.';
  return `No gateway session ${visible(sessionId)} in the audit log: none of its ${number.format(checked)} verified events is about it. ${hint}`;
}
