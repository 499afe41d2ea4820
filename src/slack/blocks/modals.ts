/** The request form (when a slash command is incomplete, or from App Home) and the deny form. */
import type { InputBlock, ModalView, PlainTextOption } from '@slack/types';
import { MAX_REASON_LENGTH } from '../../access/free-text.ts';
import { asGrantId, type GrantId } from '../../access/ids.ts';
import type { AccessRequest } from '../../access/types.ts';
import { formatDuration, parseDuration } from '../../config/duration.ts';
import { approvalsLine, requestPhrase } from './approval-card.ts';
import { codeInput } from './mfa.ts';
import { ticketInput } from './ticket-input.ts';
import { DENY_MODAL, REQUEST_MODAL, VIEW } from './ids.ts';
import { LIMITS, plainText, section } from './kit.ts';
import { escapeText, formatWhen, truncate } from './text.ts';

export interface RequestableResource {
  id: string;
  name: string;
  defaultDurationMs: number;
  maxDurationMs: number;
  /** require_mfa: the request needs a current code. */
  requireMfa?: boolean;
  /** The resource's ticket rule: the form asks for a ticket (blocks/ticket-input.ts). */
  ticket?: { pattern: string; example: string | null };
}

/** What the modal must remember until it is submitted; it travels in `private_metadata`. */
export interface RequestModalContext {
  /** Where the command was typed, to answer there. */
  channelId?: string;
  /** Set when the form asks to extend this grant. */
  extendsGrantId?: GrantId;
}

export interface RequestModalInput {
  /** Only what this person may request. */
  resources: RequestableResource[];
  prefill: RequestModalPrefill;
  context?: RequestModalContext;
}

export interface RequestModalPrefill {
  resourceId?: string;
  /** The resource as typed, when it was not `resourceId`: the form says what it chose instead. */
  typedResource?: string;
  /** As typed: one that is not a duration, or is over the chosen resource's maximum, is marked. */
  duration?: string;
  reason?: string;
  /** A ticket typed with the command (`--ticket` or the reason's first word). */
  ticket?: string;
}

/** Slack allows 100 options in a static select. */
const MAX_OPTIONS = 100;

function option(resource: RequestableResource): PlainTextOption {
  return {
    text: plainText(resource.name, LIMITS.optionText),
    value: resource.id,
    description: plainText(
      `${resource.id} · default ${formatDuration(resource.defaultDurationMs)}, at most ${formatDuration(resource.maxDurationMs)}`,
      LIMITS.optionText,
    ),
  };
}

function metadata(context: RequestModalContext): string {
  const text = JSON.stringify(context);
  // Truncated JSON would not parse back, so an oversize context is a bug, not something to cut.
  if (text.length > LIMITS.privateMetadata) {
    throw new RangeError(`request modal context must fit in ${LIMITS.privateMetadata} characters, got ${text.length}`);
  }
  return text;
}

/** Reads back the context of a submitted request modal; anything unexpected reads as empty. */
export function readRequestModalContext(privateMetadata: string | undefined): RequestModalContext {
  try {
    const value: unknown = JSON.parse(privateMetadata ?? '{}');
    if (typeof value !== 'object' || value === null) return {};
    const { channelId, extendsGrantId } = value as Record<string, unknown>;
    return {
      ...(typeof channelId === 'string' ? { channelId } : {}),
      ...(typeof extendsGrantId === 'string' ? { extendsGrantId: asGrantId(extendsGrantId) } : {}),
    };
  } catch {
    return {};
  }
}

function durationHint(resources: readonly RequestableResource[], chosen: RequestableResource | undefined): string {
  if (chosen)
    return `Leave empty for ${formatDuration(chosen.defaultDurationMs)}; at most ${formatDuration(chosen.maxDurationMs)}. Like 30m, 4h or 1h30m.`;
  const each = resources.map(
    (resource) =>
      `${resource.id} ${formatDuration(resource.defaultDurationMs)} (at most ${formatDuration(resource.maxDurationMs)})`,
  );
  return truncate(`Leave empty for the resource's default: ${each.join(', ')}. Like 30m, 4h or 1h30m.`, 2000);
}

