/** Direct messages to owners beyond the approval card itself. */
import type { AccessRequest } from '../../access/types.ts';
import { approvalCard } from './approval-card.ts';
import { context, type Message } from './kit.ts';
import { formatWhen, mention, userText } from './text.ts';

/** A nudge about a request still waiting: the card again, so the owner can decide right there. */
export function ownerReminderDM(request: AccessRequest): Message {
  const card = approvalCard(request, { viewerIsApprover: true });
  const line = `⏳ Reminder: ${mention(request.requester)} is still waiting for a decision on ${userText(request.resourceName, 200)}. The request expires ${formatWhen(request.expiresAt)}.`;
  return { text: `${line}\n${card.text}`.slice(0, 3000), blocks: [context(line), ...card.blocks].slice(0, 50) };
}
