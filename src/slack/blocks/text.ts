/**
 * Pieces of message text shared by every builder. User text is escaped and cut here, once,
 * so no builder can forget to.
 */
import type { GrantStatus, RequestStatus } from '../../access/types.ts';

/** Slack's limit for a section's text, and most other mrkdwn fields. */
export const MAX_TEXT = 3000;
export const TRUNCATION_MARK = ' (truncated)';

export const GLYPH = {
  pending: '⏳',
  approved: '✅',
  denied: '⛔',
  expired: '⌛',
  cancelled: '✖️',
  active: '🟢',
  ended: '⚪',
  failing: '⚠️',
} as const;

export function requestGlyph(status: RequestStatus): string {
  return GLYPH[status];
}

export function grantGlyph(status: GrantStatus): string {
  switch (status) {
    case 'provisioning':
    case 'revoking':
      return GLYPH.pending;
    case 'active':
      return GLYPH.active;
    case 'ended':
      return GLYPH.ended;
    case 'provision_failed':
    case 'revoke_failed':
      return GLYPH.failing;
  }
}

/** Escapes the three characters Slack treats as markup, so `<!channel>` in a reason pings no one. */
export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Cuts `text` to at most `max` UTF-16 units (never fewer than Slack counts), ending in
 * " (truncated)". It never splits a surrogate pair or an escape like `&amp;`.
 */
export function truncate(text: string, max = MAX_TEXT): string {
  if (text.length <= max) return text;
  if (max <= TRUNCATION_MARK.length) return text.slice(0, Math.max(0, max));
  let cut = text.slice(0, max - TRUNCATION_MARK.length);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  cut = cut.replace(/&[a-z]{0,3}$/, '');
  return cut + TRUNCATION_MARK;
}

/** User text made safe for mrkdwn: escaped, then cut to `max`. */
export function userText(text: string, max = MAX_TEXT): string {
  return truncate(escapeText(text), max);
}

const SLACK_USER_ID = /^[UW][A-Z0-9]+$/;

/** `<@U…>` for a Slack user id; anything else (`system`, `cli:ops`) is shown as escaped plain text. */
export function mention(userId: string): string {
  return SLACK_USER_ID.test(userId) ? `<@${userId}>` : escapeText(userId);
}

/** "<@A>", "<@A> and <@B>", "<@A>, <@B> and <@C>". */
export function listMentions(userIds: readonly string[]): string {
  const names = userIds.map(mention);
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** Time left on a grant, to the minute and at most two units: "2d 3h left", "1h 20m left". */
export function formatTimeLeft(ms: number): string {
  if (ms <= 0) return 'ending now';
  if (ms < MINUTE_MS) return 'less than a minute left';
  const days = Math.floor(ms / DAY_MS);
  const hours = Math.floor((ms % DAY_MS) / HOUR_MS);
  const minutes = Math.floor((ms % HOUR_MS) / MINUTE_MS);
  const parts =
    days > 0
      ? [`${days}d`, hours > 0 ? `${hours}h` : '']
      : [hours > 0 ? `${hours}h` : '', minutes > 0 ? `${minutes}m` : ''];
  return `${parts.filter(Boolean).join(' ')} left`;
}

/**
 * A moment in each reader's own time zone (Slack renders the token), with a UTC ISO
 * fallback for clients that cannot, e.g. `<!date^1767348000^{date_short_pretty} {time}|2026-01-02T10:00:00Z>`.
 */
export function formatWhen(date: Date): string {
  const unix = Math.floor(date.getTime() / 1000);
  const iso = date.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `<!date^${unix}^{date_short_pretty} {time}|${iso}>`;
}

/** Policy names are meant to be short; a long one is cut so it cannot crowd out the rest of a line. */
const MAX_NAME = 150;

/** A resource as people see it: its escaped name in bold and its id in code, e.g. *Production database* (`prod-db`). */
export function resourceLabel(resource: { id: string; name: string }): string {
  return `*${userText(resource.name, MAX_NAME)}* (\`${userText(resource.id, MAX_NAME)}\`)`;
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
