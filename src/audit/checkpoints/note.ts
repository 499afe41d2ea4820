import { sha256 } from '../chain.ts';
import { publicKeyFromRaw, signBytes, verifyBytes, type CheckpointKey, type CheckpointPublicKey } from './keys.ts';

/**
 * Signed notes (https://c2sp.org/signed-note), the checkpoints written in them
 * (https://c2sp.org/tlog-checkpoint) and witness cosignatures (https://c2sp.org/tlog-cosignature):
 * the forms Go's checksum database, Sigstore and the transparency-dev witnesses read
 * (docs/merkle.md §11). Pure: text in, text out.
 *
 * A note is a body (UTF-8 lines, each ending LF), a blank line, then one line per signature,
 * `— <key name> <base64(4-byte key id ‖ signature)>`. The key id is the first 4 bytes of
 * SHA-256(key name ‖ LF ‖ type ‖ public key): type 0x01 for a plain Ed25519 note signature,
 * 0x04 for an Ed25519 cosignature, whose signature is an 8-byte big-endian time ‖ the Ed25519
 * signature of `cosignature/v1\ntime <secs>\n` ‖ body.
 */
export const NOTE_ED25519 = 0x01;
export const COSIGNATURE_ED25519 = 0x04;
export type NoteKeyType = typeof NOTE_ED25519 | typeof COSIGNATURE_ED25519;

/** A note, key or checkpoint that is malformed, or a signature by a known key that does not verify. */
export class NoteError extends Error {}

const SIGNATURE_PREFIX = '\u2014 ';
const MAX_SIGNATURES = 100;
const MAX_TIME = 2n ** 63n - 1n;

/** True when `text` holds an ASCII control character (other than LF, when `newlines` allows it). */
function hasControl(text: string, newlines: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 && !(newlines && code === 0x0a)) return true;
  }
  return false;
}

/** What a checkpoint note's body says: the log (origin), the tree's size and its RFC 6962 root. */
export interface CheckpointBody {
  origin: string;
  size: number;
  /** The root hash, 64 lower-case hex digits. */
  root: string;
  /** Lines after the third, if the log wrote any (Gatehouse writes none). */
  extensions: string[];
}

/** A key name: not empty, no whitespace, no `+`. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name);
}

function rootBytes(root: Uint8Array | string): Buffer {
  const bytes = typeof root === 'string' ? Buffer.from(root, /^[0-9a-fA-F]{64}$/.test(root) ? 'hex' : 'base64') : root;
  if (bytes.length !== 32) throw new NoteError(`a root hash is 32 bytes, not ${bytes.length}`);
  return Buffer.from(bytes);
}

/** The checkpoint's body: origin, decimal size, base64 root, each line ending LF. */
export function checkpointNoteBody(fields: {
  origin: string;
  size: number;
  root: Uint8Array | string;
  extensions?: readonly string[];
}): string {
  const { origin, size, extensions = [] } = fields;
  if (origin.length === 0 || hasControl(origin, false))
    throw new NoteError('the origin must be one non-empty line without control characters');
  if (!Number.isSafeInteger(size) || size < 0) throw new NoteError(`a tree size is a whole number ≥ 0, not ${size}`);
  if (extensions.some((line) => line.length === 0 || hasControl(line, false)))
    throw new NoteError('an extension line must be non-empty, without control characters');
  return [origin, String(size), rootBytes(fields.root).toString('base64'), ...extensions, ''].join('\n');
}

