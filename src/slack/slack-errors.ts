/**
 * How long to wait before trying a failed Slack call again: Slack's Retry-After on a 429,
 * otherwise exponential backoff from 1 s to 5 min. Errors that retrying cannot fix (a
 * revoked token, a channel the bot is not in) still back off, but slowly, and are logged.
 */
export function retryDelayMs(err: unknown, attempt: number): number {
  const retryAfter = (err as { retryAfter?: unknown }).retryAfter;
  if (typeof retryAfter === 'number' && retryAfter >= 0) return Math.max(1000, retryAfter * 1000);
  return Math.min(300_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

/** Slack's error code (`channel_not_found`), the HTTP status, or the message. */
export function describeSlackError(err: unknown): string {
  const e = err as { data?: { error?: string }; statusCode?: number; code?: string; message?: string };
  return e.data?.error ?? (e.statusCode ? `HTTP ${e.statusCode}` : (e.message ?? String(err)));
}

/**
 * Errors of a message deleted (or no longer the bot's to edit): retrying an update cannot
 * bring it back. Channel errors are retried like any other, since inviting the bot back fixes them.
 */
export const MESSAGE_GONE: ReadonlySet<string> = new Set(['message_not_found', 'cant_update_message']);
