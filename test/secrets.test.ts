import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { webhookSignature } from '../src/provisioners/webhook.ts';
import { SecretBox, SecretsKeyError } from '../src/secrets/sealed.ts';

describe('sealed secrets', () => {
  const key = randomBytes(32);

  it('open only with the same key and the same context, and never show the plaintext', () => {
    const box = SecretBox.fromEnv(key.toString('hex'))!;
    const sealed = box.seal('{"password":"hunter2"}', 'grt_1');
    expect(sealed.toString('latin1')).not.toContain('hunter2');
    expect(box.open(sealed, 'grt_1')).toBe('{"password":"hunter2"}');
    expect(SecretBox.fromEnv(key.toString('base64'))!.open(sealed, 'grt_1')).toBe('{"password":"hunter2"}');
    // Moved to another grant's row, or under another key, or changed: it does not open.
    expect(() => box.open(sealed, 'grt_2')).toThrow();
    expect(() => SecretBox.fromEnv(randomBytes(32).toString('hex'))!.open(sealed, 'grt_1')).toThrow();
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1] = flipped.at(-1)! ^ 1;
    expect(() => box.open(flipped, 'grt_1')).toThrow();
  });

  it('take a 32-byte key and say how to make one otherwise', () => {
    expect(SecretBox.fromEnv(undefined)).toBeNull();
    expect(() => SecretBox.fromEnv('too-short')).toThrow(SecretsKeyError);
    expect(() => SecretBox.fromEnv('too-short')).toThrow('make one with `openssl rand -hex 32`');
  });
});

describe('webhook signatures', () => {
  it('match the worked example in docs/provisioners.md', () => {
    const body =
      '{"id":"grt_01JDXK5Q9V:grant","type":"grant","grant_id":"grt_01JDXK5Q9V","user":"U05CNTR0001","resource":"billing","starts_at":"2026-11-27T09:00:00.000Z","ends_at":"2026-11-27T10:00:00.000Z"}';
    expect(webhookSignature('whsec-example', '1795770000', body)).toBe(
      'v1=cd28871f2b9fcd1e806ecd872cf19598a0ae40ff0b9a330c717ce1e20b31cebd',
    );
  });
});
