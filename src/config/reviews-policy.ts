/**
 * The `reviews:` setting: when each resource's owners are asked who should keep being able
 * to request it (src/access/reviews.ts). At the top level it applies to every resource; a
 * resource's own `reviews:` overrides its fields, and `reviews: false` leaves it out.
 */
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { duration, explain, isRecord, strict } from './policy-schema.ts';
import { parseSchedule, type CronSchedule } from './review-schedule.ts';

export interface ReviewSchedule {
  every: CronSchedule;
  /** The grants looked at: this long before the review's scheduled time. */
  periodMs: number;
  /** Owners who have not answered everything are reminded once after this long; null: never. */
  reminderAfterMs: number | null;
}

/** A resource's review schedule, its own setting merged over the top level's. */
export type ResourceReview = ReviewSchedule;

const DEFAULT_PERIOD_MS = parseDuration('90d');
const SHAPE = 'use a mapping like { every: quarterly, period: 90d, reminder_after: 3d }';

const every = z
  .string({ error: explain('a schedule', 'use quarterly, monthly, weekly or a cron pattern') })
  .transform((text, ctx) => {
    try {
      return parseSchedule(text);
    } catch (error) {
      ctx.issues.push({ code: 'custom', input: text, message: (error as Error).message });
      return z.NEVER;
    }
  });

export const ReviewsSchema = strict(
  { every, period: duration.optional(), reminder_after: duration.optional() },
  'a reviews setting',
  SHAPE,
);

export const ResourceReviewsSchema = z.union(
  [
    z.literal(false),
    strict(
      { every: every.optional(), period: duration.optional(), reminder_after: duration.optional() },
      'a reviews setting',
      `${SHAPE}, or false to leave this resource out of reviews`,
    ),
  ],
  {
    error: (issue) =>
      isRecord(issue.input) ? undefined : explain('a reviews setting', `${SHAPE}, or false to leave it out`)(issue),
  },
);

export type ReviewsFields = z.output<typeof ReviewsSchema>;
export type ResourceReviewsFields = z.output<typeof ResourceReviewsSchema>;

interface Finding {
  path: PropertyKey[];
  message: string;
}

/** Merges a resource's setting over the top level's; a finding when a resource's has no `every` to fall back on. */
export function toResourceReview(
  top: ReviewsFields | undefined,
  own: ResourceReviewsFields | undefined,
  at: (...rest: PropertyKey[]) => PropertyKey[],
): ResourceReview | Finding | null {
  if (own === false || (own === undefined && top === undefined)) return null;
  const schedule = own?.every ?? top?.every;
  if (schedule === undefined)
    return {
      path: at('reviews', 'every'),
      message:
        'is required: there is no top-level reviews.every to fall back on; write every: quarterly (or monthly, weekly, a cron pattern) here or under a top-level reviews:',
    };
  return {
    every: schedule,
    periodMs: own?.period ?? top?.period ?? DEFAULT_PERIOD_MS,
    reminderAfterMs: own?.reminder_after ?? top?.reminder_after ?? null,
  };
}
