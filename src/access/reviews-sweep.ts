import type { AccessContext } from './context.ts';
import { recordAppliedChanges } from './reviews-decide.ts';
import { openDueReviews } from './reviews.ts';

/**
 * The access-review sweep, once a minute on every replica: opens reviews that fell due
 * (once each: the unique scheduled time) and records removals that a loaded policy now
 * carries out (once each: a conditional update).
 */
export async function reviewSweep(ctx: AccessContext): Promise<number> {
  const opened = await openDueReviews(ctx);
  const applied = await recordAppliedChanges(ctx);
  return opened.length + applied;
}
