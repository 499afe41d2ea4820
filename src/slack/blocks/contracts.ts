/** Contract ends (access/contracts.ts) as people read them: the shortened request, the refusal, the owners' week notice. */
import type { AccessRequest } from '../../access/types.ts';
import { section, type Message } from './kit.ts';
import { escapeText, formatWhen, listMentions, mention, plural, resourceLabel, truncate } from './text.ts';

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** "on 2027-03-31" for a last day as the policy wrote it, or "at <time>" for an exact end. */
export function contractEndPhrase(written: string, endsAt: Date): string {
  return DATE_ONLY.test(written) ? `on ${escapeText(written)}` : `at ${formatWhen(endsAt)}`;
}

/** Said on the card and to the requester when a request was cut to the contract's end. */
export function contractShortenedLine(request: AccessRequest): string | null {
  if (!request.contractEndsAt) return null;
  return `✂️ Shortened to end with ${mention(request.requester)}'s contract, ${formatWhen(request.contractEndsAt)}: no grant runs past it.`;
}

/** Why no request is taken any more, and who can change that. */
export function contractEndedText(written: string, endsAt: Date, owners: readonly string[]): string {
  const ask = owners.length > 0 ? `ask ${listMentions(owners)}` : 'ask an owner';
  return `Your contract ended ${contractEndPhrase(written, endsAt)}, so Gatehouse refuses every request from you since. If it was extended, ${ask} to update the policy's \`contracts\` entry.`;
}

export function extensionPastContractText(written: string, endsAt: Date, owners: readonly string[]): string {
  const ask = owners.length > 0 ? `ask ${listMentions(owners)}` : 'ask an owner';
  return `Your access already ends when your contract does (${contractEndPhrase(written, endsAt)}): it cannot be extended past it. If your contract was extended, ${ask} to update the policy's \`contracts\` entry.`;
}

export interface RecurringShown {
  resource: { id: string; name: string };
  grants: number;
  lastStartedAt: Date;
}

/** To an owner, a week ahead: whose contract ends, and what they keep asking for on what this owner owns. */
export function contractEndingDM(
  userId: string,
  written: string,
  endsAt: Date,
  days: number,
  recurring: readonly RecurringShown[],
): Message {
  const lines = recurring.map(
    (r) =>
      `• ${resourceLabel(r.resource)}: ${plural(r.grants, 'grant')} in the last ${days} days, the last from ${formatWhen(r.lastStartedAt)}`,
  );
  const text = [
    `📅 ${mention(userId)}'s contract ends ${contractEndPhrase(written, endsAt)}. Access still recurring for them on what you own:`,
    ...lines,
    'After that Gatehouse refuses their requests and no grant runs past it. If the contract is extended, update their entry under `contracts` in the policy; if the work moves to someone else, add that person as a requester.',
  ].join('\n');
  return { text: truncate(text), blocks: [section(truncate(text))] };
}
