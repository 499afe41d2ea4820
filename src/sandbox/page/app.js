// The sandbox page: one person's view of the make-believe workspace. State comes from the
// stand-in (/sandbox/state), changes are announced over a WebSocket, and what the
// person does goes to /sandbox/do/*, which the stand-in sends on to the app as Slack would.
import { clientErrors, renderBlocks, stateValues } from './blocks.js';
import { escapeHtml, mrkdwn, textObject } from './mrkdwn.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

let workspace;
let users = {};
let state = null;
let me = params.get('as');
let target = params.get('view') ?? 'dm';
/** The modal drawn on top, as `id:hash`, so a refresh does not wipe what is being typed. */
let drawnModal = '';
let modalErrors = {};

async function post(action, body) {
  const response = await fetch(`/sandbox/do/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: me, ...body }),
  });
  const answer = await response.json();
  if (!answer.ok) toast(answer.error ?? `HTTP ${response.status}`);
  return answer;
}

function toast(text) {
  const node = $('toast');
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (node.hidden = true), 6000);
}

function person(id) {
  return workspace.people.find((p) => p.id === id);
}

function setLocation() {
  const query = new URLSearchParams({ as: me, view: target });
  history.replaceState(null, '', `?${query}`);
}

function channelOf(view) {
  return view === 'dm' ? `D${me}` : view;
}

async function refresh() {
  const response = await fetch(`/sandbox/state?user=${encodeURIComponent(me)}`);
  state = await response.json();
  render();
}

function render() {
  renderNav();
  const home = target === 'home';
  $('messages').hidden = home;
  $('composer').hidden = home;
  $('home').hidden = !home;
  const channel = workspace.channels.find((c) => c.id === target);
  $('title').textContent = home
    ? 'Gatehouse · Home'
    : target === 'dm'
      ? 'Gatehouse · Messages'
      : `# ${channel?.name ?? target}`;
  $('purpose').textContent = home
    ? 'Your access, your requests, approvals waiting for you'
    : target === 'dm'
      ? 'Your direct messages with the bot'
      : (channel?.purpose ?? '');
  if (home) renderHome();
  else renderMessages(state.channels[channelOf(target)] ?? []);
  renderModals();
}

function renderNav() {
  for (const item of document.querySelectorAll('.nav-item')) {
    item.classList.toggle('active', item.dataset.target === target);
  }
}

function buildNav() {
  const list = $('channels');
  list.replaceChildren();
  for (const channel of workspace.channels) {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'nav-item';
    button.dataset.target = channel.id;
    button.textContent = `# ${channel.name}`;
    li.append(button);
    list.append(li);
  }
  for (const item of document.querySelectorAll('.nav-item'))
    item.addEventListener('click', () => go(item.dataset.target));
}

async function go(next) {
  target = next;
  setLocation();
  render();
  // Slack sends app_home_opened each time the tab is opened; the app then publishes the view.
  if (next === 'home') await post('home', {});
}

/** Keeps the newest message in view when the pane changes size (a phone turned, a window narrowed) if it was in view before. */
function keepNewestInView() {
  const pane = $('messages');
  let atBottom = true;
  pane.addEventListener('scroll', () => {
    atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 80;
  });
  new ResizeObserver(() => {
    if (atBottom) pane.scrollTop = pane.scrollHeight;
  }).observe(pane);
}

function renderMessages(messages) {
  const pane = $('messages');
  const atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 80 || pane.dataset.channel !== target;
  pane.replaceChildren();
  pane.dataset.channel = target;
  if (messages.length === 0) {
    const empty = document.createElement('p');
    empty.className = 'empty';
    empty.textContent = target === 'dm' ? 'No messages yet. Try /request-access below.' : 'Nothing posted here yet.';
    pane.append(empty);
  }
  for (const message of messages) pane.append(renderMessage(message));
  if (atBottom) pane.scrollTop = pane.scrollHeight;
}

function renderMessage(message) {
  const node = document.createElement('article');
  node.className = `message${message.ephemeral ? ' ephemeral' : ''}`;
  node.dataset.ts = message.ts;
  const sent = new Date(Number(message.ts) * 1000);
  const time = `<time class="time" datetime="${sent.toISOString()}" title="${escapeHtml(sent.toString())}">${escapeHtml(sent.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', timeZoneName: 'short' }))}</time>`;
  const author = users[message.user] ?? message.user;
  node.innerHTML = `<div class="avatar">G</div><div class="message-body"><div class="meta"><strong>${escapeHtml(author)}</strong><span class="app-badge">APP</span>${time}${message.edited ? '<span class="edited">(edited)</span>' : ''}${message.ephemeral ? '<span class="only-you">Only visible to you</span>' : ''}</div></div>`;
  const body = node.querySelector('.message-body');
  const channel = channelOf(target);
  if (message.blocks?.length) {
    body.append(
      renderBlocks(
        message.blocks,
        blockContext({ message: { channel, ts: message.ts, ephemeral: message.ephemeral } }),
      ),
    );
  } else if (message.text) {
    const text = document.createElement('div');
    text.className = 'bk-text';
    text.innerHTML = mrkdwn(message.text, users);
    body.append(text);
  }
  for (const file of message.files ?? []) body.append(renderFile(file));
  return node;
}

/** A shared file: images are shown, as Slack previews them; anything else is a link. */
function renderFile(file) {
  const figure = document.createElement('figure');
  figure.className = 'file';
  const url = `/sandbox/files/${encodeURIComponent(file.id)}`;
  if (/\.(png|jpe?g|gif|webp)$/i.test(file.name)) {
    const img = document.createElement('img');
    img.src = url;
    img.alt = file.title;
    figure.append(img);
  }
  const caption = document.createElement('figcaption');
  caption.innerHTML = `<a href="${url}" download="${escapeHtml(file.name)}">${escapeHtml(file.title)}</a>`;
  figure.append(caption);
  return figure;
}

function blockContext(surface, extra = {}) {
  return {
    users,
    errors: {},
    confirm,
    onButton: (element, blockId) =>
      post('click', {
        surface,
        actionId: element.action_id,
        value: element.value,
        blockId,
        values: extra.values?.() ?? {},
      }),
    ...extra,
  };
}

function renderHome() {
  const pane = $('home');
  pane.replaceChildren();
  if (!state.home) {
    const empty = document.createElement('p');
    empty.className = 'empty';
    empty.textContent = 'Opening the Home tab…';
    pane.append(empty);
    return;
  }
  pane.append(
    renderBlocks(state.home.blocks, blockContext({ viewId: state.home.id }, { values: () => stateValues(pane) })),
  );
}

function renderModals() {
  const layer = $('modals');
  const top = state.modals.at(-1);
  const key = top ? `${top.id}:${top.hash}` : '';
  if (key === drawnModal) return;
  drawnModal = key;
  modalErrors = {};
  layer.hidden = !top;
  layer.replaceChildren();
  if (top) layer.append(renderModal(top));
}

function renderModal(view) {
  const dialog = document.createElement('form');
  dialog.className = 'modal';
  dialog.setAttribute('role', 'dialog');
  dialog.setAttribute('aria-modal', 'true');
  dialog.setAttribute('aria-label', view.title?.text ?? 'Modal');
  dialog.innerHTML = `<header class="modal-title"><h2>${textObject(view.title, users)}</h2><button type="button" class="close" aria-label="Close">×</button></header><div class="modal-body"></div><footer class="modal-footer"></footer>`;
  const body = dialog.querySelector('.modal-body');
  const draw = () =>
    body.replaceChildren(
      renderBlocks(
        view.blocks,
        blockContext({ viewId: view.id }, { errors: modalErrors, values: () => stateValues(body) }),
      ),
    );
  draw();
  const footer = dialog.querySelector('.modal-footer');
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.className = 'bk-button';
  cancel.textContent = view.close?.text ?? 'Cancel';
  footer.append(cancel);
  if (view.submit) {
    const submit = document.createElement('button');
    submit.type = 'submit';
    submit.className = 'bk-button bk-primary';
    submit.textContent = view.submit.text;
    footer.append(submit);
  }
  const close = async () => {
    await post('cancel', { viewId: view.id });
    await refresh();
  };
  cancel.addEventListener('click', close);
  dialog.querySelector('.close').addEventListener('click', close);
  dialog.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = stateValues(body);
    const local = clientErrors(body);
    if (Object.keys(local).length > 0) {
      keepTyped(body, local);
      return;
    }
    const answer = await post('submit', { viewId: view.id, values });
    // Errors are drawn on this form; an updated or pushed view comes with the refresh.
    if (answer.ok && answer.closed === false && Object.keys(answer.errors).length > 0) keepTyped(body, answer.errors);
    else await refresh();
  });
  // Redraws with errors shown under their fields, keeping what was typed.
  function keepTyped(root, errors) {
    const typed = [...root.querySelectorAll('[data-block][data-action]')].map((f) => [
      f.dataset.block,
      f.dataset.action,
      f.value,
    ]);
    modalErrors = errors;
    draw();
    for (const [block, action, value] of typed) {
      const field = root.querySelector(`[data-block="${CSS.escape(block)}"][data-action="${CSS.escape(action)}"]`);
      if (field) field.value = value;
    }
    root.querySelector('.bk-has-error .bk-field-input')?.focus();
  }
  return dialog;
}

