// Slack's mrkdwn as HTML: *bold*, _italic_, ~strike~, `code`, ```blocks```, > quotes,
// <@U…> mentions, <#C…|name> channels, <!date^…|fallback> dates and <url|links>.
// Slack text arrives with &, < and > already escaped, except in those <…> tokens.

const MARK = String.fromCharCode(0);
const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function unescapeSlack(text) {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

// Slack shows a date token in the reader's own zone; times here also name it, since the
// people trying the sandbox and the bot's logs are often in different zones.
const DATE_STYLES = {
  '{date_short_pretty}': { dateStyle: 'medium' },
  '{date_short}': { dateStyle: 'medium' },
  '{date}': { dateStyle: 'long' },
  '{date_long}': { dateStyle: 'full' },
  '{date_pretty}': { dateStyle: 'long' },
  '{date_long_pretty}': { dateStyle: 'full' },
  '{time}': { hour: '2-digit', minute: '2-digit', timeZoneName: 'short' },
  '{time_secs}': { hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' },
};

/** YYYY-MM-DD in the reader's zone, as Slack shows {date_num}. */
function dateNum(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function formatDate(date, format) {
  return format.replace(/\{[a-z_]+\}/g, (token) => {
    if (token === '{date_num}') return dateNum(date);
    return DATE_STYLES[token] ? date.toLocaleString([], DATE_STYLES[token]) : token;
  });
}

/** `<!date^unix^format^link|fallback>` in the reader's time zone; the fallback when the time is not a number. */
function dateToken(target, fallback) {
  const [, unix, format = '{date_short_pretty}', link] = target.split('^');
  const date = new Date(Number(unix) * 1000);
  if (!/^\d+$/.test(unix ?? '') || Number.isNaN(date.getTime())) return escapeHtml(fallback ?? target);
  const time = `<time datetime="${date.toISOString()}" title="${escapeHtml(date.toString())}">${escapeHtml(formatDate(date, format))}</time>`;
  return link ? `<a href="${escapeHtml(safeUrl(link))}" target="_blank" rel="noreferrer">${time}</a>` : time;
}

function safeUrl(url) {
  return /^(https?:|mailto:)/i.test(url) ? url : '#';
}

/** One <…> token as HTML. */
function token(inner, users) {
  const [target, label] = splitOnce(inner, '|');
  if (target.startsWith('@')) {
    const id = target.slice(1);
    return `<span class="mention" data-user="${escapeHtml(id)}">@${escapeHtml(users[id] ?? label ?? id)}</span>`;
  }
  if (target.startsWith('#')) return `<span class="mention">#${escapeHtml(label ?? target.slice(1))}</span>`;
  if (target.startsWith('!date^')) return dateToken(target, label);
  if (target.startsWith('!')) return `<span class="mention">@${escapeHtml(label ?? target.slice(1))}</span>`;
  return `<a href="${escapeHtml(safeUrl(target))}" target="_blank" rel="noreferrer">${escapeHtml(label ?? target)}</a>`;
}

function splitOnce(text, separator) {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

/** Inline formatting over escaped HTML; code spans are kept out of it. */
function inline(html) {
  return html
    .replace(/(^|[\s(>])\*(?=\S)([^*\n]*?\S)\*(?=$|[\s.,;:!?)<])/g, '$1<strong>$2</strong>')
    .replace(/(^|[\s(>])_(?=\S)([^_\n]*?\S)_(?=$|[\s.,;:!?)<])/g, '$1<em>$2</em>')
    .replace(/(^|[\s(>])~(?=\S)([^~\n]*?\S)~(?=$|[\s.,;:!?)<])/g, '$1<del>$2</del>');
}

/** `text` (Slack mrkdwn) as HTML; `users` maps user ids to the names to show. */
export function mrkdwn(text, users = {}) {
  // Finished HTML is held out of the formatting passes behind a marker no text contains.
  const held = [];
  const hold = (html) => `${MARK}${held.push(html) - 1}${MARK}`;
  let source = String(text ?? '');
  source = source.replace(/```([\s\S]*?)```/g, (_, code) =>
    hold(`<pre>${escapeHtml(unescapeSlack(code.replace(/^\n/, '')))}</pre>`),
  );
  source = source.replace(/`([^`\n]+)`/g, (_, code) => hold(`<code>${escapeHtml(unescapeSlack(code))}</code>`));
  source = source.replace(/<([^<>\n]+)>/g, (_, inner) => hold(token(unescapeSlack(inner), users)));
  const lines = escapeHtml(unescapeSlack(source)).split('\n');
  const html = lines
    .map((line) => (line.startsWith('&gt; ') ? `<blockquote>${inline(line.slice(5))}</blockquote>` : inline(line)))
    .join('<br>')
    .replace(/<\/blockquote><br><blockquote>/g, '<br>');
  return html.replace(new RegExp(`${MARK}(\\d+)${MARK}`, 'g'), (_, i) => held[Number(i)]);
}

/** A text object (plain_text or mrkdwn) as HTML. */
export function textObject(object, users) {
  if (!object) return '';
  return object.type === 'mrkdwn' ? mrkdwn(object.text, users) : escapeHtml(object.text ?? '');
}
