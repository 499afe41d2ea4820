import http from 'node:http';
import https from 'node:https';

/**
 * How long a request may wait for its response headers or go quiet when the caller gave
 * no signal of its own (Bolt's respond() gives none).
 */
const DEFAULT_TIMEOUT_MS = 30_000;

const agents = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
};

type FetchInit = NonNullable<Parameters<typeof fetch>[1]>;

/**
 * The `fetch` that Bolt and the Web API client are given (their `fetch` option): the same
 * contract for what they send (a POST with a string or URL-encoded body, headers, an
 * abort signal), made with node:http over keep-alive sockets. It costs about a third of
 * the CPU of Node's built-in fetch per call, which matters on the thread that acks Slack
 * (every command's respond() goes through it) and for the notifier's many calls.
 * Anything else (a Request object, a multipart or streamed body) goes to the built-in fetch.
 */
export const slackFetch: typeof fetch = (input, init) => {
  const url = typeof input === 'string' ? new URL(input) : input instanceof URL ? input : null;
  const body = url ? plainBody(init?.body) : undefined;
  if (!url || body === undefined || !(url.protocol in agents)) return fetch(input, init);
  return request(url, init ?? {}, body, false);
};

/** The body as bytes or text, null for none, undefined for a kind this fetch leaves to the built-in one. */
function plainBody(body: FetchInit['body']): string | Uint8Array | null | undefined {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (body instanceof URLSearchParams) return body.toString();
  return undefined;
}

function headerRecord(
  headers: FetchInit['headers'],
  body: string | Uint8Array | null,
  urlEncoded: boolean,
): Record<string, string> {
  const record: Record<string, string> = {};
  if (headers) new Headers(headers).forEach((value, name) => (record[name] = value));
  if (urlEncoded && !record['content-type']) record['content-type'] = 'application/x-www-form-urlencoded;charset=UTF-8';
  if (typeof body === 'string' && !record['content-type']) record['content-type'] = 'text/plain;charset=UTF-8';
  return record;
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** What a kept-alive socket that the server closed meanwhile fails with on reuse. */
const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE']);

function request(url: URL, init: FetchInit, body: string | Uint8Array | null, retried: boolean): Promise<Response> {
  const signal = init.signal ?? null;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const transport = url.protocol === 'https:' ? https : http;
    const req = transport.request(url, {
      method: init.method ?? 'GET',
      headers: headerRecord(init.headers, body, init.body instanceof URLSearchParams),
      agent: agents[url.protocol as keyof typeof agents],
      timeout: signal ? undefined : DEFAULT_TIMEOUT_MS,
    });
    const onAbort = () =>
      req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('The operation was aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => signal?.removeEventListener('abort', onAbort);
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.host} within ${DEFAULT_TIMEOUT_MS} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      done();
      // A reused keep-alive socket the server had just closed, so the request most likely never
      // reached it (Node's documented case for a retry): send it once more on a new socket.
      if (req.reusedSocket && !retried && !signal?.aborted && STALE_SOCKET_CODES.has(err.code ?? '')) {
        resolve(request(url, init, body, true));
        return;
      }
      // As fetch does: a network failure is a TypeError whose cause says what happened.
      reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err }));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err) => {
        done();
        reject(new TypeError('fetch failed', { cause: err }));
      });
      res.on('end', () => {
        done();
        const status = res.statusCode ?? 500;
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        resolve(
          new Response(NULL_BODY_STATUSES.has(status) ? null : Buffer.concat(chunks), {
            status,
            statusText: res.statusMessage ?? '',
            headers,
          }),
        );
      });
    });
    req.end(body ?? undefined);
  });
}
