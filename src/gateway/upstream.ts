import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import sasl from 'pg/lib/crypto/sasl.js';
import type { PostgresTarget } from '../provisioners/postgres.ts';

/** A session opened upstream as the grant's own login, ready for queries. */
export interface UpstreamSession {
  socket: Socket;
  /** What the database reported at start-up, relayed to the client as it is. */
  parameters: [string, string][];
  /** The database's cancel key for this session (a client's cancel request goes here). */
  pid: number;
  secret: number;
  /** `I` idle, as the first ReadyForQuery said. */
  status: string;
}

const CONNECT_TIMEOUT_MS = 10_000;

async function openSocket(target: PostgresTarget): Promise<Socket> {
  const plain = netConnect({ host: target.host, port: target.port });
  plain.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    plain.once('connect', resolve);
    plain.once('error', reject);
  });
  if (target.tls === 'none') return plain;
  plain.write(serialize.requestSsl());
  const answer = await new Promise<Buffer>((resolve, reject) => {
    plain.once('data', resolve);
    plain.once('error', reject);
  });
  if (answer.toString('latin1', 0, 1) !== 'S') {
    plain.destroy();
    throw new Error('the database does not accept TLS, and its connection string asks for it');
  }
  const secure = tlsConnect({
    socket: plain,
    servername: target.host,
    rejectUnauthorized: target.tls === 'verified',
  });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  return secure;
}

/**
 * Logs in to the database as `user` (PostgreSQL's startup and SCRAM-SHA-256 exchange, with
 * pg-protocol's parser and serializer and pg's SCRAM client) and returns the open socket,
 * detached, for the gateway to relay bytes on. `options` become the session's settings
 * (default_transaction_read_only for a read-only resource).
 */
export async function openUpstream(
  target: PostgresTarget,
  login: { user: string; password: string; applicationName: string },
  settings: Record<string, string>,
): Promise<UpstreamSession> {
  const socket = await openSocket(target);
  const parser = new Parser();
  const parameters: [string, string][] = [];
  let pid = 0;
  let secret = 0;
  let session: ReturnType<typeof sasl.startSession> | null = null;
  try {
    const status = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('the database did not answer the login in time')),
        CONNECT_TIMEOUT_MS,
      );
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      const onMessage = (msg: BackendMessage) => {
        const m = msg as BackendMessage & Record<string, unknown>;
        switch (msg.name) {
          case 'authenticationSASL':
            session = sasl.startSession(m.mechanisms as string[], undefined);
            socket.write(serialize.sendSASLInitialResponseMessage(session.mechanism, session.response));
            break;
          case 'authenticationSASLContinue':
            void sasl
              .continueSession(session!, login.password, m.data as string, undefined)
              .then(() => socket.write(serialize.sendSCRAMClientFinalMessage(session!.response)), fail);
            break;
          case 'authenticationSASLFinal':
            sasl.finalizeSession(session!, m.data as string);
            break;
          case 'authenticationCleartextPassword':
          case 'authenticationMD5Password':
            // The role's password never leaves Gatehouse in a form that could be replayed.
            fail(
              new Error(
                'the database asks for a password in the clear or md5; the gateway logs in with SCRAM-SHA-256 only',
              ),
            );
            break;
          case 'parameterStatus':
            parameters.push([m.parameterName as string, m.parameterValue as string]);
            break;
          case 'backendKeyData':
            pid = m.processID as number;
            secret = m.secretKey as number;
            break;
          case 'error':
            fail(new Error((m as unknown as Error).message));
            break;
          case 'readyForQuery':
            clearTimeout(timer);
            resolve(m.status as string);
            break;
          default:
            break;
        }
      };
      socket.on('data', (chunk: Buffer) => {
        try {
          parser.parse(chunk, onMessage);
        } catch (err) {
          fail(err as Error);
        }
      });
      socket.once('error', fail);
      socket.once('close', () => fail(new Error('the database closed the connection during login')));
      socket.write(
        serialize.startup({
          user: login.user,
          database: target.database,
          application_name: login.applicationName,
          ...settings,
        }),
      );
    });
    socket.removeAllListeners('data');
    socket.removeAllListeners('error');
    socket.removeAllListeners('close');
    // Until the session takes it: hold what the database sends, and never let an error go unheard.
    socket.pause();
    socket.on('error', () => undefined);
    return { socket, parameters, pid, secret, status };
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/** Sends the database a cancel request for one of its sessions, on a new connection, as libpq does. */
export async function cancelUpstream(target: PostgresTarget, pid: number, secret: number): Promise<void> {
  const socket = netConnect({ host: target.host, port: target.port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.end(serialize.cancel(pid, secret));
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
}
