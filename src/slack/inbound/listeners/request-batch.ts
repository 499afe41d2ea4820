import type { RespondFn } from '@slack/bolt';
import { MAX_BATCH, requestMany } from '../../../access/batch.ts';
import type { SlackUserId } from '../../../access/ids.ts';
import { resourceById } from '../../../config/policy.ts';
import { batchAnswer, type BatchLine } from '../../blocks/batch.ts';
import type { SlackDeps } from '../deps.ts';
import type { RequestCommand } from '../parse-command.ts';
import { ticketFromReason } from '../ticket-words.ts';

/**
 * `/request-access db-a,db-b 1h <reason>`: one request per resource (access/batch.ts), each
 * with its own cards and decided on its own; the answer lists what became of each. There is
 * no form for several resources: what is missing is said per resource.
 */
export async function requestBatchCommand(
  deps: SlackDeps,
  userId: SlackUserId,
  typed: RequestCommand,
  respond: RespondFn,
): Promise<void> {
  const ids = [...new Set((typed.resourceId ?? '').split(',').filter(Boolean))];
  if (ids.length > MAX_BATCH) {
    await respond({
      response_type: 'ephemeral',
      text: `That is ${ids.length} resources; one request takes at most ${MAX_BATCH}. Nothing was recorded: ask for fewer at a time.`,
    });
    return;
  }
  const inputs = ids.map((resourceId) => {
    // Each resource's own ticket rule reads the reason's first word (ticket-words.ts).
    const parsed = ticketFromReason(resourceById(deps.policy().policy, resourceId), { ...typed, resourceId });
    return {
      requester: userId,
      resourceId,
      duration: parsed.duration,
      reason: parsed.reason ?? '',
      ...(parsed.ticket !== undefined ? { ticket: parsed.ticket } : {}),
    };
  });
  const { batch, items } = await requestMany(deps.access.ctx, inputs);
  const lines: BatchLine[] = items.map(({ resourceId, outcome }) =>
    outcome.ok
      ? { resourceId, request: outcome.request, approvers: deps.access.approversOf(outcome.request).length }
      : { resourceId, refusal: outcome.refusal },
  );
  await respond({ response_type: 'ephemeral', ...batchAnswer(batch, lines) });
}
