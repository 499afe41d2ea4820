/**
 * Working hours in the policy (`working_hours: { days: mon-fri, hours: 08:00-19:00,
 * time_zone: Europe/Berlin }`), read and validated, and the wall clock of a time zone they
 * are compared on.
 */
import { z } from 'zod';
import { explain, strict } from './policy-schema.ts';

export const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** When people are expected to work, in a time zone: outside it, requests, approvals and sessions are noted. */
export interface WorkingHours {
  /** 0 = Sunday … 6 = Saturday. */
  days: readonly number[];
  /** Minutes after local midnight; `to` is exclusive and may be 24:00. */
  fromMinute: number;
  toMinute: number;
  /** IANA name, like Europe/Berlin. */
  timeZone: string;
  /** As written, for messages: "mon-fri 08:00-19:00 Europe/Berlin". */
  text: string;
}

const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$|^24:00$/;

function minuteOf(clock: string): number {
  const [h, m] = clock.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

function dayList(text: string): number[] | string {
  const days = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim().toLowerCase())) {
    const [from, to] = part.split('-');
    const a = DAY_NAMES.indexOf(from as (typeof DAY_NAMES)[number]);
    const b = to === undefined ? a : DAY_NAMES.indexOf(to as (typeof DAY_NAMES)[number]);
    if (a < 0 || b < 0) return `${JSON.stringify(part)} is not a day or a range of days`;
    for (let d = a; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === b) break;
    }
  }
  return [...days].sort();
}

function knownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const HOURS_HINT = 'write it like { days: mon-fri, hours: 08:00-19:00, time_zone: Europe/Berlin }';

export const workingHours = strict(
  {
    days: z.string({ error: explain('a list of days', 'write days like mon-fri or mon,wed,fri') }),
    hours: z.string({ error: explain('a span of hours', 'write hours like 08:00-19:00 (24-hour clock)') }),
    time_zone: z.string({
      error: explain('a time zone', 'use an IANA time zone name like Europe/Berlin or America/New_York'),
    }),
  },
  'working hours',
  HOURS_HINT,
).transform((raw, ctx): WorkingHours => {
  const days = dayList(raw.days);
  if (typeof days === 'string')
    ctx.issues.push({
      code: 'custom',
      input: raw.days,
      path: ['days'],
      message: `${days}: use mon … sun, like mon-fri`,
    });
  const [from, to] = raw.hours.split('-').map((p) => p.trim());
  if (from === undefined || to === undefined || !CLOCK.test(from) || !CLOCK.test(to) || minuteOf(from) >= minuteOf(to))
    ctx.issues.push({
      code: 'custom',
      input: raw.hours,
      path: ['hours'],
      message: `${JSON.stringify(raw.hours)} is not a span of hours: write it like 08:00-19:00, the start before the end (24-hour clock, 24:00 for midnight)`,
    });
  if (!knownTimeZone(raw.time_zone))
    ctx.issues.push({
      code: 'custom',
      input: raw.time_zone,
      path: ['time_zone'],
      message: `${JSON.stringify(raw.time_zone)} is not a time zone this system knows: use an IANA name like Europe/Berlin`,
    });
  return {
    days: typeof days === 'string' ? [] : days,
    fromMinute: minuteOf(from ?? '00:00'),
    toMinute: minuteOf(to ?? '24:00'),
    timeZone: raw.time_zone,
    text: `${raw.days} ${raw.hours} ${raw.time_zone}`,
  };
});

/** Whether `time` falls inside `hours`, read on the wall clock of its time zone. */
export function withinWorkingHours(hours: WorkingHours, time: Date): boolean {
  const local = localClock(hours.timeZone, time);
  return hours.days.includes(local.weekday) && local.minute >= hours.fromMinute && local.minute < hours.toMinute;
}

const clocks = new Map<string, Intl.DateTimeFormat>();

/** The weekday (0 = Sunday), minute of the day and date (YYYY-MM-DD) of `time` in `zone`. */
export function localClock(zone: string, time: Date): { weekday: number; minute: number; date: string } {
  let format = clocks.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
    clocks.set(zone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(time).map((p) => [p.type, p.value]));
  return {
    weekday: DAY_NAMES.indexOf((parts['weekday'] ?? '').toLowerCase() as (typeof DAY_NAMES)[number]),
    minute: Number(parts['hour']) * 60 + Number(parts['minute']),
    date: `${parts['year']}-${parts['month']}-${parts['day']}`,
  };
}
