import { takeTicketFlag } from './ticket-words.ts';

/** `/request-access <resource> [duration] [reason…]`, split into its parts. */
export interface RequestCommand {
  resourceId?: string;
  duration?: string;
  reason?: string;
  /** `--break-glass`: take access at once, to be ratified by owners (access/break-glass.ts). */
  breakGlass?: boolean;
  /** `--code 123456` with `--break-glass`, for a resource with require_mfa: there is no form in an emergency. */
  mfaCode?: string;
  /** `--ticket INC-123`, or (see ticket-words.ts) a first reason word matching the resource's ticket pattern. */
  ticket?: string;
}

const BREAK_GLASS = '--break-glass';
const CODE = '--code';

/** A second word that starts with a digit is meant as a duration (`2h`, `90m`, `1h30m`). */
const LOOKS_LIKE_DURATION = /^\d/;

export function parseRequestCommand(text: string): RequestCommand {
  const all = text.trim().split(/\s+/).filter(Boolean);
  const flagged = takeTicketFlag(all);
  if (flagged) return { ...parseRequestCommand(flagged.rest.join(' ')), ticket: flagged.ticket };
  if (!all.includes(BREAK_GLASS)) return parseWords(all);
  const words = all.filter((word) => word !== BREAK_GLASS);
  const at = words.indexOf(CODE);
  const mfaCode = at >= 0 ? words[at + 1] : undefined;
  if (at >= 0) words.splice(at, 2);
  return { ...parseWords(words), breakGlass: true, ...(mfaCode !== undefined ? { mfaCode } : {}) };
}

function parseWords(words: string[]): RequestCommand {
  const [resourceId, second, ...rest] = words;
  if (!resourceId) return {};
  if (second === undefined) return { resourceId };
  if (LOOKS_LIKE_DURATION.test(second)) {
    const reason = rest.join(' ');
    return reason ? { resourceId, duration: second, reason } : { resourceId, duration: second };
  }
  return { resourceId, reason: [second, ...rest].join(' ') };
}
