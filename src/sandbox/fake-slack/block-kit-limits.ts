/**
 * Slack's Block Kit limits, checked the way Slack checks them before it accepts a message
 * or a view. Values come from docs.slack.dev (50 blocks in a message, 100 in a modal or
 * Home tab) and the JSDoc of `@slack/types` (`block-kit/*.ts`, `views.ts`, copied from
 * those docs); where sources disagree the stricter one is kept (an option's value: 75, not
 * 150), so a builder that passes here also passes in Slack.
 */
export const BLOCK_KIT_LIMITS = {
  messageBlocks: 50,
  viewBlocks: 100,
  sectionText: 3000,
  sectionFields: 10,
  sectionFieldText: 2000,
  headerText: 150,
  buttonText: 75,
  buttonValue: 2000,
  buttonUrl: 3000,
  actionId: 255,
  blockId: 255,
  actionsElements: 25,
  contextElements: 10,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  inputLabel: 2000,
  inputHint: 2000,
  placeholder: 150,
  optionText: 75,
  optionValue: 75,
  viewTitle: 24,
  viewSubmit: 24,
  viewClose: 24,
  privateMetadata: 3000,
  callbackId: 255,
  externalId: 255,
} as const;

export type Surface = 'message' | 'modal' | 'home';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The `text` of a text object (`{type, text}`); Slack takes no bare strings here. */
function textOf(value: unknown): string | undefined {
  if (isObject(value) && typeof value.text === 'string') return value.text;
  return undefined;
}

/**
 * Collects problems as Slack words them: the rule, then where, as a JSON pointer into the
 * request (`[json-pointer:/blocks/0/text/text]`).
 */
class Problems {
  readonly list: string[] = [];

  add(pointer: string, rule: string): void {
    this.list.push(`${rule} [json-pointer:${pointer}]`);
  }

  maxLength(pointer: string, value: unknown, max: number, what: string): void {
    if (typeof value === 'string' && value.length > max) {
      this.add(pointer, `${what} must be at most ${max} characters, has ${value.length}`);
    }
  }

  /** A text object's `text`, which must exist and be 1..max characters. */
  text(pointer: string, value: unknown, max: number, what: string, plainOnly = false): void {
    const text = textOf(value);
    if (text === undefined) {
      this.add(pointer, `${what} must be a text object with a "text" string`);
      return;
    }
    if (plainOnly && isObject(value) && value.type !== 'plain_text') {
      this.add(`${pointer}/type`, `${what} must be plain_text, is ${String(value.type)}`);
    }
    if (text.length === 0) this.add(`${pointer}/text`, `${what} must not be empty`);
    this.maxLength(`${pointer}/text`, text, max, what);
  }

  maxItems(pointer: string, value: unknown, max: number, what: string): void {
    if (Array.isArray(value) && value.length > max) {
      this.add(pointer, `${what} must have at most ${max} items, has ${value.length}`);
    }
  }
}

const L = BLOCK_KIT_LIMITS;

function checkConfirm(p: Problems, at: string, confirm: unknown): void {
  if (!isObject(confirm)) return;
  p.text(`${at}/title`, confirm.title, L.confirmTitle, 'confirm title', true);
  p.text(`${at}/text`, confirm.text, L.confirmText, 'confirm text');
  p.text(`${at}/confirm`, confirm.confirm, L.confirmButton, 'confirm button', true);
  p.text(`${at}/deny`, confirm.deny, L.confirmButton, 'deny button', true);
}

function checkOptions(p: Problems, at: string, options: unknown): void {
  if (!Array.isArray(options)) return;
  options.forEach((option: unknown, i) => {
    if (!isObject(option)) return;
    p.text(`${at}/${i}/text`, option.text, L.optionText, 'option text');
    p.maxLength(`${at}/${i}/value`, option.value, L.optionValue, 'option value');
  });
}

/** Interactive elements: buttons, selects, inputs, wherever they sit. */
function checkElement(p: Problems, at: string, element: unknown): void {
  if (!isObject(element)) return;
  p.maxLength(`${at}/action_id`, element.action_id, L.actionId, 'action_id');
  if (element.type === 'button') {
    p.text(`${at}/text`, element.text, L.buttonText, 'button text', true);
    p.maxLength(`${at}/value`, element.value, L.buttonValue, 'button value');
    p.maxLength(`${at}/url`, element.url, L.buttonUrl, 'button url');
  }
  if (element.placeholder !== undefined)
    p.text(`${at}/placeholder`, element.placeholder, L.placeholder, 'placeholder', true);
  checkOptions(p, `${at}/options`, element.options);
  if (Array.isArray(element.option_groups)) {
    element.option_groups.forEach((group: unknown, i) => {
      if (isObject(group)) checkOptions(p, `${at}/option_groups/${i}/options`, group.options);
    });
  }
  checkConfirm(p, `${at}/confirm`, element.confirm);
}