/** Slack's confirm dialog for a button that asks first; resolves true on confirm. */
function confirm(spec, style) {
  const layer = $('confirm');
  return new Promise((resolve) => {
    layer.innerHTML = `<div class="modal confirm" role="alertdialog" aria-label="${escapeHtml(spec.title?.text ?? 'Are you sure?')}"><header class="modal-title"><h2>${textObject(spec.title, users)}</h2></header><div class="modal-body">${textObject(spec.text, users)}</div><footer class="modal-footer"><button type="button" class="bk-button deny">${escapeHtml(spec.deny?.text ?? 'Cancel')}</button><button type="button" class="bk-button ${style === 'danger' || spec.style === 'danger' ? 'bk-danger' : 'bk-primary'} ok">${escapeHtml(spec.confirm?.text ?? 'Yes')}</button></footer></div>`;
    layer.hidden = false;
    const done = (answer) => {
      layer.hidden = true;
      layer.replaceChildren();
      resolve(answer);
    };
    layer.querySelector('.ok').addEventListener('click', () => done(true));
    layer.querySelector('.deny').addEventListener('click', () => done(false));
  });
}

function setupComposer() {
  const line = $('line');
  const hints = $('hints');
  const showHints = () => {
    const typed = line.value.trim().split(/\s+/)[0] ?? '';
    const matching = line.value.startsWith('/')
      ? workspace.commands.filter((c) => c.command.startsWith(typed) || typed.startsWith(c.command))
      : [];
    hints.hidden = matching.length === 0;
    hints.replaceChildren(
      ...matching.map((c) => {
        const li = document.createElement('li');
        li.innerHTML = `<strong>${escapeHtml(c.command)}</strong> <span class="usage">${escapeHtml(c.usageHint ?? '')}</span><div class="description">${escapeHtml(c.description)}</div>`;
        li.addEventListener('mousedown', (event) => {
          event.preventDefault();
          line.value = `${c.command} `;
          line.focus();
          showHints();
        });
        return li;
      }),
    );
  };
  line.addEventListener('input', showHints);
  line.addEventListener('blur', () => (hints.hidden = true));
  $('composer').addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = line.value.trim();
    if (!text) return;
    if (!text.startsWith('/')) {
      toast('The bot reads slash commands only: type / to see them.');
      return;
    }
    line.value = '';
    hints.hidden = true;
    await post('command', { channel: channelOf(target), text });
  });
}

