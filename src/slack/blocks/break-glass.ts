/** Break-glass access (access/break-glass.ts): the alert with Ratify and Revoke now, and the answers to them. */
import type { BreakGlass } from '../../access/break-glass.ts';
import type { Grant } from '../../access/types.ts';
import { formatDuration } from '../../config/duration.ts';
import { ACTION, BLOCK } from './ids.ts';
import { actions, button, context, section, type Message } from './kit.ts';
import { GLYPH, formatWhen, listMentions, mention, plural, resourceLabel, truncate, userText } from './text.ts';

/** What became of it, one line: waiting (and what happens if nobody ratifies), ratified, or revoked and why. */
export function breakGlassStateLine(bg: BreakGlass): string {
  const at = bg.settledAt ? ` at ${formatWhen(bg.settledAt)}` : '';
  const given = `${bg.ratifiedBy.length} of ${bg.quorum}`;
  switch (bg.status) {
    case 'pending':
      return (
        `${GLYPH.pending} *Not ratified yet* (${given}${bg.ratifiedBy.length > 0 ? `: ${listMentions(bg.ratifiedBy)}` : ''}). ` +
        `Unless ${plural(bg.quorum, 'owner')} ratif${bg.quorum === 1 ? 'ies' : 'y'} it by ${formatWhen(bg.ratifyBy)}, Gatehouse revokes it automatically.`
      );
    case 'ratified':
      return `${GLYPH.approved} *Ratified* by ${listMentions(bg.ratifiedBy)}${at}: the access runs to its end.`;
    case 'revoked':
      return `${GLYPH.ended} *Revoked* by ${mention(bg.settledBy ?? 'someone')}${at}.`;
    case 'unratified': {
      // A grant shorter than the window ended by itself first: nothing was left to revoke.
      const endedFirst = bg.grant?.endedAt && bg.grant.endReason !== 'revoked' && bg.grant.endedAt <= bg.ratifyBy;
      return endedFirst
        ? `${GLYPH.ended} *Not ratified* by ${formatWhen(bg.ratifyBy)} (${given} ratifications); the access had already ended ${formatWhen(bg.grant!.endedAt!)}.`
        : `${GLYPH.ended} *Revoked automatically*${at}: not ratified by ${formatWhen(bg.ratifyBy)} (${given} ratifications).`;
    }
  }
}

function accessLine(grant: Grant | null): string {
  if (!grant) return '';
  if (grant.status === 'ended') return `Access ended ${formatWhen(grant.endedAt ?? grant.endsAt)}.`;
  if (grant.status === 'revoking' || grant.status === 'revoke_failed') return 'Access is being taken away.';
  return `Access until ${formatWhen(grant.endsAt)}.`;
}

/** The alert as posted to the audit channel and each owner and security member, and as every copy is updated. */
export function breakGlassMessage(bg: BreakGlass): Message {
  const live = bg.status === 'pending' || bg.status === 'ratified';
  const grantLive = bg.grant !== null && ['provisioning', 'active', 'provision_failed'].includes(bg.grant.status);
  const buttons = [];
  if (bg.status === 'pending')
    buttons.push(button({ text: 'Ratify', actionId: ACTION.ratifyBreakGlass, value: bg.grantId, style: 'primary' }));
  if (live && grantLive)
    buttons.push(
      button({
        text: 'Revoke now',
        actionId: ACTION.revokeBreakGlass,
        value: bg.grantId,
        style: 'danger',
        confirm: {
          title: 'Revoke this access now?',
          text: `${bg.resource.name}: the access ends at once and its open database sessions are closed.`,
          confirm: 'Revoke',
          deny: 'Keep it',
        },
      }),
    );
  const duration = bg.grant
    ? ` for ${formatDuration(Math.max(0, bg.grant.endsAt.getTime() - bg.createdAt.getTime()))}`
    : '';
  const headline = `🚨 ${mention(bg.userId)} broke the glass on ${resourceLabel(bg.resource)}${duration}, without approval`;
  const blocks: Message['blocks'] = [
    section(`*${headline}*\n*Reason:* ${userText(bg.reason, 2000)}`),
    section(`${breakGlassStateLine(bg)}\n${accessLine(bg.grant)}`.trim()),
    ...(buttons.length > 0 ? [actions(BLOCK.breakGlassActions, ...buttons)] : []),
    context(
      `Break-glass grant \`${bg.grantId}\` · taken ${formatWhen(bg.createdAt)} · owners ratify; the holder cannot`,
    ),
  ];
  const state =
    bg.status === 'pending'
      ? `revoked automatically unless ratified by ${formatWhen(bg.ratifyBy)}`
      : bg.status === 'ratified'
        ? 'ratified'
        : bg.status === 'unratified'
          ? 'revoked automatically: not ratified in time'
          : 'revoked by an owner';
  return { text: truncate(`${headline}: ${state}`), blocks };
}

/** To the person who broke the glass: it is theirs now, and what happens next. */
export function breakGlassTakenAnswer(grant: Grant, bg: BreakGlass | null): Message {
  const ratify = bg
    ? ` The owners and security are alerted now; unless ${plural(bg.quorum, 'owner')} ratif${bg.quorum === 1 ? 'ies' : 'y'} it by ${formatWhen(bg.ratifyBy)}, it is revoked automatically.`
    : '';
  const text = `🚨 Break-glass access to ${resourceLabel({ id: grant.resourceId, name: grant.resourceName })} is yours until ${formatWhen(grant.endsAt)}, without approval.${ratify}`;
  return { text: truncate(text), blocks: [section(truncate(text))] };
}

export function breakGlassRatifiedAnswer(bg: BreakGlass): Message {
  const text =
    bg.status === 'ratified'
      ? `${GLYPH.approved} Ratified: ${resourceLabel(bg.resource)} stays with ${mention(bg.userId)} until its end.`
      : `${GLYPH.approved} Your ratification is counted (${bg.ratifiedBy.length} of ${bg.quorum}); it needs ${plural(bg.quorum - bg.ratifiedBy.length, 'more owner')} by ${formatWhen(bg.ratifyBy)}.`;
  return { text, blocks: [section(text)] };
}

export function breakGlassRevokedAnswer(bg: BreakGlass): Message {
  const text = `${GLYPH.ended} Revoked: ${mention(bg.userId)}'s break-glass access to ${resourceLabel(bg.resource)} is being taken away.`;
  return { text, blocks: [section(text)] };
}
