import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** What to tell an operator who has no key yet. */
export const SECRETS_KEY_HINT = 'make one with `openssl rand -hex 32` and set GATEHOUSE_SECRETS_KEY to it';

export class SecretsKeyError extends Error {}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals small secrets (credentials waiting to be delivered) with AES-256-GCM under a key
 * from the environment, so the database holds only ciphertext. Each sealed value is bound
 * to its context (a grant id) as additional data: moved to another row, it will not open.
 * Layout: 12-byte IV, 16-byte tag, ciphertext.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** The key from GATEHOUSE_SECRETS_KEY: 64 hex digits or base64 of 32 bytes. */
  static fromEnv(value: string | undefined, name = 'GATEHOUSE_SECRETS_KEY'): SecretBox | null {
    if (value === undefined || value.trim() === '') return null;
    const text = value.trim();
    const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
    if (key.length !== 32)
      throw new SecretsKeyError(`${name} must be 32 bytes, as 64 hex digits or base64: ${SECRETS_KEY_HINT}.`);
    return new SecretBox(key);
  }

  seal(plaintext: string, context: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  /** Throws if the value was sealed under another key or context, or changed since. */
  open(sealed: Buffer, context: string): string {
    const iv = sealed.subarray(0, IV_BYTES);
    const tag = sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  }
}
