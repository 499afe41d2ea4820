// Block Kit as DOM: the blocks Gatehouse sends (header, section with fields and accessory,
// context, divider, image, actions with buttons, inputs in modals) and a plain note for others.
import { escapeHtml, mrkdwn, textObject } from './mrkdwn.js';

function el(tag, className, html) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (html !== undefined) node.innerHTML = html;
  return node;
}

/**
 * ctx: { users: {id: name}, onButton(element, blockId) → Promise, errors: {blockId: message} }
 * Returns a fragment; input elements carry data-block / data-action / data-type for state().
 */
export function renderBlocks(blocks, ctx) {
  const fragment = document.createDocumentFragment();
  for (const block of blocks ?? []) fragment.append(renderBlock(block, ctx));
  return fragment;
}

function renderBlock(block, ctx) {
  switch (block.type) {
    case 'header':
      return el('h3', 'bk-header', textObject(block.text, ctx.users));
    case 'section':
      return section(block, ctx);
    case 'context': {
      const node = el('div', 'bk-context');
      for (const element of block.elements ?? []) {
        node.append(
          element.type === 'image'
            ? image(element, 'bk-context-image')
            : el('span', '', textObject(element, ctx.users)),
        );
      }
      return node;
    }
    case 'divider':
      return el('hr', 'bk-divider');
    case 'image': {
      const figure = el('figure', 'bk-image');
      if (block.title) figure.append(el('figcaption', '', textObject(block.title, ctx.users)));
      figure.append(image(block));
      return figure;
    }
    case 'actions': {
      const node = el('div', 'bk-actions');
      for (const element of block.elements ?? []) node.append(interactive(element, block.block_id, ctx));
      return node;
    }
    case 'input':
      return input(block, ctx);
    default: {
      const note = el('div', 'bk-unknown');
      note.textContent = `(${block.type} block: not drawn by the sandbox)`;
      return note;
    }
  }
}

function image(element, className = '') {
  const img = el('img', className);
  img.src = /^(https?:|data:image\/)/.test(element.image_url ?? '') ? element.image_url : '';
  img.alt = element.alt_text ?? '';
  return img;
}

function section(block, ctx) {
  const node = el('div', 'bk-section');
  const body = el('div', 'bk-section-body');
  if (block.text) body.append(el('div', 'bk-text', textObject(block.text, ctx.users)));
  if (block.fields?.length) {
    const fields = el('div', 'bk-fields');
    for (const field of block.fields) fields.append(el('div', 'bk-field', textObject(field, ctx.users)));
    body.append(fields);
  }
  node.append(body);
  if (block.accessory)
    node.append(
      block.accessory.type === 'image'
        ? image(block.accessory, 'bk-accessory-image')
        : interactive(block.accessory, block.block_id, ctx),
    );
  return node;
}

/** A button, or another element the sandbox shows but does not act on. */
function interactive(element, blockId, ctx) {
  if (element.type !== 'button') {
    const note = el('span', 'bk-unknown');
    note.textContent = `(${element.type})`;
    return note;
  }
  const button = el(
    'button',
    `bk-button${element.style ? ` bk-${element.style}` : ''}`,
    escapeHtml(element.text?.text ?? ''),
  );
  button.type = 'button';
  button.dataset.actionId = element.action_id ?? '';
  if (element.url) {
    button.addEventListener('click', () => window.open(element.url, '_blank', 'noreferrer'));
    return button;
  }
  button.addEventListener('click', async () => {
    if (element.confirm && !(await ctx.confirm(element.confirm, element.style))) return;
    button.disabled = true;
    try {
      await ctx.onButton(element, blockId);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function option(o) {
  const node = document.createElement('option');
  node.value = o.value;
  node.textContent = o.text?.text ?? o.value;
  if (o.description?.text) node.title = o.description.text;
  return node;
}

/** An input block: label, element, hint, and the error Slack shows under the field. */
function input(block, ctx) {
  const node = el('div', 'bk-input');
  const id = `in-${Math.random().toString(36).slice(2)}`;
  const label = el(
    'label',
    'bk-label',
    `${textObject(block.label, ctx.users)}${block.optional ? ' <span class="bk-optional">(optional)</span>' : ''}`,
  );
  label.htmlFor = id;
  node.append(label);
  const element = block.element ?? {};
  let field;
  switch (element.type) {
    case 'plain_text_input':
      field = el(element.multiline ? 'textarea' : 'input', 'bk-field-input');
      if (!element.multiline) field.type = 'text';
      if (element.initial_value) field.value = element.initial_value;
      if (element.max_length) field.maxLength = element.max_length;
      if (element.min_length) field.dataset.minLength = String(element.min_length);
      break;
    case 'number_input':
      field = el('input', 'bk-field-input');
      field.type = 'number';
      if (element.initial_value) field.value = element.initial_value;
      break;
    case 'datepicker':
      field = el('input', 'bk-field-input');
      field.type = 'date';
      if (element.initial_date) field.value = element.initial_date;
      break;
    case 'static_select': {
      field = el('select', 'bk-field-input');
      const placeholder = option({ value: '', text: element.placeholder ?? { text: 'Select an item' } });
      placeholder.disabled = true;
      field.append(placeholder);
      const groups = element.option_groups ?? [{ options: element.options ?? [] }];
      for (const group of groups) for (const o of group.options ?? []) field.append(option(o));
      field.value = element.initial_option?.value ?? '';
      field.dataset.options = JSON.stringify(groups.flatMap((g) => g.options ?? []));
      break;
    }
    default:
      field = el('div', 'bk-unknown');
      field.textContent = `(${element.type} input: not drawn by the sandbox)`;
  }
  field.id = id;
  if (element.placeholder && 'placeholder' in field) field.placeholder = element.placeholder.text;
  field.dataset.block = block.block_id ?? '';
  field.dataset.action = element.action_id ?? '';
  field.dataset.type = element.type ?? '';
  field.dataset.optional = block.optional ? 'true' : 'false';
  node.append(field);
  const error = ctx.errors?.[block.block_id];
  if (error) {
    node.classList.add('bk-has-error');
    const message = el('div', 'bk-error', mrkdwn(error, ctx.users));
    message.setAttribute('role', 'alert');
    node.append(message);
  }
  if (block.hint) node.append(el('div', 'bk-hint', textObject(block.hint, ctx.users)));
  return node;
}

/** `view.state.values` from the inputs under `root`, as Slack sends them. */
export function stateValues(root) {
  const values = {};
  for (const field of root.querySelectorAll('[data-block][data-action]')) {
    const { block, action, type } = field.dataset;
    let value;
    if (type === 'static_select') {
      const chosen = JSON.parse(field.dataset.options ?? '[]').find((o) => o.value === field.value);
      value = { type, selected_option: chosen ? { text: chosen.text, value: chosen.value } : null };
    } else if (type === 'datepicker') {
      value = { type, selected_date: field.value || null };
    } else if (type === 'plain_text_input' || type === 'number_input') {
      value = { type, value: field.value === '' ? null : field.value };
    } else {
      continue;
    }
    values[block] = { ...values[block], [action]: value };
  }
  return values;
}

/** What Slack checks before sending a submission: required fields filled, minimum lengths met. */
export function clientErrors(root) {
  const errors = {};
  for (const field of root.querySelectorAll('[data-block][data-action]')) {
    const { block, optional, minLength } = field.dataset;
    if (optional !== 'true' && field.value === '') errors[block] = 'Please complete this required field.';
    else if (minLength && field.value !== '' && field.value.length < Number(minLength))
      errors[block] = `Please enter at least ${minLength} characters.`;
  }
  return errors;
}
