import type { GrantStory } from './story.ts';
import type { VerifiedReceipt } from './verify.ts';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function revokeLine(story: GrantStory): string | null {
  const { ending, revoked } = story;
  if (!ending && !revoked) return null;
  const why = ending ? ` (${ending.reason})` : '';
  if (!revoked) return `ending${why} since ${ending?.time}: not yet revoked at the checkpoint`;
  const how = revoked.dryRun
    ? 'a dry run: nothing was provisioned'
    : revoked.accessLeft === undefined
      ? 'the provisioner reported no read-back'
      : `verified: access left read back from the target ${JSON.stringify(revoked.accessLeft)}`;
  return `ended${why} at ${ending?.time ?? revoked.time}, revoked at ${revoked.time}, ${how}`;
}

/** What a receipt shows, one fact a line: what an auditor quotes. */
export function storyLines(story: GrantStory): string[] {
  const lines: string[] = [];
  const who = `${story.user ?? 'someone'}'s access to ${story.resource ?? 'a resource'}`;
  if (story.request)
    lines.push(
      `requested by ${story.request.requester} at ${story.request.time}${story.request.mfaChecked ? ' (MFA code checked)' : ''}: "${story.request.reason}"`,
    );
  const approvers = story.approvals.map(
    (a) => `${a.approver} at ${a.time}${a.mfaChecked ? ' (MFA code checked)' : ''}`,
  );
  lines.push(
    `approved by ${approvers.join(', ') || 'nobody on record'}${story.approvedAt ? `; approved at ${story.approvedAt}` : ''}`,
  );
  if (story.refusals > 0 || story.mfaFailures > 0)
    lines.push(
      `refused on the way: ${plural(story.refusals, 'decision')} by people who may not decide, ${plural(story.mfaFailures, 'MFA event')}`,
    );
  lines.push(
    story.activeAt
      ? `active from ${story.activeAt}, until ${story.endsAt ?? 'unknown'}${story.extensions > 0 ? ` after ${plural(story.extensions, 'extension')}` : ''}`
      : 'never became active',
  );
  lines.push(
    `used: ${plural(story.statements, 'statement')} in ${plural(story.sessions, 'gateway session')}${story.refusedStatements > 0 ? `, ${story.refusedStatements} refused` : ''}`,
  );
  if (story.alerts > 0) lines.push(`alerts: ${plural(story.alerts, 'alert')} raised about it`);
  lines.push(revokeLine(story) ?? 'still active at the checkpoint');
  return [`Grant ${story.grant}: ${who}`, ...lines.map((line) => `  ${line}`)];
}

/** The verifier's report of a receipt that holds. */
export function describeVerifiedReceipt(file: string, verified: VerifiedReceipt): string[] {
  const { receipt } = verified;
  const proved = verified.rootSigned
    ? `signed by key ${receipt.key_id} (the checkpoint and the note over size and root)`
    : verified.signatureChecked
      ? `in the tree of checkpoint seq ${receipt.size}, whose signature by key ${receipt.key_id} holds; the root itself is NOT signed`
      : "against the receipt's own root: NOTHING signed was checked";
  return [
    `✔ ${file} holds: ${plural(receipt.events.length, 'event')} of log ${receipt.log_id}, each hashed and proved in the tree of the first ${receipt.size} events (root ${receipt.root}), ${proved}.`,
    ...storyLines(verified.story),
    ...verified.unchecked.map((what) => `  NOT checked: ${what}.`),
    '  A receipt shows that these events are in the log; it cannot show that the log holds no other event about the grant (see docs/merkle.md §13.4).',
  ];
}