/** Reads a checkpoint body; throws NoteError saying what is wrong. */
export function parseCheckpointBody(body: string): CheckpointBody {
  if (!body.endsWith('\n')) throw new NoteError('a checkpoint body ends with a newline');
  const lines = body.slice(0, -1).split('\n');
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (origin === undefined || sizeText === undefined || rootText === undefined)
    throw new NoteError('a checkpoint body has three lines at least: origin, tree size, root hash');
  if (origin.length === 0) throw new NoteError("the checkpoint's origin line is empty");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText)))
    throw new NoteError(`the tree size "${sizeText}" is not a decimal number without leading zeros`);
  const root = Buffer.from(rootText, 'base64');
  if (root.length !== 32 || root.toString('base64') !== rootText)
    throw new NoteError(`the root hash "${rootText}" is not 32 bytes in standard base64`);
  if (extensions.some((line) => line.length === 0)) throw new NoteError('a checkpoint has no empty lines');
  return { origin, size: Number(sizeText), root: root.toString('hex'), extensions };
}

/** The 4-byte key id: SHA-256(name ‖ LF ‖ type ‖ public key)[:4]. */
export function noteKeyId(name: string, type: NoteKeyType, rawPublicKey: Uint8Array): Buffer {
  return sha256(Buffer.concat([Buffer.from(`${name}\n`, 'utf8'), Buffer.of(type), rawPublicKey])).subarray(0, 4);
}

/** A key that checks signatures: a name, a type, and the Ed25519 public key. */
export interface NoteVerifier {
  name: string;
  type: NoteKeyType;
  /** The 4-byte key id in hex (8 digits). */
  keyId: string;
  publicKey: CheckpointPublicKey;
}

export function noteVerifier(
  name: string,
  publicKey: CheckpointPublicKey,
  type: NoteKeyType = NOTE_ED25519,
): NoteVerifier {
  if (!isValidKeyName(name))
    throw new NoteError(`"${name}" is not a key name: it must be non-empty, without spaces or "+"`);
  return { name, type, keyId: noteKeyId(name, type, Buffer.from(publicKey.hex, 'hex')).toString('hex'), publicKey };
}

/** The verifier key's text form: `<name>+<8 hex key id>+<base64(type ‖ public key)>`. */
export function vkeyOf(name: string, publicKey: CheckpointPublicKey, type: NoteKeyType = NOTE_ED25519): string {
  const verifier = noteVerifier(name, publicKey, type);
  const material = Buffer.concat([Buffer.of(type), Buffer.from(publicKey.hex, 'hex')]).toString('base64');
  return `${name}+${verifier.keyId}+${material}`;
}

/** Reads a vkey (`name+keyid+base64`); type 0x01 (note signer) or 0x04 (cosigner). */
export function parseVkey(text: string): NoteVerifier {
  const trimmed = text.trim();
  // The name has no "+", the key id is hex: the base64 after the second "+" may hold more.
  const first = trimmed.indexOf('+');
  const second = first < 0 ? -1 : trimmed.indexOf('+', first + 1);
  const parts =
    second < 0 ? [trimmed] : [trimmed.slice(0, first), trimmed.slice(first + 1, second), trimmed.slice(second + 1)];
  const fail = (why: string) =>
    new NoteError(`"${trimmed.slice(0, 80)}" is not a verifier key (name+keyid+base64): ${why}`);
  if (parts.length !== 3) throw fail('it must have exactly three parts joined by "+"');
  const [name, keyId, material] = parts as [string, string, string];
  if (!isValidKeyName(name)) throw fail('the name is empty or holds spaces');
  if (!/^[0-9a-f]{8}$/.test(keyId)) throw fail('the key id must be 8 lower-case hex digits');
  const bytes = Buffer.from(material, 'base64');
  if (bytes.toString('base64') !== material || bytes.length !== 33) throw fail('the key is not 33 bytes of base64');
  const type = bytes[0];
  if (type !== NOTE_ED25519 && type !== COSIGNATURE_ED25519)
    throw fail(
      `key type 0x${(type ?? 0).toString(16).padStart(2, '0')} is not Ed25519 (0x01) or an Ed25519 cosigner (0x04)`,
    );
  const verifier = noteVerifier(name, publicKeyFromRaw(bytes.subarray(1)), type);
  if (verifier.keyId !== keyId) throw fail(`the key id is ${verifier.keyId} for this name and key, not ${keyId}`);
  return verifier;
}

