import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psql, startGatewayWorld, type GatewayWorld } from './support/gateway.ts';

const run = promisify(execFile);

/** A self-signed certificate for `name` and its key, made by openssl (a dependency of Debian's PostgreSQL). */
async function selfSigned(keyFile: string, certFile: string, name: string): Promise<void> {
  const subject = `/CN=${name}`;
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    subject,
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
}

describe('the database gateway with a certificate', () => {
  let world: GatewayWorld;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-gateway-tls-'));
    await selfSigned(join(dir, 'key.pem'), join(dir, 'cert.pem'), '127.0.0.1');
    const tls = { key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) };
    world = await startGatewayWorld({ tls, plaintext: 'never' });
  });
  afterAll(async () => {
    await world.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('tells holders to use TLS, takes sslmode=require, and records that the session was encrypted', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    expect(credentials.sslmode).toBe('require');
    const { stdout } = await psql(credentials, ['-c', 'select 7']);
    expect(stdout.trim()).toBe('7');
    const { rows } = await world.t.query<{ id: string }>('select id from gateway_sessions where grant_id = $1', [
      grantId,
    ]);
    await world.gateway.sessionEnded(rows[0]!.id);
    await world.t.audit.flush();
    const started = await world.t.query<{ body: { tls: boolean } }>(
      `select body from audit_log where action = 'gateway.session_started' and subject = $1`,
      [rows[0]!.id],
    );
    expect(started.rows[0]!.body.tls).toBe(true);
  });

  it('refuses plain TCP when the operator allows TLS only, saying how to connect', async () => {
    const { credentials } = await world.grant('billing-db');
    await expect(psql(credentials, ['-c', 'select 1'], { sslmode: 'disable' })).rejects.toThrow(
      'this gateway takes TLS connections only: connect with sslmode=require',
    );
  });

  it('survives a client that is not TLS after asking for it, or does not trust the certificate', async () => {
    const { credentials } = await world.grant('billing-db');
    const socket = connect(Number(credentials.port), credentials.host);
    const closed = once(socket, 'close');
    socket.write(serialize.requestSsl());
    const [answer] = (await once(socket, 'data')) as [Buffer];
    expect(answer.toString()).toBe('S');
    socket.write('not TLS at all\n');
    await closed;
    await selfSigned(join(dir, 'other-key.pem'), join(dir, 'other.pem'), 'someone-else');
    await expect(
      psql(credentials, ['-c', 'select 1'], { sslmode: `verify-full sslrootcert=${join(dir, 'other.pem')}` }),
    ).rejects.toThrow(/certificate verify failed/);
    // The gateway is still there for everyone else.
    expect((await psql(credentials, ['-c', 'select 8'])).stdout.trim()).toBe('8');
  });
});
