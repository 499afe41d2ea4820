import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, createPool, type Db } from '../src/db/database.ts';
import { createHealthServer } from '../src/http/health.ts';
import { createLogger } from '../src/log.ts';

describe('/readyz on the public port', () => {
  let logText = '';
  let db: Db;
  let server: ReturnType<typeof createHealthServer>;
  let deadPort: number;
  beforeAll(async () => {
    // A port nothing listens on: take one, then let it go.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    deadPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    db = createDb(createPool(`postgres://gatehouse:not-the-password@127.0.0.1:${deadPort}/gatehouse`, 1));
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logText += chunk.toString();
        done();
      },
    });
    server = createHealthServer(db, createLogger({ destination: stream }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await db.destroy();
  });

  it('says the database is unreachable and no more; the host, port and error go to the log', async () => {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`);
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ status: 'not ready', reason: 'database unreachable' });
    expect(text).not.toContain(String(deadPort));
    const line = JSON.parse(logText.trim().split('\n').at(-1)!) as {
      level: number;
      msg: string;
      err: { message: string; code: string };
    };
    expect(line).toMatchObject({
      level: 40,
      msg: 'readiness check: the database did not answer',
      err: { code: 'ECONNREFUSED', message: expect.stringContaining(String(deadPort)) },
    });
    expect(logText).not.toContain('not-the-password');
  });
});
