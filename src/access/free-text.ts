/**
 * Text people type (a request's reason, an extension's, a denial's), made safe to store
 * and measured against one limit, the same on every path in: command, form or button.
 */

/**
 * The longest reason Gatehouse takes, in characters (Unicode code points). Long enough for
 * what a reviewer needs, short enough to show whole on a card. Longer is refused, never cut.
 */
export const MAX_REASON_LENGTH = 2000;

/**
 * Control characters nobody means to type: C0 but tab and newline, DEL, and C1. NUL in
 * particular cannot be stored in PostgreSQL text at all.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROLS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g;

/**
 * Cleans text as it arrives: line breaks become `\n`, other control characters go, and a
 * lone surrogate (half of an emoji, which neither PostgreSQL's jsonb nor UTF-8 can hold)
 * becomes U+FFFD. Everything else, markup included, is kept as typed; it is escaped where
 * it is shown.
 */
export function cleanFreeText(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(CONTROLS, '').toWellFormed();
}

/** The length people count: an emoji is one character, not two UTF-16 units. */
export function freeTextLength(text: string): number {
  let length = 0;
  for (const _ of text) length += 1;
  return length;
}

export type ReadText = { ok: true; text: string } | { ok: false; length: number; max: number };

/** A reason, cleaned and trimmed, or how long it is when that is over the limit. */
export function readReason(raw: string): ReadText {
  const text = cleanFreeText(raw).trim();
  const length = freeTextLength(text);
  return length > MAX_REASON_LENGTH ? { ok: false, length, max: MAX_REASON_LENGTH } : { ok: true, text };
}
