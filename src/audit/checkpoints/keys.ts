import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs/promises';
import { sha256 } from '../chain.ts';

/**
 * A checkpoint key setting or file that cannot be used; the message names it and the fix.
 * The command line prints it as it prints a bad setting: the message alone.
 */
export class CheckpointKeyError extends Error {}

/** A checkpoint verifying key: an Ed25519 public key and the id derived from it. */
export interface CheckpointPublicKey {
  keyObject: KeyObject;
  /** The 32-byte public key, as RFC 8032 writes it, in lower-case hex. */
  hex: string;
  /** First 8 bytes of SHA-256(32-byte public key), in hex: names the key in checkpoints. */
  keyId: string;
}

/** A checkpoint signing key. The private half never leaves this object: never log it. */
export interface CheckpointKey {
  privateKey: KeyObject;
  publicKey: CheckpointPublicKey;
}

/** Node reads a raw Ed25519 seed only inside PKCS#8 DER: this prefix, then the 32 bytes. */
const PKCS8_SEED_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** ...and a raw public key only inside SPKI DER. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const HOW_TO_MAKE =
  'Make a key with `gatehouse audit keygen --out FILE`, then set GATEHOUSE_CHECKPOINT_KEY_FILE=FILE (or put the PEM text in GATEHOUSE_CHECKPOINT_KEY).';
const HOW_TO_GET_PUBLIC =
  'Give the 64 hex digits (or the PEM) that `gatehouse audit keygen` printed as the public key, or a file holding either.';

/** Signs bytes with Ed25519 (RFC 8032, pure, no context): 64 bytes. */
export function signBytes(key: CheckpointKey, message: Uint8Array): Buffer {
  return crypto.sign(null, message, key.privateKey);
}

/** Verifies an Ed25519 signature; false for any signature that is not 64 valid bytes. */
export function verifyBytes(key: CheckpointPublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  return crypto.verify(null, message, key.keyObject, signature);
}

export function keyIdOf(rawPublicKey: Uint8Array): string {
  return sha256(rawPublicKey).subarray(0, 8).toString('hex');
}

function describePublic(keyObject: KeyObject): CheckpointPublicKey {
  const der = keyObject.export({ format: 'der', type: 'spki' });
  const raw = der.subarray(SPKI_PREFIX.length);
  return { keyObject, hex: raw.toString('hex'), keyId: keyIdOf(raw) };
}

function fromPrivate(privateKey: KeyObject): CheckpointKey {
  return { privateKey, publicKey: describePublic(crypto.createPublicKey(privateKey)) };
}

