/** Access reviews (access/reviews.ts): each owner's message, a Keep and Remove per person, and the answers. */
import type { ReviewDecisionOutcome } from '../../access/reviews-decide.ts';
import type { Review, ReviewItem } from '../../access/reviews.ts';
import { formatDuration } from '../../config/duration.ts';
import { ACTION, BLOCK, itemBlockId } from './ids.ts';
import { actions, button, context, header, section, type Message } from './kit.ts';
import { GLYPH, formatWhen, listMentions, mention, plural, resourceLabel } from './text.ts';

/** People per message: two blocks each, plus the header and context, stays under Slack's 50 blocks. */
export const REVIEW_PAGE_SIZE = 20;

export const reviewButtonValue = (reviewId: string, userId: string) => `${reviewId}:${userId}`;

export function parseReviewButtonValue(value: string | undefined): { reviewId: string; person: string } {
  const [reviewId = '', person = ''] = (value ?? '').split(':');
  return { reviewId, person };
}

export function reviewPageCount(review: Review): number {
  return Math.max(1, Math.ceil(review.items.length / REVIEW_PAGE_SIZE));
}

function usageLine(item: ReviewItem): string {
  if (item.grants === 0) return 'No grants in the period.';
  return `${plural(item.grants, 'grant')}, ${formatDuration(Math.round(item.totalMs / 60_000) * 60_000 || 60_000)} in all, last ${formatWhen(item.lastGrantAt!)}.`;
}

function decisionLine(item: ReviewItem): string {
  if (item.decision === null) return '';
  const when = item.decidedAt ? ` ${formatWhen(item.decidedAt)}` : '';
  if (item.decision === 'keep') return `\n${GLYPH.approved} *Kept* by ${mention(item.decidedBy ?? 'someone')}${when}.`;
  const applied = item.changeAppliedAt
    ? ` The policy no longer lists them (since ${formatWhen(item.changeAppliedAt)}).`
    : ' The policy change is with the operator: `gatehouse review export` shows it.';
  return `\n${GLYPH.ended} *Remove*, decided by ${mention(item.decidedBy ?? 'someone')}${when}.${applied}`;
}

/** One page of the review as an owner sees it; every copy is re-rendered from the review's state. */
export function reviewMessage(review: Review, page: number): Message {
  const pages = reviewPageCount(review);
  const items = review.items.slice(page * REVIEW_PAGE_SIZE, (page + 1) * REVIEW_PAGE_SIZE);
  const decided = review.items.filter((i) => i.decision !== null).length;
  const resource = { id: review.resource_id, name: review.resourceName };
  const part = pages > 1 ? ` (part ${page + 1} of ${pages})` : '';
  const text = `Access review of ${review.resourceName}${part}: who should keep being able to request it?`;
  const blocks = [
    header(`Access review: ${review.resourceName}${part}`),
    section(
      `Who should keep being able to request ${resourceLabel(resource)}? Grants shown are from ${formatWhen(review.period_start)} to ${formatWhen(review.period_end)}. ` +
        `Remove takes effect when the operator edits the policy file (the review produces the exact change).`,
    ),
    ...items.flatMap((item) => {
      const via = item.via.filter((v) => v !== item.userId);
      const line = `${mention(item.userId)}${via.length > 0 ? ` (via ${via.join(', ')})` : ''}: ${usageLine(item)}${decisionLine(item)}`;
      const blockId = itemBlockId(BLOCK.reviewPerson, item.userId);
      if (item.decision !== null) return [section(line, undefined, blockId)];
      const value = reviewButtonValue(review.id, item.userId);
      return [
        section(line),
        actions(
          blockId,
          button({ text: 'Keep', actionId: ACTION.reviewKeep, value, style: 'primary' }),
          button({ text: 'Remove', actionId: ACTION.reviewRemove, value, style: 'danger' }),
        ),
      ];
    }),
    context(
      review.status === 'completed'
        ? `${GLYPH.approved} Review \`${review.id}\` complete: ${plural(decided, 'decision')}.`
        : `Review \`${review.id}\`: ${decided} of ${review.items.length} decided. Any owner may decide (${listMentions(review.owners)}).`,
    ),
  ];
  return { text, blocks };
}

/** Said to the clicker alone. */
export function reviewDecisionAnswer(outcome: ReviewDecisionOutcome): Message {
  let text: string;
  if (outcome.ok) {
    const verb = outcome.item.decision === 'keep' ? 'keep being able to request' : 'be removed from';
    text = `${GLYPH.approved} Recorded: ${mention(outcome.item.userId)} should ${verb} ${outcome.review.resourceName}.`;
    if (outcome.item.decision === 'remove')
      text +=
        ' The operator makes the policy change (`gatehouse review export` shows it); Gatehouse records when a loaded policy has it.';
  } else if (outcome.reason === 'not-found') {
    text = `There is no review \`${outcome.reviewId}\` with ${mention(outcome.person)} in it: the message may be out of date.`;
  } else if (outcome.reason === 'not-owner') {
    text = `Only the owners of ${outcome.review.resourceName} may decide its review: ${listMentions(outcome.owners)}. Your attempt is on the record.`;
  } else {
    const item = outcome.item;
    text = `${mention(item.userId)} was already decided: *${item.decision === 'keep' ? 'Keep' : 'Remove'}* by ${mention(item.decidedBy ?? 'someone')}${item.decidedAt ? ` ${formatWhen(item.decidedAt)}` : ''}. Nothing changed.`;
  }
  return { text, blocks: [section(text)] };
}

/** The one reminder of an open review, to each owner. */
export function reviewReminderMessage(review: Review): Message {
  const undecided = review.items.filter((i) => i.decision === null).length;
  const text = `Reminder: ${plural(undecided, 'person', 'people')} still to decide in the access review of ${review.resourceName}.`;
  return {
    text,
    blocks: [
      section(
        `${GLYPH.pending} ${text} Keep or Remove each on the review above in this conversation; any owner may decide (review \`${review.id}\`).`,
      ),
    ],
  };
}
