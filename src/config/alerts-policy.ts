/**
 * The policy's `alerts:` section and a resource's own `alerts:` block: which detectors watch
 * the audit chain, their thresholds, working hours, where alerts go and who may act on them
 * (docs/alerts.md). Every detector is on with the defaults below unless the policy says
 * `false`; a mapping changes its thresholds.
 */
import { z } from 'zod';
import type { SlackUserId } from '../db/ids.ts';
import { parseDuration } from './duration.ts';
import { channelId, duration, explain, strict } from './policy-schema.ts';
import { DAY_NAMES, HOURS_HINT, workingHours, type WorkingHours } from './working-hours.ts';

export interface RefusalsDetector {
  /** This many refusals of one person within `withinMs` is a burst. */
  count: number;
  withinMs: number;
}
export interface RubberStampsDetector {
  /** An approval this soon after the request was made. */
  withinMs: number;
  /** One owner giving more than this share (percent) of a resource's approvals … */
  sharePercent: number;
  /** … over this window … */
  overMs: number;
  /** … once the resource had at least this many approvals in it. */
  minApprovals: number;
}
export interface SpreesDetector {
  /** One person asking for this many different resources within `withinMs`. */
  resources: number;
  withinMs: number;
  /** Asking for the resource's maximum duration this many times within `maxWithinMs`. */
  maxDurationRepeats: number;
  maxWithinMs: number;
}
export interface StuckAccessDetector {
  /** A revocation failing this many times in a row. */
  revokeFailures: number;
  /** A grant still live this long after its end. */
  overdueAfterMs: number;
}
export interface DatabaseDetector {
  /** A statement returning (or touching) more rows than this. */
  rowsOver: number;
  /** Statements in the last minute over this many times the session's first minute … */
  rateFactor: number;
  /** … and at least this many (so a quiet first minute does not make every burst an alarm). */
  rateFloorPerMinute: number;
}
export interface UnusedAccessDetector {
  /** The weekly note goes out on this day (0 = Sunday) at this hour, UTC. */
  weekday: number;
  hourUtc: number;
}

/** The whole `alerts:` section, with defaults filled in; a detector turned off is null. */
export interface AlertPolicy {
  /** Where alerts are posted: the audit channel unless the policy names another. */
  channel: string | null;
  /** The `security` group: told of every alert, may end access and acknowledge. */
  security: SlackUserId[];
  workingHours: WorkingHours | null;
  /** Working hours of the people in a group, by group name (first listed group wins). */
  groupWorkingHours: ReadonlyMap<string, WorkingHours>;
  offHours: boolean;
  refusals: RefusalsDetector | null;
  rubberStamps: RubberStampsDetector | null;
  sprees: SpreesDetector | null;
  stuckAccess: StuckAccessDetector | null;
  database: DatabaseDetector | null;
  unusedAccess: UnusedAccessDetector | null;
}

/** A resource's own alert settings. */
export interface ResourceAlerts {
  workingHours: WorkingHours | null;
  /** Tables (`schema.table`, or a bare name for any schema) whose every statement is an alert. */
  sensitiveTables: readonly string[];
  /** This resource's row threshold, over the policy's. */
  rowsOver: number | null;
}

export const DEFAULT_REFUSALS: RefusalsDetector = { count: 5, withinMs: parseDuration('10m') };
export const DEFAULT_RUBBER_STAMPS: RubberStampsDetector = {
  withinMs: 10_000,
  sharePercent: 80,
  overMs: parseDuration('30d'),
  minApprovals: 10,
};
export const DEFAULT_SPREES: SpreesDetector = {
  resources: 4,
  withinMs: parseDuration('1h'),
  maxDurationRepeats: 3,
  maxWithinMs: parseDuration('7d'),
};
export const DEFAULT_STUCK_ACCESS: StuckAccessDetector = { revokeFailures: 3, overdueAfterMs: parseDuration('2m') };
export const DEFAULT_DATABASE: DatabaseDetector = { rowsOver: 10_000, rateFactor: 10, rateFloorPerMinute: 120 };
export const DEFAULT_UNUSED_ACCESS: UnusedAccessDetector = { weekday: 1, hourUtc: 9 };

const whole = (noun: string, min: number) =>
  z
    .number({ error: explain(noun, `write a whole number, ${min} or more`) })
    .int()
    .min(min, { error: `must be ${min} or more` });

/** `false` turns a detector off; `true` or an omitted key keeps it on with its defaults; a mapping changes them. */
function detector<T extends z.core.$ZodLooseShape, D>(
  shape: T,
  allowed: string,
  toDetector: (v: z.output<z.ZodObject<T>>) => D,
) {
  return z
    .union([z.boolean(), strict(shape, 'detector settings', `write false to turn it off, or a mapping: ${allowed}`)], {
      error: explain('detector settings', `write false to turn it off, or a mapping: ${allowed}`),
    })
    .optional()
    .transform((value): D | null =>
      value === false
        ? null
        : toDetector((value === true || value === undefined ? {} : value) as z.output<z.ZodObject<T>>),
    );
}

const securityMembers = z.array(
  z
    .string({ error: explain('a Slack user id or group name', 'use ids like U01AB2CD3 or group names like security') })
    .regex(/^([UW][A-Z0-9]{2,}|[a-z][a-z0-9_-]*)$/),
  { error: explain('a list of people', 'list Slack user ids or group names, like [security, U01AB2CD3]') },
);

