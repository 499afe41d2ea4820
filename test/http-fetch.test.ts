import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackFetch } from '../src/slack/http-fetch.ts';

interface Seen {
  method: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('the fetch Slack clients are given', () => {
  let server: http.Server;
  let base: string;
  const seen: Seen[] = [];
  const hanging: http.ServerResponse[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', headers: req.headers, body });
        if (req.url === '/hang') return void hanging.push(res);
        if (req.url === '/down') {
          res.writeHead(503, 'Service Unavailable', { 'retry-after': '7' });
          return void res.end('try later');
        }
        if (req.url === '/empty') return void res.writeHead(204).end();
        res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
        res.end(JSON.stringify({ ok: true, echoed: body }));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const res of hanging) res.destroy();
    server.close();
  });

  it('posts the body with its headers and answers with a Response to read', async () => {
    const response = await slackFetch(`${base}/api/chat.postMessage`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer xoxb-1' },
      body: '{"text":"hi"}',
    });
    expect(response.status).toBe(200);
    expect(response.ok).toBe(true);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ ok: true, echoed: '{"text":"hi"}' });
    expect(seen.at(-1)).toMatchObject({
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer xoxb-1' },
    });
  });

  it('sends URL-encoded forms as such', async () => {
    await slackFetch(`${base}/api/auth.test`, { method: 'POST', body: new URLSearchParams({ token: 'x', a: 'b c' }) });
    expect(seen.at(-1)).toMatchObject({
      headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' },
      body: 'token=x&a=b+c',
    });
  });

  it('passes other statuses through, with their headers and body, and an empty one as null', async () => {
    const down = await slackFetch(`${base}/down`, { method: 'POST', body: '' });
    expect([down.status, down.ok, down.statusText, down.headers.get('retry-after'), await down.text()]).toEqual([
      503,
      false,
      'Service Unavailable',
      '7',
      'try later',
    ]);
    const empty = await slackFetch(`${base}/empty`, { method: 'POST' });
    expect([empty.status, empty.body]).toEqual([204, null]);
  });

  it('gives up when the signal says so, and fails like fetch when nothing answers', async () => {
    await expect(
      slackFetch(`${base}/hang`, { method: 'POST', body: 'x', signal: AbortSignal.timeout(50) }),
    ).rejects.toMatchObject({ name: 'TimeoutError' });
    const closed = http.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await expect(slackFetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'x' })).rejects.toThrow(
      new TypeError('fetch failed'),
    );
  });

  it('leaves bodies it does not handle to the built-in fetch', async () => {
    const form = new FormData();
    form.set('file', new Blob(['abc']), 'a.txt');
    const response = await slackFetch(`${base}/upload`, { method: 'POST', body: form });
    expect(response.status).toBe(200);
    expect(seen.at(-1)?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
  });

  it('sends a request once more on a new socket when a reused keep-alive socket was closed under it', async () => {
    // The server closes each connection when its second request arrives, without answering:
    // what a kept-alive socket the server dropped looks like to the client on reuse.
    const sockets = new Map<unknown, number>();
    const answered: string[] = [];
    const flaky = http.createServer((req, res) => {
      const n = (sockets.get(req.socket) ?? 0) + 1;
      sockets.set(req.socket, n);
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        if (n === 2) return void req.socket.destroy();
        answered.push(body);
        res.end(body);
      });
    });
    flaky.listen(0, '127.0.0.1');
    await once(flaky, 'listening');
    const url = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/api/x`;
    try {
      expect(await (await slackFetch(url, { method: 'POST', body: 'first' })).text()).toBe('first');
      // Reuses the first socket, which the server drops: sent again on a new one, and answered.
      expect(await (await slackFetch(url, { method: 'POST', body: 'second' })).text()).toBe('second');
      expect(answered).toEqual(['first', 'second']);
      expect(sockets.size).toBe(2);
    } finally {
      flaky.closeAllConnections();
      flaky.close();
    }
  });
});
