/** One block per grant or request, shared by `/access` and the App Home so both read the same. */
import type { SectionBlock } from '@slack/types';
import type { AccessRequest, Grant } from '../../access/types.ts';
import { formatDuration } from '../../config/duration.ts';
import { approvalsLine, askLine } from './approval-card.ts';
import { ACTION, BLOCK, itemBlockId } from './ids.ts';
import { actions, button, section, type Message } from './kit.ts';
import { formatTimeLeft, formatWhen, grantGlyph, requestGlyph, resourceLabel, userText } from './text.ts';

/** Grants a person still holds or is waiting on; ended ones belong to history, not to lists. */
export const isLive = (grant: Grant): boolean => grant.status !== 'ended';
export const isPending = (request: AccessRequest): boolean => request.status === 'pending';

const GRANT_STATE: Record<Grant['status'], string> = {
  provisioning: 'being set up',
  active: '',
  revoking: 'being removed',
  ended: 'ended',
  provision_failed: 'setup failing, retrying',
  revoke_failed: 'removal failing, retrying',
};

export function grantItem(grant: Grant, now: Date): SectionBlock {
  const left = formatTimeLeft(grant.endsAt.getTime() - now.getTime());
  const state = GRANT_STATE[grant.status];
  const text =
    `${grantGlyph(grant.status)} ${resourceLabel({ id: grant.resourceId, name: grant.resourceName })}` +
    `${state ? ` (${state})` : ''}: ${left}, until ${formatWhen(grant.endsAt)}`;
  const done =
    grant.status === 'active' ? button({ text: "I'm done", actionId: ACTION.endGrant, value: grant.id }) : undefined;
  return section(text, done, itemBlockId(BLOCK.grantActions, grant.id));
}

export function requestItem(request: AccessRequest): SectionBlock {
  const what = request.extendsGrantId
    ? `Extend ${resourceLabel({ id: request.resourceId, name: request.resourceName })} by`
    : `${resourceLabel({ id: request.resourceId, name: request.resourceName })} for`;
  const text =
    `${requestGlyph(request.status)} ${what} ${formatDuration(request.durationMs)} · ` +
    `${approvalsLine(request)} · expires ${formatWhen(request.expiresAt)}`;
  const cancel = button({
    text: 'Cancel',
    actionId: ACTION.cancelRequest,
    value: request.id,
    confirm: {
      title: 'Cancel this request?',
      text: request.extendsGrantId
        ? `Withdraw your request to extend ${request.resourceName}? Your access keeps its current end.`
        : `Withdraw your request for ${request.resourceName}?`,
      confirm: 'Cancel it',
      deny: 'Keep it',
    },
  });
  return section(text, cancel, itemBlockId(BLOCK.requestActions, request.id));
}

/** A request waiting for the viewer's decision, with a short reason: two blocks. */
export function approvalItem(request: AccessRequest): Message['blocks'] {
  return [
    section(
      `${askLine(request)}\n*Reason:* ${userText(request.reason, 300)}\n${approvalsLine(request)} · expires ${formatWhen(request.expiresAt)}`,
    ),
    actions(
      itemBlockId(BLOCK.approvalActions, request.id),
      button({ text: 'Approve', actionId: ACTION.approve, value: request.id, style: 'primary' }),
      button({ text: 'Deny', actionId: ACTION.deny, value: request.id, style: 'danger' }),
    ),
  ];
}
