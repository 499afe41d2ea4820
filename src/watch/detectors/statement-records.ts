/** Reading what the gateway's statement records say, defensively: a forged record may hold anything. */
import { createHash } from 'node:crypto';

/** Only the strings of a list a record carries. */
export function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** The statement's first keyword (create, drop, set …), lower-case. */
export const firstWord = (sql: string): string => /^\s*(\w+)/.exec(sql)?.[1]?.toLowerCase() ?? '';

/** A short, stable name for a text, for incident keys. */
export function fingerprint(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/**
 * The sensitive table (as the policy wrote it) that a recorded table name is, if any:
 * `public.customers` matches `public.customers` and a bare `customers` (which may be that
 * table on the search path); a bare policy entry `cards` matches `cards` in any schema.
 */
export function sensitiveMatch(sensitive: readonly string[], table: string): string | undefined {
  const bare = table.includes('.') ? table.slice(table.indexOf('.') + 1) : table;
  return sensitive.find((t) => t === table || t === bare || (table === bare && t.endsWith(`.${bare}`)));
}
