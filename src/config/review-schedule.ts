/**
 * When access reviews fall due: `quarterly`, `monthly`, `weekly` or a five-field cron
 * pattern (minute hour day-of-month month day-of-week, in UTC). Only the latest scheduled
 * time at or before now is needed: the review sweep opens the review for it once.
 */

const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
] as const;

export const NAMED_SCHEDULES = {
  quarterly: '0 0 1 1,4,7,10 *',
  monthly: '0 0 1 * *',
  weekly: '0 0 * * 1',
} as const;

export interface CronSchedule {
  /** As written in the policy, for messages. */
  written: string;
  sets: readonly [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  domRestricted: boolean;
  dowRestricted: boolean;
}

/** Parses a schedule; throws an Error whose message says what is allowed. */
export function parseSchedule(written: string): CronSchedule {
  const pattern = NAMED_SCHEDULES[written as keyof typeof NAMED_SCHEDULES] ?? written;
  const parts = pattern.trim().split(/\s+/);
  if (parts.length !== 5)
    throw new Error(
      `${JSON.stringify(written)} is not a schedule: use quarterly, monthly, weekly or a cron pattern of five fields (minute hour day-of-month month day-of-week, UTC), like "0 9 1 */3 *"`,
    );
  const sets = parts.map((part, i) => field(part, FIELDS[i]!, written)) as unknown as CronSchedule['sets'];
  if (sets[4].has(7)) sets[4].add(0);
  return { written, sets, domRestricted: parts[2] !== '*', dowRestricted: parts[4] !== '*' };
}

function field(part: string, spec: (typeof FIELDS)[number], written: string): Set<number> {
  const values = new Set<number>();
  const bad = () =>
    new Error(
      `${JSON.stringify(written)}: ${JSON.stringify(part)} is not a ${spec.name} field: use *, a number from ${spec.min} to ${spec.max}, a range like 1-5, a list like 1,15 or a step like */3`,
    );
  for (const item of part.split(',')) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
    if (!match) throw bad();
    const from = match[1] === '*' ? spec.min : Number(match[2]);
    const to = match[1] === '*' ? spec.max : match[3] !== undefined ? Number(match[3]) : match[4] ? spec.max : from;
    const step = match[4] !== undefined ? Number(match[4]) : 1;
    if (from < spec.min || to > spec.max || from > to || step < 1) throw bad();
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}

const DAY_MS = 86_400_000;

function dayMatches(s: CronSchedule, day: Date): boolean {
  if (!s.sets[3].has(day.getUTCMonth() + 1)) return false;
  const dom = s.sets[2].has(day.getUTCDate());
  const dow = s.sets[4].has(day.getUTCDay());
  // Cron's rule: when both day fields are restricted, either one matching is enough.
  if (s.domRestricted && s.dowRestricted) return dom || dow;
  return dom && dow;
}

/** The latest scheduled time at or before `now` (within eight years), or null. */
export function latestDue(s: CronSchedule, now: Date): Date | null {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  for (let back = 0; back <= 366 * 8; back++) {
    const day = new Date(today - back * DAY_MS);
    if (!dayMatches(s, day)) continue;
    for (let hour = 23; hour >= 0; hour--) {
      if (!s.sets[1].has(hour)) continue;
      for (let minute = 59; minute >= 0; minute--) {
        if (!s.sets[0].has(minute)) continue;
        const at = new Date(day.getTime() + hour * 3_600_000 + minute * 60_000);
        if (at <= now) return at;
      }
    }
  }
  return null;
}
