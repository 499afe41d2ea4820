/**
 * Human durations as written in the policy file and typed in Slack: `30s`, `30m`, `4h`,
 * `1d`, `1h30m`, `2d12h`. Units come in the order d, h, m, s, each at most once, with
 * whole numbers. The grammar is strict on purpose: `90 minutes` or `1.5h` fail loudly
 * instead of being guessed at, because a guessed access window is a security bug.
 */

const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

const UNITS = [
  ['d', DAY_MS],
  ['h', HOUR_MS],
  ['m', MINUTE_MS],
  ['s', SECOND_MS],
] as const;

const DURATION_PATTERN = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

export const DURATION_HINT = 'use a number and a unit, like 30m, 4h, 1h30m or 2d';

/** Parses a duration like `1h30m` into milliseconds; throws an Error that says what is allowed. */
export function parseDuration(text: string): number {
  const match = DURATION_PATTERN.exec(text);
  // The pattern also matches the empty string, so require at least one unit.
  if (match === null || text === '') {
    throw new Error(`${JSON.stringify(text)} is not a duration: ${DURATION_HINT}`);
  }
  let total = 0;
  UNITS.forEach(([, unitMs], index) => {
    const digits = match[index + 1];
    if (digits !== undefined) total += Number(digits) * unitMs;
  });
  if (total === 0) {
    throw new Error(`${JSON.stringify(text)} is not a duration: it must be longer than zero, like 30m or 4h`);
  }
  // Absurdly long digit strings would lose precision; nothing legitimate comes close.
  if (!Number.isSafeInteger(total)) {
    throw new Error(`${JSON.stringify(text)} is too long to be a duration: ${DURATION_HINT}`);
  }
  return total;
}

/**
 * Formats milliseconds in the compact form `parseDuration` reads (5400000 -> `1h30m`).
 * Sub-second remainders are dropped, so it can also show time left on a grant; anything
 * under a second is `0s`.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`formatDuration needs a finite number of milliseconds >= 0, got ${ms}`);
  }
  let rest = Math.floor(ms / SECOND_MS) * SECOND_MS;
  let text = '';
  for (const [unit, unitMs] of UNITS) {
    const count = Math.floor(rest / unitMs);
    if (count > 0) text += `${count}${unit}`;
    rest -= count * unitMs;
  }
  return text === '' ? '0s' : text;
}