function setupWho() {
  const select = $('who');
  for (const p of workspace.people) {
    const o = document.createElement('option');
    o.value = p.id;
    o.textContent = p.name;
    select.append(o);
  }
  select.value = me;
  select.addEventListener('change', async () => {
    me = select.value;
    drawnModal = '';
    setLocation();
    showRoles();
    await refresh();
    if (target === 'home') await post('home', {});
  });
  showRoles();
}

/** Whether an approved grant provisions for real or as a dry run, above everything else. */
function showProvisioning() {
  const banner = $('provisioning');
  banner.textContent = workspace.provisioning.text;
  banner.dataset.mode = workspace.provisioning.mode;
  banner.hidden = false;
}

function showRoles() {
  $('roles').textContent = person(me)?.roles.join(' · ') ?? 'not in the policy';
}

/** Redraws on every change the stand-in announces; reconnects (and catches up) if the socket drops. */
function listen() {
  const socket = new WebSocket(`ws://${location.host}/sandbox/live`);
  socket.onmessage = () => refresh();
  socket.onopen = () => {
    $('live').classList.add('on');
    refresh();
  };
  socket.onclose = () => {
    $('live').classList.remove('on');
    setTimeout(listen, 1000);
  };
}

async function start() {
  workspace = await (await fetch('/sandbox/workspace')).json();
  users = Object.fromEntries([
    ...workspace.people.map((p) => [p.id, p.name]),
    [workspace.bot.id, workspace.bot.real_name],
  ]);
  if (!me || !workspace.people.some((p) => p.id === me)) me = workspace.people[0]?.id;
  showProvisioning();
  setupWho();
  buildNav();
  setupComposer();
  keepNewestInView();
  setLocation();
  await refresh();
  if (target === 'home') await post('home', {});
  listen();
  document.body.dataset.ready = 'true';
}

start();
