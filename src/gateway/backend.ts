import { BackendError } from 'pg-gateway';

/**
 * Messages the gateway itself sends a client (PostgreSQL protocol 3.0, "Message Formats").
 * Everything else the client receives is the database's own answer, forwarded unchanged.
 */

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

const cstring = (text: string) => Buffer.from(`${text}\0`, 'utf8');

export function parameterStatus(name: string, value: string): Buffer {
  return message('S', Buffer.concat([cstring(name), cstring(value)]));
}

export function backendKeyData(pid: number, secret: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeInt32BE(pid, 0);
  body.writeInt32BE(secret, 4);
  return message('K', body);
}

export function readyForQuery(status: string): Buffer {
  return message('Z', Buffer.from(status, 'latin1'));
}

/**
 * A FATAL error, after which the gateway closes the connection. `code` is a SQLSTATE:
 * 57P01 (admin_shutdown) for a session ended, 28000 for a login refused.
 */
export function fatal(code: string, text: string, hint?: string): Buffer {
  const error = BackendError.create({ severity: 'FATAL', code, message: text, ...(hint ? { hint } : {}) });
  return Buffer.from(error.flush());
}

/** A time as a person reads it in a FATAL error: to the minute, in UTC. */
export function utcMinute(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** What a login refused after the grant, and a session cut at its end, are told. */
export function accessEnded(resourceName: string, at: Date): string {
  return `your access to ${resourceName} ended at ${utcMinute(at)}`;
}