function checkBlock(p: Problems, at: string, block: unknown): void {
  if (!isObject(block)) {
    p.add(at, 'block must be an object');
    return;
  }
  p.maxLength(`${at}/block_id`, block.block_id, L.blockId, 'block_id');
  switch (block.type) {
    case 'section':
      if (block.text === undefined && block.fields === undefined) p.add(at, 'section must have text or fields');
      if (block.text !== undefined) p.text(`${at}/text`, block.text, L.sectionText, 'section text');
      p.maxItems(`${at}/fields`, block.fields, L.sectionFields, 'section fields');
      if (Array.isArray(block.fields)) {
        block.fields.forEach((field: unknown, i) =>
          p.text(`${at}/fields/${i}`, field, L.sectionFieldText, 'section field'),
        );
      }
      checkElement(p, `${at}/accessory`, block.accessory);
      break;
    case 'header':
      p.text(`${at}/text`, block.text, L.headerText, 'header text', true);
      break;
    case 'actions':
      p.maxItems(`${at}/elements`, block.elements, L.actionsElements, 'actions elements');
      if (Array.isArray(block.elements))
        block.elements.forEach((el: unknown, i) => checkElement(p, `${at}/elements/${i}`, el));
      break;
    case 'context':
      p.maxItems(`${at}/elements`, block.elements, L.contextElements, 'context elements');
      break;
    case 'input':
      p.text(`${at}/label`, block.label, L.inputLabel, 'input label', true);
      if (block.hint !== undefined) p.text(`${at}/hint`, block.hint, L.inputHint, 'input hint', true);
      checkElement(p, `${at}/element`, block.element);
      break;
    default:
      // Other block types (divider, image, rich_text, …) have no limits we rely on.
      break;
  }
}

function checkView(p: Problems, kind: Surface, view: Json): void {
  if (kind === 'modal') {
    p.text('/view/title', view.title, L.viewTitle, 'modal title', true);
    if (view.submit !== undefined) p.text('/view/submit', view.submit, L.viewSubmit, 'modal submit', true);
    if (view.close !== undefined) p.text('/view/close', view.close, L.viewClose, 'modal close', true);
    const hasInput = Array.isArray(view.blocks) && view.blocks.some((b: unknown) => isObject(b) && b.type === 'input');
    if (hasInput && view.submit === undefined)
      p.add('/view/submit', 'modal with input blocks must have a submit button');
  }
  p.maxLength('/view/private_metadata', view.private_metadata, L.privateMetadata, 'private_metadata');
  p.maxLength('/view/callback_id', view.callback_id, L.callbackId, 'callback_id');
  p.maxLength('/view/external_id', view.external_id, L.externalId, 'external_id');
}

/**
 * Every Block Kit rule `blocks` (and, for modals and Home tabs, `view`) breaks; empty when
 * Slack would accept them. Pure, so builders can be unit-tested against it directly.
 */
export function blockKitProblems(kind: Surface, blocks: unknown, view?: Record<string, unknown>): string[] {
  const p = new Problems();
  const base = kind === 'message' ? '/blocks' : '/view/blocks';
  if (!Array.isArray(blocks)) {
    p.add(base, 'blocks must be an array');
    return p.list;
  }
  p.maxItems(base, blocks, kind === 'message' ? L.messageBlocks : L.viewBlocks, `${kind} blocks`);
  blocks.forEach((block: unknown, i) => checkBlock(p, `${base}/${i}`, block));
  if (view) checkView(p, kind, view);
  return p.list;
}

// `text` is the leaf of rich_text blocks; the others are text objects.
const TEXT_TYPES = new Set(['plain_text', 'mrkdwn', 'text']);

/**
 * Every text string in `blocks`, in reading order: what a person sees, for assertions
 * that should not depend on block layout.
 */
export function blockTexts(blocks: unknown): string[] {
  const texts: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (isObject(node)) {
      if (TEXT_TYPES.has(String(node.type)) && typeof node.text === 'string') texts.push(node.text);
      else for (const [key, value] of Object.entries(node)) if (key !== 'confirm') visit(value);
    }
  };
  visit(blocks);
  return texts;
}
