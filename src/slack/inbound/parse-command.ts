/** `/request-access <resource> [duration] [reason…]`, split into its parts. */
export interface RequestCommand {
  resourceId?: string;
  duration?: string;
  reason?: string;
}

/** A second word that starts with a digit is meant as a duration (`2h`, `90m`, `1h30m`). */
const LOOKS_LIKE_DURATION = /^\d/;

export function parseRequestCommand(text: string): RequestCommand {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const [resourceId, second, ...rest] = words;
  if (!resourceId) return {};
  if (second === undefined) return { resourceId };
  if (LOOKS_LIKE_DURATION.test(second)) {
    const reason = rest.join(' ');
    return reason ? { resourceId, duration: second, reason } : { resourceId, duration: second };
  }
  return { resourceId, reason: [second, ...rest].join(' ') };
}
