/**
 * The load balancer in front of the replicas: round-robin, in this process. Like a real
 * one, it passes a request to the next replica only when the connection was refused (the
 * request never reached the app, so nothing can happen twice); a replica that dies with
 * the request in hand answers Slack 502, as a load balancer would.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Replica } from './replicas.ts';

export interface FrontCounts {
  /** Requests Slack sent through the front. */
  received: number;
  /** Passed on to another replica after a refused connection. */
  retried: number;
  /** Answered 502: no replica took it, or the one that had it failed. */
  badGateway: number;
}

export interface Front {
  url: string;
  counts: FrontCounts;
  stop(): Promise<void>;
}

export async function startFront(backends: () => readonly Replica[]): Promise<Front> {
  const counts: FrontCounts = { received: 0, retried: 0, badGateway: 0 };
  let next = 0;
  const agent = new http.Agent({ keepAlive: false });

  const forward = (replica: Replica, request: http.IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer } | { error: string }>((resolve) => {
      const out = http.request(
        {
          host: '127.0.0.1',
          port: replica.port,
          method: request.method,
          path: request.url,
          headers: { ...request.headers, host: `127.0.0.1:${replica.port}` },
          agent,
          timeout: 10_000,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 502, headers: response.headers, body: Buffer.concat(chunks) }),
          );
          response.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? 'response-error' }));
        },
      );
      out.on('timeout', () => out.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      out.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
      out.end(body);
    });

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        counts.received += 1;
        const body = Buffer.concat(chunks);
        const replicas = backends();
        for (let tries = 0; tries < replicas.length; tries++) {
          const replica = replicas[next % replicas.length]!;
          next += 1;
          const result = await forward(replica, request, body);
          if ('error' in result) {
            if (result.error === 'ECONNREFUSED') {
              counts.retried += 1;
              continue;
            }
            break;
          }
          const { 'transfer-encoding': _te, connection: _c, ...headers } = result.headers;
          response.writeHead(result.status, headers);
          response.end(result.body);
          return;
        }
        counts.badGateway += 1;
        response.writeHead(502, { 'content-type': 'text/plain' });
        response.end('bad gateway');
      })();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/slack/events`,
    counts,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
