/**
 * Messages a client sends once its session is open (PostgreSQL protocol 3.0, "Message
 * Formats"): cut from the byte stream whole, and the few the gateway records read field by
 * field. Everything is forwarded as the client sent it; only a refused statement is
 * replaced (session.ts).
 */

/** The first byte of each frontend message the gateway tells apart. */
export const FRONTEND = {
  Query: 0x51, // Q
  Parse: 0x50, // P
  Bind: 0x42, // B
  Execute: 0x45, // E
  Describe: 0x44, // D
  Close: 0x43, // C
  Sync: 0x53, // S
  Flush: 0x48, // H
  FunctionCall: 0x46, // F
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  Terminate: 0x58, // X
} as const;

/** The longest message a client may send through the gateway (PostgreSQL's own limit is 1 GB). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export class ProtocolViolation extends Error {}

/**
 * Cuts whole messages (type byte, int32 length, body) from a stream's chunks. Chunks are
 * kept as they come and joined once per message, so a large message costs its size, not
 * its size times the number of chunks it came in.
 */
export class MessageFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** The whole messages `chunk` completes, in order; a partial one waits for the next chunk. */
  push(chunk: Uint8Array): Buffer[] {
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.buffered += chunk.byteLength;
    const messages: Buffer[] = [];
    while (this.buffered >= 5) {
      const length = this.head(5).readInt32BE(1);
      if (length < 4 || length > MAX_MESSAGE_BYTES)
        throw new ProtocolViolation(
          `a message of ${length} bytes is more than the gateway takes (${MAX_MESSAGE_BYTES})`,
        );
      if (this.buffered < 1 + length) break;
      messages.push(this.take(1 + length));
    }
    return messages;
  }

  /** The first `n` buffered bytes, without taking them. */
  private head(n: number): Buffer {
    const first = this.chunks[0]!;
    return first.length >= n ? first : Buffer.concat(this.chunks, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let taken: Buffer;
    if (first.length >= n) {
      taken = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const whole = Buffer.concat(this.chunks);
      taken = whole.subarray(0, n);
      this.chunks = whole.length > n ? [whole.subarray(n)] : [];
    }
    this.buffered -= n;
    return taken;
  }
}

/** Reads a message's fields after its 5-byte header. */
class Fields {
  private at = 5;
  constructor(private readonly message: Buffer) {}
  /** Text (UTF-8, which the gateway pins for every session). */
  cstring(): string {
    return this.rawCstring('utf8');
  }
  /** A statement or portal name, one character per byte, so that different bytes never make the same name. */
  name(): string {
    return this.rawCstring('latin1');
  }
  private rawCstring(encoding: BufferEncoding): string {
    const end = this.message.indexOf(0, this.at);
    if (end < 0) throw new ProtocolViolation('unterminated string');
    const text = this.message.toString(encoding, this.at, end);
    this.at = end + 1;
    return text;
  }
  int16(): number {
    const value = this.message.readInt16BE(this.at);
    this.at += 2;
    return value;
  }
  int32(): number {
    const value = this.message.readInt32BE(this.at);
    this.at += 4;
    return value;
  }
  /** A length-prefixed value: null for length -1 (SQL NULL). */
  value(): Buffer | null {
    const length = this.int32();
    if (length < 0) return null;
    const bytes = this.message.subarray(this.at, this.at + length);
    this.at += length;
    return bytes;
  }
}

export function readQuery(message: Buffer): string {
  return new Fields(message).cstring();
}

export interface ParseMessage {
  name: string;
  sql: string;
  paramTypes: number[];
}

export function readParse(message: Buffer): ParseMessage {
  const fields = new Fields(message);
  const name = fields.name();
  const sql = fields.cstring();
  const count = fields.int16();
  const paramTypes = Array.from({ length: count }, () => fields.int32());
  return { name, sql, paramTypes };
}

/** A parameter as the client sent it, with whether it is binary (format code 1). */
export interface ParameterValue {
  value: Buffer | null;
  binary: boolean;
}

export interface BindMessage {
  portal: string;
  statement: string;
  params: ParameterValue[];
}

export function readBind(message: Buffer): BindMessage {
  const fields = new Fields(message);
  const portal = fields.name();
  const statement = fields.name();
  const formats = Array.from({ length: fields.int16() }, () => fields.int16());
  const count = fields.int16();
  // No format codes: all text; one: it applies to every parameter.
  const formatOf = (i: number) => (formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : formats[i]);
  const params = Array.from({ length: count }, (_, i) => ({ value: fields.value(), binary: formatOf(i) === 1 }));
  return { portal, statement, params };
}

export function readExecute(message: Buffer): { portal: string } {
  return { portal: new Fields(message).name() };
}

/** Describe and Close: which kind (`S` statement, `P` portal) and its name. */
export function readTarget(message: Buffer): { kind: 'S' | 'P'; name: string } {
  const kind = String.fromCharCode(message[5]!) === 'S' ? 'S' : 'P';
  const end = message.indexOf(0, 6);
  return { kind, name: message.toString('latin1', 6, end < 0 ? message.length : end) };
}

/**
 * The message with the names it starts with (after `skip` bytes of its body) replaced:
 * the gateway gives every statement and portal a name of its own upstream.
 */
export function withNames(message: Buffer, skip: number, names: string[]): Buffer {
  let at = 5 + skip;
  for (const _ of names) {
    const end = message.indexOf(0, at);
    if (end < 0) throw new ProtocolViolation('unterminated string');
    at = end + 1;
  }
  const body = Buffer.concat([
    message.subarray(5, 5 + skip),
    ...names.map((name) => Buffer.from(`${name}\0`, 'latin1')),
    message.subarray(at),
  ]);
  const header = Buffer.alloc(5);
  header[0] = message[0]!;
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

export interface FunctionCallMessage {
  oid: number;
  args: ParameterValue[];
}

export function readFunctionCall(message: Buffer): FunctionCallMessage {
  const fields = new Fields(message);
  const oid = fields.int32();
  const formats = Array.from({ length: fields.int16() }, () => fields.int16());
  const count = fields.int16();
  const formatOf = (i: number) => (formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : formats[i]);
  const args = Array.from({ length: count }, (_, i) => ({ value: fields.value(), binary: formatOf(i) === 1 }));
  return { oid, args };
}

/** The 16-byte CancelRequest a client sends on a new connection. */
export const CANCEL_REQUEST_CODE = 80877102;
export const SSL_REQUEST_CODE = 80877103;
export const GSS_REQUEST_CODE = 80877104;
