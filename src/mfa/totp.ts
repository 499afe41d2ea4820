/**
 * TOTP as authenticator apps do it (RFC 6238: SHA-1, 6 digits, 30-second steps), through
 * otplib, with the two rules Gatehouse adds: a code is accepted for one time step only once
 * (the caller keeps the last step), and a clock that is off by up to one step either way
 * still works.
 */
import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';

export const PERIOD_SECONDS = 30;
/** How far a phone's clock may be off: one step either way. */
export const DRIFT_SECONDS = 30;
const ISSUER = 'Gatehouse';

/** A new random secret: 20 bytes (160 bits, RFC 4226's recommendation), Base32 as apps expect. */
export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

/** The otpauth:// URI an authenticator app reads from the QR code, labelled with who it is for. */
export function otpauthUri(secret: string, label: string): string {
  return generateURI({ issuer: ISSUER, label, secret });
}

/** The QR code of `uri`, as a PNG an authenticator app can scan from a phone or a screen. */
export function qrPng(uri: string): Promise<Buffer> {
  return QRCode.toBuffer(uri, { type: 'png', errorCorrectionLevel: 'M', margin: 2, width: 320 });
}

export type CodeMatch = { valid: true; step: number } | { valid: false; reason: 'malformed' | 'wrong' | 'replayed' };

/** Spaces and dashes that apps show inside a code are allowed; anything else than 6 digits is malformed. */
export function normaliseCode(code: string): string | null {
  const digits = code.replace(/[\s-]/g, '');
  return /^\d{6}$/.test(digits) ? digits : null;
}

/**
 * Checks `code` against `secret` at `now`, within the drift window, and refuses a step at
 * or before `lastStep` (a code already used, or an older one).
 */
export async function matchCode(secret: string, code: string, now: Date, lastStep: number | null): Promise<CodeMatch> {
  const token = normaliseCode(code);
  if (token === null) return { valid: false, reason: 'malformed' };
  const result = await verify({
    secret,
    token,
    epoch: Math.floor(now.getTime() / 1000),
    epochTolerance: DRIFT_SECONDS,
    period: PERIOD_SECONDS,
  });
  if (!result.valid) return { valid: false, reason: 'wrong' };
  // The result type also covers HOTP; a TOTP match always carries its time step.
  if (!('timeStep' in result)) throw new Error('otplib matched a TOTP code without a time step');
  if (lastStep !== null && result.timeStep <= lastStep) return { valid: false, reason: 'replayed' };
  return { valid: true, step: result.timeStep };
}
