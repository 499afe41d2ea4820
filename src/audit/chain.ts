import crypto from 'node:crypto';

/** `prev_hash` of the first event: 32 zero bytes. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

// crypto.hash (Node >= 20.12) is a one-shot digest, about twice as fast as createHash for
// the short inputs of an audit event; verification of a long log is bound by it.
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }).hash;

/** SHA-256 of bytes that already hold `prev_hash ‖ canonical`. */
export function sha256(data: Uint8Array): Buffer {
  return oneShot ? oneShot('sha256', data, 'buffer') : crypto.createHash('sha256').update(data).digest();
}

/** hash = SHA-256(prev_hash ‖ canonical bytes). */
export function chainHash(prevHash: Uint8Array, canonical: string | Uint8Array): Buffer {
  const body = typeof canonical === 'string' ? Buffer.from(canonical, 'utf8') : canonical;
  const input = Buffer.allocUnsafe(prevHash.length + body.length);
  input.set(prevHash, 0);
  input.set(body, prevHash.length);
  return sha256(input);
}

export const HEX_HASH_PATTERN = /^[0-9a-f]{64}$/;