/** Who signs: a key name and the Ed25519 key. */
export interface NoteSigner {
  name: string;
  key: CheckpointKey;
}

function checkBody(body: string): void {
  if (body.length === 0 || !body.endsWith('\n'))
    throw new NoteError('a note body is not empty and ends with a newline');
  if (hasControl(body, true)) throw new NoteError('a note body has no control characters but newline');
  if (body.includes('\n\n') || body.startsWith('\n')) throw new NoteError('a note body has no blank lines');
}

function signatureLine(name: string, keyId: Uint8Array, payload: Uint8Array): string {
  return `${SIGNATURE_PREFIX}${name} ${Buffer.concat([keyId, payload]).toString('base64')}\n`;
}

/** One signature line (with its LF) over `body`, type 0x01. */
export function noteSignatureLine(body: string, signer: NoteSigner): string {
  checkBody(body);
  const verifier = noteVerifier(signer.name, signer.key.publicKey);
  const signature = signBytes(signer.key, Buffer.from(body, 'utf8'));
  return signatureLine(signer.name, Buffer.from(verifier.keyId, 'hex'), signature);
}

/** The signed note: body, blank line, the signature line. */
export function signNote(body: string, signer: NoteSigner): string {
  return `${body}\n${noteSignatureLine(body, signer)}`;
}

/** What an Ed25519 cosigner signs: `cosignature/v1\ntime <secs>\n` then the body. */
export function cosignatureMessage(body: string, time: number): string {
  if (!Number.isSafeInteger(time) || time < 0)
    throw new NoteError(`a cosignature time is whole seconds ≥ 0, not ${time}`);
  return `cosignature/v1\ntime ${time}\n${body}`;
}

/** A witness's cosignature line over a checkpoint body (type 0x04), at `time` (Unix seconds). */
export function cosignatureLine(body: string, signer: NoteSigner, time: number): string {
  checkBody(body);
  const verifier = noteVerifier(signer.name, signer.key.publicKey, COSIGNATURE_ED25519);
  const stamp = Buffer.alloc(8);
  stamp.writeBigUInt64BE(BigInt(time));
  const signature = signBytes(signer.key, Buffer.from(cosignatureMessage(body, time), 'utf8'));
  return signatureLine(signer.name, Buffer.from(verifier.keyId, 'hex'), Buffer.concat([stamp, signature]));
}

/** A signature line as read, not yet checked. */
export interface NoteSignature {
  name: string;
  /** The 4-byte key id, 8 hex digits. */
  keyId: string;
  /** The line without its LF. */
  line: string;
  /** The signature bytes after the key id. */
  payload: Buffer;
}

export interface VerifiedSignature extends NoteSignature {
  type: NoteKeyType;
  /** A cosignature's time, Unix seconds. */
  time?: number;
}

export interface ParsedNote {
  body: string;
  signatures: NoteSignature[];
}

