/**
 * An on-call schedule file (docs/asking.md §3): who is on call when, as shifts in UTC, in a
 * format an operator can generate from PagerDuty or Opsgenie:
 *
 *     shifts:
 *       - { user: U02DBA00002, from: 2026-12-04T00:00:00Z, to: 2026-12-04T08:00:00Z }
 *
 * It is read when the policy is loaded (a bad file stops the load, with the line) and
 * again whenever it changes on disk (by modification time and size), so a new export takes
 * effect without a restart. A file that turns bad later is reported and not used.
 */
import { readFileSync, statSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { asSlackUserId, type SlackUserId } from '../db/ids.ts';
import { isRecord, USER_ID } from './policy-schema.ts';

export interface Shift {
  user: SlackUserId;
  from: Date;
  to: Date;
}

const UTC_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z$/;

/** Parses a schedule's text; throws an Error whose message names the line and what is allowed. */
export function parseSchedule(text: string, file: string): Shift[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0)
    throw new Error(`${file}:${lines.linePos(doc.errors[0]!.pos[0]).line}: not valid YAML: ${doc.errors[0]!.message}`);
  const data: unknown = doc.toJS();
  const shifts = isRecord(data) ? data['shifts'] : undefined;
  if (!Array.isArray(shifts))
    throw new Error(
      `${file}: must be a mapping with a list under shifts:, each like { user: U01AB2CD3, from: 2026-12-04T00:00:00Z, to: 2026-12-04T08:00:00Z }`,
    );
  return shifts.map((shift: unknown, i) => {
    const at = `${file} shifts[${i}]`;
    if (!isRecord(shift)) throw new Error(`${at}: each shift is a mapping with user, from and to`);
    const user = shift['user'];
    if (typeof user !== 'string' || !USER_ID.test(user))
      throw new Error(`${at}.user: ${JSON.stringify(user)} is not a Slack user id: use member ids like U01AB2CD3`);
    const time = (key: 'from' | 'to'): Date => {
      const value = shift[key];
      const text = value instanceof Date ? value.toISOString() : value;
      if (typeof text !== 'string' || !UTC_TIME.test(text) || Number.isNaN(Date.parse(text)))
        throw new Error(`${at}.${key}: ${JSON.stringify(text)} is not a UTC time: write it like 2026-12-04T08:00:00Z`);
      return new Date(text);
    };
    const from = time('from');
    const to = time('to');
    if (to <= from) throw new Error(`${at}: ends at or before it starts: "to" must be after "from"`);
    return { user: asSlackUserId(user), from, to };
  });
}

const cache = new Map<string, { stamp: string; shifts: Shift[] }>();

/** The schedule at `path`, parsed again only when the file changed; throws as parseSchedule, or when it cannot be read. */
export function readSchedule(path: string, written = path): Shift[] {
  const stat = statSync(path);
  const stamp = `${stat.mtimeMs}:${stat.size}`;
  const known = cache.get(path);
  if (known?.stamp === stamp) return known.shifts;
  const shifts = parseSchedule(readFileSync(path, 'utf8'), written);
  cache.set(path, { stamp, shifts });
  return shifts;
}

/** Who is on call at `at`, sorted: a shift includes its start and excludes its end. */
export function onCallAt(shifts: readonly Shift[], at: Date): SlackUserId[] {
  const t = at.getTime();
  return [...new Set(shifts.filter((s) => s.from.getTime() <= t && t < s.to.getTime()).map((s) => s.user))].sort();
}
