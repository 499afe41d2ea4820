/** Socket errors of a server that cannot be reached, or that went away mid-conversation. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * SQLSTATEs of a server that is not there for us: class 08 (connection exceptions), shutting
 * down or starting up (57P01-57P03), too many connections, the database gone.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '3D000']);

/** What node-postgres and its pool say when a connection ends, or never comes. */
const PG_CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|not queryable|Client was closed/i;

/**
 * The error itself, and each error of an AggregateError (a connect to a name with several
 * addresses). Causes are not followed: a failed fetch to Slack wraps ECONNREFUSED too.
 */
function* own(err: unknown): Generator<{ code?: unknown; message?: unknown }> {
  if (typeof err !== 'object' || err === null) return;
  yield err as { code?: unknown; message?: unknown };
  if (err instanceof AggregateError)
    for (const inner of err.errors) if (typeof inner === 'object' && inner !== null) yield inner;
}

/**
 * Whether `err` says PostgreSQL could not be reached (stopped, restarting, the network cut).
 * The transaction in flight then did not commit (unless the connection broke in the instant
 * between COMMIT and its answer), and the same work may well succeed in a minute.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (const e of own(err)) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
    if (typeof e.message === 'string' && PG_CONNECTION_MESSAGES.test(e.message)) return true;
  }
  return false;
}
