import { randomBytes } from 'node:crypto';
import type { GrantId, RequestId } from '../db/ids.ts';

export { asGrantId, asRequestId, asSlackUserId, type GrantId, type RequestId, type SlackUserId } from '../db/ids.ts';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Short, unguessable, readable ids: `req_7x3k…`, `grt_…`, `alt_…`. */
function newId(prefix: 'req' | 'grt' | 'alt'): string {
  const bytes = randomBytes(12);
  let id = '';
  for (const byte of bytes) id += ALPHABET[byte % 32];
  return `${prefix}_${id}`;
}

export const newRequestId = (): RequestId => newId('req') as RequestId;
export const newGrantId = (): GrantId => newId('grt') as GrantId;
export const newAlertId = (): string => newId('alt');