export const AlertsSchema = strict(
  {
    channel: channelId.nullish(),
    security: securityMembers.default([]),
    working_hours: workingHours.nullish(),
    group_working_hours: z
      .record(z.string().regex(/^[a-z][a-z0-9_-]*$/), workingHours, {
        error: explain('working hours by group', `map group names to working hours: ${HOURS_HINT}`),
      })
      .default({}),
    off_hours: z.boolean({ error: explain('true or false', 'write true or false, without quotes') }).default(true),
    refusals: detector(
      { count: whole('a number of refusals', 2).optional(), within: duration.optional() },
      '{ count: 5, within: 10m }',
      (v) => ({ count: v.count ?? DEFAULT_REFUSALS.count, withinMs: v.within ?? DEFAULT_REFUSALS.withinMs }),
    ),
    rubber_stamps: detector(
      {
        within: duration.optional(),
        share_percent: whole('a percentage', 1).max(100).optional(),
        over: duration.optional(),
        min_approvals: whole('a number of approvals', 1).optional(),
      },
      '{ within: 10s, share_percent: 80, over: 30d, min_approvals: 10 }',
      (v) => ({
        withinMs: v.within ?? DEFAULT_RUBBER_STAMPS.withinMs,
        sharePercent: v.share_percent ?? DEFAULT_RUBBER_STAMPS.sharePercent,
        overMs: v.over ?? DEFAULT_RUBBER_STAMPS.overMs,
        minApprovals: v.min_approvals ?? DEFAULT_RUBBER_STAMPS.minApprovals,
      }),
    ),
    sprees: detector(
      {
        resources: whole('a number of resources', 2).optional(),
        within: duration.optional(),
        max_duration_repeats: whole('a number of requests', 2).optional(),
        max_duration_within: duration.optional(),
      },
      '{ resources: 4, within: 1h, max_duration_repeats: 3, max_duration_within: 7d }',
      (v) => ({
        resources: v.resources ?? DEFAULT_SPREES.resources,
        withinMs: v.within ?? DEFAULT_SPREES.withinMs,
        maxDurationRepeats: v.max_duration_repeats ?? DEFAULT_SPREES.maxDurationRepeats,
        maxWithinMs: v.max_duration_within ?? DEFAULT_SPREES.maxWithinMs,
      }),
    ),
    stuck_access: detector(
      { revoke_failures: whole('a number of failures', 1).optional(), overdue_after: duration.optional() },
      '{ revoke_failures: 3, overdue_after: 2m }',
      (v) => ({
        revokeFailures: v.revoke_failures ?? DEFAULT_STUCK_ACCESS.revokeFailures,
        overdueAfterMs: v.overdue_after ?? DEFAULT_STUCK_ACCESS.overdueAfterMs,
      }),
    ),
    database: detector(
      {
        rows_over: whole('a number of rows', 1).optional(),
        rate_factor: whole('a factor', 2).optional(),
        rate_floor_per_minute: whole('a number of statements', 1).optional(),
      },
      '{ rows_over: 10000, rate_factor: 10, rate_floor_per_minute: 120 }',
      (v) => ({
        rowsOver: v.rows_over ?? DEFAULT_DATABASE.rowsOver,
        rateFactor: v.rate_factor ?? DEFAULT_DATABASE.rateFactor,
        rateFloorPerMinute: v.rate_floor_per_minute ?? DEFAULT_DATABASE.rateFloorPerMinute,
      }),
    ),
    unused_access: detector(
      {
        day: z.enum(DAY_NAMES, { error: explain('a day', 'write mon, tue, … or sun') }).optional(),
        hour_utc: whole('an hour', 0).max(23).optional(),
      },
      '{ day: mon, hour_utc: 9 }',
      (v) => ({
        weekday: v.day === undefined ? DEFAULT_UNUSED_ACCESS.weekday : DAY_NAMES.indexOf(v.day),
        hourUtc: v.hour_utc ?? DEFAULT_UNUSED_ACCESS.hourUtc,
      }),
    ),
  },
  'an alerts section',
  'alerts is a mapping with channel, security, working_hours and one key per detector (docs/alerts.md)',
);

export type AlertsFields = z.output<typeof AlertsSchema>;

/** `alerts: false`: every detector off (the section as if each were written `false`). */
export const ALERTS_OFF = {
  off_hours: false,
  refusals: false,
  rubber_stamps: false,
  sprees: false,
  stuck_access: false,
  database: false,
  unused_access: false,
} as const;

export const ResourceAlertsSchema = strict(
  {
    working_hours: workingHours.nullish(),
    sensitive_tables: z
      .array(
        z
          .string({ error: explain('a table name', 'write tables like public.customers, or customers for any schema') })
          .regex(/^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/),
        { error: explain('a list of tables', 'list tables like [public.customers, payments]') },
      )
      .default([]),
    rows_over: whole('a number of rows', 1).nullish(),
  },
  "a resource's alert settings",
  'a mapping with working_hours, sensitive_tables and rows_over',
);

export type ResourceAlertsFields = z.output<typeof ResourceAlertsSchema>;

export function toResourceAlerts(fields: ResourceAlertsFields | undefined | null): ResourceAlerts {
  return {
    workingHours: fields?.working_hours ?? null,
    sensitiveTables: (fields?.sensitive_tables ?? []).map((t) => t.toLowerCase()),
    rowsOver: fields?.rows_over ?? null,
  };
}

/** The section with its members expanded; `expand` turns group names into user ids. */
export function toAlertPolicy(
  fields: AlertsFields | undefined,
  expand: (entries: readonly string[]) => SlackUserId[],
): AlertPolicy {
  const f = fields ?? AlertsSchema.parse({});
  return {
    channel: f.channel ?? null,
    security: expand(f.security),
    workingHours: f.working_hours ?? null,
    groupWorkingHours: new Map(Object.entries(f.group_working_hours)),
    offHours: f.off_hours,
    refusals: f.refusals,
    rubberStamps: f.rubber_stamps,
    sprees: f.sprees,
    stuckAccess: f.stuck_access,
    database: f.database,
    unusedAccess: f.unused_access,
  };
}