/** A key from a 32-byte RFC 8032 secret key (seed): for test vectors and worked examples. */
export function checkpointKeyFromSeed(seed: Uint8Array): CheckpointKey {
  if (seed.length !== 32) throw new Error(`an Ed25519 seed is 32 bytes, not ${seed.length}`);
  const der = Buffer.concat([PKCS8_SEED_PREFIX, seed]);
  return fromPrivate(crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
}

/** A verifying key from its 32 raw bytes. */
export function publicKeyFromRaw(raw: Uint8Array): CheckpointPublicKey {
  if (raw.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes, not ${raw.length}`);
  return describePublic(
    crypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' }),
  );
}

/** A new random key, with its private half as PKCS#8 PEM to store. */
export function generateCheckpointKey(): { key: CheckpointKey; pem: string } {
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  return { key: fromPrivate(privateKey), pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

/** The public key as SPKI PEM, the form `openssl pkeyutl -verify` takes. */
export function publicKeyPem(key: CheckpointPublicKey): string {
  return key.keyObject.export({ format: 'pem', type: 'spki' }).toString();
}

/**
 * Reads a private key from PEM text. `origin` names where it came from (a setting or a
 * file) for the error, which never repeats the text: it is a secret.
 */
export function parseCheckpointKey(pem: string, origin: string): CheckpointKey {
  if (!pem.includes('-----BEGIN PRIVATE KEY-----')) {
    throw new CheckpointKeyError(
      `${origin} does not hold a PEM private key (-----BEGIN PRIVATE KEY-----). ${HOW_TO_MAKE}`,
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = crypto.createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new CheckpointKeyError(`${origin} holds a PEM block that is not a readable private key. ${HOW_TO_MAKE}`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new CheckpointKeyError(
      `${origin} holds a ${privateKey.asymmetricKeyType ?? 'non-Ed25519'} key; checkpoints are signed with Ed25519. ${HOW_TO_MAKE}`,
    );
  }
  return fromPrivate(privateKey);
}

export interface CheckpointKeySettings {
  /** PEM text (GATEHOUSE_CHECKPOINT_KEY). */
  privateKey?: string | undefined;
  /** Path of a PEM file (GATEHOUSE_CHECKPOINT_KEY_FILE). */
  privateKeyFile?: string | undefined;
}

/** The signing key from the settings, or null when neither is set. */
export async function loadCheckpointKey(settings: CheckpointKeySettings): Promise<CheckpointKey | null> {
  if (settings.privateKey && settings.privateKeyFile) {
    throw new CheckpointKeyError('Both GATEHOUSE_CHECKPOINT_KEY and GATEHOUSE_CHECKPOINT_KEY_FILE are set: keep one.');
  }
  if (settings.privateKey) return parseCheckpointKey(settings.privateKey, 'GATEHOUSE_CHECKPOINT_KEY');
  if (!settings.privateKeyFile) return null;
  const file = settings.privateKeyFile;
  let pem: string;
  try {
    pem = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new CheckpointKeyError(
      `GATEHOUSE_CHECKPOINT_KEY_FILE names ${file}, which cannot be read (${code}). ${HOW_TO_MAKE}`,
    );
  }
  return parseCheckpointKey(pem, `GATEHOUSE_CHECKPOINT_KEY_FILE (${file})`);
}

/** A verifying key from 64 hex digits or SPKI PEM text. */
export function parsePublicKey(text: string, origin: string): CheckpointPublicKey {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return publicKeyFromRaw(Buffer.from(trimmed, 'hex'));
  if (trimmed.includes('PRIVATE KEY-----')) {
    throw new CheckpointKeyError(
      `${origin} holds a private key. Verifying needs only the public key, and the private one must not travel: ${HOW_TO_GET_PUBLIC}`,
    );
  }
  if (!trimmed.includes('-----BEGIN PUBLIC KEY-----'))
    throw new CheckpointKeyError(`${origin} is not an Ed25519 public key. ${HOW_TO_GET_PUBLIC}`);
  let keyObject: KeyObject;
  try {
    keyObject = crypto.createPublicKey({ key: trimmed, format: 'pem' });
  } catch {
    throw new CheckpointKeyError(`${origin} holds a PEM block that is not a readable public key. ${HOW_TO_GET_PUBLIC}`);
  }
  if (keyObject.asymmetricKeyType !== 'ed25519')
    throw new CheckpointKeyError(
      `${origin} is a ${keyObject.asymmetricKeyType ?? 'non-Ed25519'} key, not Ed25519. ${HOW_TO_GET_PUBLIC}`,
    );
  return describePublic(keyObject);
}

/** A verifying key given as hex, as PEM, or as the path of a file holding either. */
export async function loadPublicKey(keyOrFile: string, origin: string): Promise<CheckpointPublicKey> {
  const trimmed = keyOrFile.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed) || trimmed.startsWith('-----BEGIN')) return parsePublicKey(trimmed, origin);
  let text: string;
  try {
    text = await fs.readFile(trimmed, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new CheckpointKeyError(
      `${origin} is neither a public key nor a readable file (${code} for ${trimmed}). ${HOW_TO_GET_PUBLIC}`,
    );
  }
  return parsePublicKey(text, `${origin} (${trimmed})`);
}