/** Shown above a field's usual hint when what was typed for it cannot be used as it is. */
const PROBLEM = '⚠️ ';

function resourceHint(typed: string | undefined, chosen: RequestableResource | undefined): string | undefined {
  if (typed === undefined) return undefined;
  const given = JSON.stringify(truncate(typed, 100));
  return chosen
    ? `${PROBLEM}${given} is not a resource id: ${chosen.name} (${chosen.id}) is the closest you may request. Choose another if that is not it.`
    : `${PROBLEM}${given} is not a resource you may request: choose one of these.`;
}

/** What is wrong with the duration typed, if anything, and what is allowed instead. */
function durationProblem(typed: string | undefined, chosen: RequestableResource | undefined): string | undefined {
  if (typed === undefined) return undefined;
  const given = JSON.stringify(truncate(typed, 20));
  const allows = chosen ? ` ${chosen.name} allows up to ${formatDuration(chosen.maxDurationMs)}.` : '';
  let ms: number;
  try {
    ms = parseDuration(typed);
  } catch {
    return `${PROBLEM}${given} is not a duration: write it like 30m, 2h or 1h30m.${allows}`;
  }
  if (chosen && ms > chosen.maxDurationMs)
    return `${PROBLEM}${given} is more than ${chosen.name} allows: at most ${formatDuration(chosen.maxDurationMs)}.`;
  return undefined;
}

export function requestModal({ resources, prefill, context = {} }: RequestModalInput): ModalView {
  const base = {
    type: 'modal' as const,
    callback_id: VIEW.requestModal,
    title: plainText('Request access', LIMITS.viewTitle),
    close: plainText('Cancel', LIMITS.viewTitle),
    private_metadata: metadata(context),
  };
  // A select with no options is rejected by Slack, so a person who may request nothing gets an explanation.
  if (resources.length === 0) {
    return {
      ...base,
      blocks: [
        section(
          'You may not request any resource yet. Ask an administrator to add you to a resource in the Gatehouse policy.',
        ),
      ],
    };
  }
  const options = resources.slice(0, MAX_OPTIONS).map(option);
  const chosenIndex = resources.findIndex((resource) => resource.id === prefill.resourceId);
  const chosen = chosenIndex >= 0 && chosenIndex < MAX_OPTIONS ? resources[chosenIndex] : undefined;
  const initialOption = chosen ? options[chosenIndex] : undefined;
  const resourceHintText = resourceHint(prefill.typedResource, chosen);
  const blocks: InputBlock[] = [
    {
      type: 'input',
      block_id: REQUEST_MODAL.resource.block,
      label: plainText('Resource'),
      ...(resourceHintText ? { hint: plainText(resourceHintText, 2000) } : {}),
      element: {
        type: 'static_select',
        action_id: REQUEST_MODAL.resource.action,
        placeholder: plainText('Choose a resource', 150),
        options,
        ...(initialOption ? { initial_option: initialOption } : {}),
      },
    },
    {
      type: 'input',
      block_id: REQUEST_MODAL.duration.block,
      optional: true,
      label: plainText('Duration'),
      hint: plainText(
        truncate(
          [durationProblem(prefill.duration, chosen), durationHint(resources, chosen)].filter(Boolean).join(' '),
          2000,
        ),
        2000,
      ),
      element: {
        type: 'plain_text_input',
        action_id: REQUEST_MODAL.duration.action,
        placeholder: plainText(
          chosen ? `Default: ${formatDuration(chosen.defaultDurationMs)}` : 'Default for the resource, e.g. 2h',
          150,
        ),
        max_length: 20,
        // Input values are raw text, not mrkdwn: prefill is cut, never escaped.
        ...(prefill.duration ? { initial_value: prefill.duration.slice(0, 20) } : {}),
      },
    },
    {
      type: 'input',
      block_id: REQUEST_MODAL.reason.block,
      label: plainText('Reason'),
      hint: plainText('What you will do with it; the owners see this when they decide.'),
      element: {
        type: 'plain_text_input',
        action_id: REQUEST_MODAL.reason.action,
        multiline: true,
        // The access rules' limit: Slack's counter stops the typing where Gatehouse would refuse.
        max_length: MAX_REASON_LENGTH,
        placeholder: plainText('e.g. fix the invoice export job (TICKET-123)', 150),
        // Cut by characters, as the limit counts (the command refuses a longer reason before the form opens).
        ...(prefill.reason ? { initial_value: Array.from(prefill.reason).slice(0, MAX_REASON_LENGTH).join('') } : {}),
      },
    },
  ];
  // A code field when what may be chosen needs one: required if every choice does.
  const needingMfa = chosen ? (chosen.requireMfa ? [chosen] : []) : resources.filter((resource) => resource.requireMfa);
  if (needingMfa.length > 0) {
    const all = needingMfa.length === (chosen ? 1 : resources.length);
    const input = codeInput(REQUEST_MODAL.mfaCode.block, REQUEST_MODAL.mfaCode.action);
    blocks.push({
      ...input,
      ...(all ? {} : { optional: true }),
      hint: plainText(
        truncate(`Needed for ${needingMfa.map((resource) => resource.id).join(', ')}. ${input.hint.text}`, 2000),
        2000,
      ),
    });
  }
  const ticket = ticketInput(chosen ? [chosen] : resources, prefill.ticket);
  if (ticket) blocks.push(ticket);
  return { ...base, submit: plainText('Send request', LIMITS.viewTitle), blocks };
}

