/**
 * Small Block Kit constructors that apply Slack's size limits as they build, so a long name
 * or reason shortens a message instead of getting it rejected. The limits are those of the
 * Block Kit reference on docs.slack.dev and the JSDoc of `@slack/types`, the values the
 * sandbox's stand-in enforces (src/sandbox/fake-slack/block-kit-limits.ts).
 */
import type {
  ActionsBlock,
  Button,
  ContextBlock,
  DividerBlock,
  HeaderBlock,
  KnownBlock,
  PlainTextElement,
  SectionBlock,
} from '@slack/types';
import { MAX_TEXT, truncate } from './text.ts';

/** A message as posted: `text` is the notification and fallback text, always set. */
export interface Message {
  text: string;
  blocks: KnownBlock[];
}

export const LIMITS = {
  messageBlocks: 50,
  viewBlocks: 100,
  headerText: 150,
  buttonText: 75,
  buttonValue: 2000,
  contextElements: 10,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  optionText: 75,
  viewTitle: 24,
  privateMetadata: 3000,
  /** Not documented: Slack has refused messages of about 13.2k characters in all (bolt-js #2509). */
  messageChars: 12_000,
} as const;

export function plainText(text: string, max: number = MAX_TEXT): PlainTextElement {
  return { type: 'plain_text', text: truncate(text, max), emoji: true };
}

/** `text` is mrkdwn that the caller has already escaped where it holds user text. */
export function section(text: string, accessory?: Button, blockId?: string): SectionBlock {
  return {
    type: 'section',
    text: { type: 'mrkdwn', text: truncate(text) },
    ...(accessory ? { accessory } : {}),
    ...(blockId ? { block_id: blockId } : {}),
  };
}

export function header(text: string): HeaderBlock {
  return { type: 'header', text: plainText(text, LIMITS.headerText) };
}

export function context(...texts: string[]): ContextBlock {
  return {
    type: 'context',
    elements: texts.slice(0, LIMITS.contextElements).map((text) => ({ type: 'mrkdwn', text: truncate(text) })),
  };
}

export function divider(): DividerBlock {
  return { type: 'divider' };
}

export function actions(blockId: string, ...elements: Button[]): ActionsBlock {
  return { type: 'actions', block_id: blockId, elements };
}

export interface ButtonSpec {
  text: string;
  actionId: string;
  value?: string;
  style?: 'primary' | 'danger';
  confirm?: { title: string; text: string; confirm: string; deny: string };
}

export function button(spec: ButtonSpec): Button {
  const { confirm } = spec;
  return {
    type: 'button',
    action_id: spec.actionId,
    text: plainText(spec.text, LIMITS.buttonText),
    // A value is an id; cutting one would act on the wrong thing, so an oversize value is a bug.
    ...(spec.value !== undefined ? { value: checkedValue(spec.value) } : {}),
    ...(spec.style ? { style: spec.style } : {}),
    ...(confirm
      ? {
          confirm: {
            title: plainText(confirm.title, LIMITS.confirmTitle),
            text: plainText(confirm.text, LIMITS.confirmText),
            confirm: plainText(confirm.confirm, LIMITS.confirmButton),
            deny: plainText(confirm.deny, LIMITS.confirmButton),
            ...(spec.style ? { style: spec.style } : {}),
          },
        }
      : {}),
  };
}

function checkedValue(value: string): string {
  if (value.length > LIMITS.buttonValue) {
    throw new RangeError(`a button value must be at most ${LIMITS.buttonValue} characters, got ${value.length}`);
  }
  return value;
}

/** The first `max` items, and how many were left out. */
export function capped<T>(items: readonly T[], max: number): { shown: T[]; more: number } {
  return { shown: items.slice(0, max), more: Math.max(0, items.length - max) };
}

/** "…and 3 more": shown in place of the items a list had no room for. */
export function moreLine(more: number, where: string): ContextBlock[] {
  return more > 0 ? [context(`…and ${more} more. ${where}`)] : [];
}