/** Splits a note at its last blank line and reads the signature lines, checking none. */
export function parseNote(text: string | Uint8Array): ParsedNote {
  let note: string;
  if (typeof text === 'string') note = text;
  else {
    try {
      note = new TextDecoder('utf-8', { fatal: true }).decode(text);
    } catch {
      throw new NoteError('a note is UTF-8 text, and this is not');
    }
  }
  if (hasControl(note, true)) throw new NoteError('a note has no control characters but newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('a note is its text, a blank line, then signature lines: no blank line here');
  const body = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n'))
    throw new NoteError('a note ends with signature lines, each ending LF');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new NoteError(`a note carries at most ${MAX_SIGNATURES} signatures`);
  const signatures = lines.map((line) => {
    if (!line.startsWith(SIGNATURE_PREFIX))
      throw new NoteError(`a signature line starts with "— ": ${line.slice(0, 80)}`);
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = space < 0 ? rest : rest.slice(0, space);
    const b64 = space < 0 ? '' : rest.slice(space + 1);
    const bytes = Buffer.from(b64, 'base64');
    if (!isValidKeyName(name) || b64.length === 0 || bytes.toString('base64') !== b64 || bytes.length < 5)
      throw new NoteError(`a signature line is "— <name> <base64 of key id and signature>": ${line.slice(0, 80)}`);
    return { name, keyId: bytes.subarray(0, 4).toString('hex'), line, payload: bytes.subarray(4) };
  });
  return { body, signatures };
}

function verifies(verifier: NoteVerifier, body: string, payload: Buffer): { ok: boolean; time?: number } {
  if (verifier.type === NOTE_ED25519)
    return { ok: verifyBytes(verifier.publicKey, Buffer.from(body, 'utf8'), payload) };
  if (payload.length !== 72) return { ok: false };
  const stamp = payload.readBigUInt64BE(0);
  if (stamp > MAX_TIME || stamp > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false };
  const time = Number(stamp);
  const message = Buffer.from(cosignatureMessage(body, time), 'utf8');
  return { ok: verifyBytes(verifier.publicKey, message, payload.subarray(8)), time };
}

export interface OpenedSignedNote {
  body: string;
  /** Signatures by the verifiers given, each checked. */
  verified: VerifiedSignature[];
  /** Signatures by keys not given: not checked, kept. */
  unknown: NoteSignature[];
}

/**
 * Reads a note and checks every signature by a key in `verifiers` (matched by name and key
 * id); throws NoteError when the note is malformed, a known key's signature does not verify,
 * or (unless `requireVerified` is false) no known key signed it. Repeated lines count once.
 */
export function openSignedNote(
  text: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
  options: { requireVerified?: boolean } = {},
): OpenedSignedNote {
  const { body, signatures } = parseNote(text);
  const verified: VerifiedSignature[] = [];
  const unknown: NoteSignature[] = [];
  const seen = new Set<string>();
  for (const signature of signatures) {
    const key = `${signature.name}\n${signature.keyId}`;
    const verifier = verifiers.find((v) => v.name === signature.name && v.keyId === signature.keyId);
    if (!verifier) {
      if (!seen.has(signature.line)) unknown.push(signature);
      seen.add(signature.line);
      continue;
    }
    if (seen.has(key)) continue;
    seen.add(key);
    const result = verifies(verifier, body, signature.payload);
    if (!result.ok)
      throw new NoteError(
        `the signature by ${signature.name} (key id ${signature.keyId}) does not verify: the note was changed or the signature forged`,
      );
    verified.push({ ...signature, type: verifier.type, ...(result.time === undefined ? {} : { time: result.time }) });
  }
  if (verified.length === 0 && options.requireVerified !== false) {
    const names = verifiers.map((v) => `${v.name} (${v.keyId})`).join(', ') || 'none given';
    const found = signatures.map((s) => `${s.name} (${s.keyId})`).join(', ');
    throw new NoteError(`no signature on the note is by a known key: known ${names}; signed by ${found}`);
  }
  return { body, verified, unknown };
}

export interface OpenedNote extends CheckpointBody, OpenedSignedNote {}

/** openSignedNote for a checkpoint note: also reads its origin, size and root. */
export function openNote(
  text: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
  options: { requireVerified?: boolean } = {},
): OpenedNote {
  const opened = openSignedNote(text, verifiers, options);
  return { ...opened, ...parseCheckpointBody(opened.body) };
}

/** The note with `lines` added after its signatures (a line already there is not repeated). */
export function addSignatureLines(note: string, lines: readonly string[]): string {
  const { body, signatures } = parseNote(note);
  const have = new Set(signatures.map((s) => s.line));
  const added = lines.map((line) => line.replace(/\n$/, '')).filter((line) => !have.has(line) && have.add(line));
  return `${body}\n${[...signatures.map((s) => s.line), ...added].map((line) => `${line}\n`).join('')}`;
}

/** The log's default checkpoint origin (and key name): `gatehouse.local/<log id>`. */
export function defaultOrigin(logId: string): string {
  return `gatehouse.local/${logId}`;
}
