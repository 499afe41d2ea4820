import type { AccessContext } from './context.ts';
import { recordAppliedChanges } from './reviews-decide.ts';
import { openDueReviews, remindReviewers } from './reviews.ts';

/**
 * The access-review sweep, once a minute on every replica: opens reviews that fell due
 * (once each: the unique scheduled time), reminds owners of reviews still open after
 * reminder_after, and records removals that a loaded policy now carries out (each once:
 * conditional updates).
 */
export async function reviewSweep(ctx: AccessContext): Promise<number> {
  const opened = await openDueReviews(ctx);
  const reminded = await remindReviewers(ctx);
  const applied = await recordAppliedChanges(ctx);
  return opened.length + reminded + applied;
}
