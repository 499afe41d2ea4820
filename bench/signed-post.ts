import http from 'node:http';
import { signSlackRequest } from '../src/sandbox/fake-slack/driver.ts';

export interface SignedPostOptions {
  agent: http.Agent;
  timeoutMs: number;
}

/**
 * One form POST signed as Slack signs its requests (v0 HMAC over `v0:timestamp:body`);
 * resolves with the HTTP status, or the failure's code, and the time to the end of the
 * response. It never rejects: a failure is an outcome to count.
 */
export function sendSigned(
  url: URL,
  secret: string,
  body: string,
  { agent, timeoutMs }: SignedPostOptions,
): Promise<{ outcome: string; ms: number }> {
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = {
    'content-type': 'application/x-www-form-urlencoded',
    'content-length': Buffer.byteLength(body),
    'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': signSlackRequest(secret, timestamp, body),
  };
  const started = performance.now();
  return new Promise((resolve) => {
    const done = (outcome: string) => resolve({ outcome, ms: performance.now() - started });
    const request = http.request(url, { method: 'POST', headers, agent, timeout: timeoutMs }, (response) => {
      response.resume();
      response.on('end', () => done(String(response.statusCode)));
      response.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? 'response-error'));
    });
    request.on('timeout', () => request.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    request.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    request.end(body);
  });
}
