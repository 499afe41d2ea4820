/**
 * A grant's receipt in Slack (docs/merkle.md §13.6): the Receipt button on the audit channel's
 * post of a grant's end, and what the person who presses it is told.
 */
import type { ActionsBlock } from '@slack/types';
import type { AuditEventSummary } from '../../access/types.ts';
import { storyLines } from '../../audit/receipts/describe.ts';
import type { VerifiedReceipt } from '../../audit/receipts/verify.ts';
import { ACTION, BLOCK } from './ids.ts';
import { actions, button } from './kit.ts';
import { truncate, userText } from './text.ts';

/** Buttons past this many in one post are left out; `gatehouse audit receipt` makes any receipt. */
const MAX_RECEIPT_BUTTONS = 5;

/** One Receipt button for each grant whose end (`grant.revoked`) the post shows; null when it shows none. */
export function receiptActions(events: readonly AuditEventSummary[]): ActionsBlock | null {
  const grants = [
    ...new Set(events.filter((e) => e.action === 'grant.revoked' && e.subject).map((e) => e.subject as string)),
  ];
  if (grants.length === 0) return null;
  const several = grants.length > 1;
  return actions(
    BLOCK.receiptActions,
    ...grants
      .slice(0, MAX_RECEIPT_BUTTONS)
      .map((grant) =>
        button({ text: several ? `Receipt ${grant}` : 'Receipt', actionId: ACTION.sendReceipt, value: grant }),
      ),
  );
}

/** Said to someone who is not an auditor. */
export function receiptRefusalText(): string {
  return (
    "Only members of the policy's `auditors` group can get a grant's receipt. " +
    'Ask an auditor, or ask an administrator to add you to `auditors`. ' +
    'Anyone can check a receipt they were given: `gatehouse audit verify-receipt FILE --public-key KEY`.'
  );
}

/** No receipt now: no such grant, or no signed checkpoint covers its end yet. */
export function receiptUnavailableText(reason: string): string {
  return truncate(`No receipt could be made: ${userText(reason, 1000)}.`);
}

/** The receipt made from the log does not verify: the log was changed. */
export function receiptBrokenText(why: string): string {
  return truncate(
    `⚠️ The receipt made from the audit log does NOT verify: ${userText(why, 1500)}. The log may have been changed: run \`/verify-audit\` and tell your security team.`,
  );
}

/** Slack did not take the file. */
export function receiptNotSentText(why: string, grantId: string): string {
  return truncate(
    `The receipt could not be sent to you (Slack said: ${userText(why, 200)}). Press Receipt again in a minute, or run \`gatehouse audit receipt ${userText(grantId, 100)}\`.`,
  );
}

/** The comment that comes with the file in the auditor's DM: what it shows, and how to check it. */
export function receiptComment(verified: VerifiedReceipt, fileName: string): string {
  const { receipt } = verified;
  const signed = verified.rootSigned
    ? `the root signed by key \`${receipt.key_id}\``
    : verified.signatureChecked
      ? `the checkpoint signed by key \`${receipt.key_id}\` (its root is NOT signed)`
      : `signatures not checked here (no public key is configured), key \`${receipt.key_id}\``;
  const lines = [
    `🧾 Receipt of \`${receipt.grant}\`: ${receipt.events.length} events, each proved in the log's tree of its first ${receipt.size} events, ${signed}.`,
    '```',
    ...storyLines(verified.story).map((line) => userText(line, 500)),
    '```',
    `Check it offline: \`gatehouse audit verify-receipt ${fileName} --public-key <the checkpoint public key>\`. It shows these events are in the log; it cannot show there are no others (docs/merkle.md §13.4).`,
  ];
  return truncate(lines.join('\n'));
}
