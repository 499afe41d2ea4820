import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Short, unguessable, readable ids: `req_7x3k…`, `grt_…`. */
export function newId(prefix: 'req' | 'grt'): string {
  const bytes = randomBytes(12);
  let id = '';
  for (const byte of bytes) id += ALPHABET[byte % 32];
  return `${prefix}_${id}`;
}