/**
 * What an approval from the App Home did, in a small window: the tab redraws without the
 * request, and a card elsewhere changes, but the person pressing Approve there sees neither.
 */
export function approvedNotice(request: AccessRequest): ModalView {
  const missing = Math.max(0, request.approvalsRequired - request.approvals.length);
  const outcome =
    request.status === 'approved'
      ? 'Approved: access is being set up, and they are told when it is ready.'
      : `Your approval is counted (${approvalsLine(request)}): it needs ${missing === 1 ? 'one more, from another owner' : `${missing} more, from other owners`}.`;
  return {
    type: 'modal',
    callback_id: VIEW.approvedNotice,
    title: plainText('Approved', LIMITS.viewTitle),
    close: plainText('OK', LIMITS.viewTitle),
    blocks: [section(`✅ ${requestPhrase(request)}\n${outcome}`)],
  };
}

export function denyModal(request: AccessRequest): ModalView {
  return {
    type: 'modal',
    callback_id: VIEW.denyModal,
    // The request id is all the submission needs; the listener reloads the rest.
    private_metadata: request.id,
    title: plainText('Deny request', LIMITS.viewTitle),
    submit: plainText('Deny', LIMITS.viewTitle),
    close: plainText('Cancel', LIMITS.viewTitle),
    blocks: [
      // The request itself, as its card shows it: who, what, how long, why, what is given so far.
      section(
        `Deny ${requestPhrase(request)}?\n*Why they ask:* ${escapeText(truncate(request.reason, 2000))}\n` +
          `*Asked:* ${formatWhen(request.createdAt)} · ${approvalsLine(request)}`,
      ),
      {
        type: 'input',
        block_id: DENY_MODAL.reason.block,
        label: plainText('Reason'),
        hint: plainText('The requester sees this, and it is kept in the audit log.'),
        element: {
          type: 'plain_text_input',
          action_id: DENY_MODAL.reason.action,
          multiline: true,
          max_length: MAX_REASON_LENGTH,
        },
      },
    ],
  };
}
