/** The request form's Ticket field (docs/asking.md §1): there when what may be chosen has a ticket rule. */
import type { InputBlock } from '@slack/types';
import { REQUEST_MODAL } from './ids.ts';
import { plainText } from './kit.ts';
import { truncate } from './text.ts';

interface TicketChoice {
  id: string;
  ticket?: { pattern: string; example: string | null };
}

/** Required when every choice needs a ticket; its hint says each rule's pattern. Null when none does. */
export function ticketInput(choices: readonly TicketChoice[], prefill: string | undefined): InputBlock | null {
  const needing = choices.filter((choice) => choice.ticket);
  if (needing.length === 0) return null;
  const rules = needing.map(
    (c) => `${c.id}: ${c.ticket!.pattern}${c.ticket!.example ? ` (like ${c.ticket!.example})` : ''}`,
  );
  return {
    type: 'input',
    block_id: REQUEST_MODAL.ticket.block,
    label: plainText('Ticket'),
    ...(needing.length === choices.length ? {} : { optional: true }),
    hint: plainText(truncate(`A ticket reference is needed for ${rules.join('; ')}.`, 2000), 2000),
    element: {
      type: 'plain_text_input',
      action_id: REQUEST_MODAL.ticket.action,
      max_length: 100,
      ...(prefill ? { initial_value: prefill.slice(0, 100) } : {}),
    },
  };
}
