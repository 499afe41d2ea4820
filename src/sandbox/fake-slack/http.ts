import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Args } from './protocol.ts';

/**
 * Fields @slack/web-api JSON-stringifies into form posts because they are not strings;
 * parsed back so tests read objects, as Slack does.
 */
const JSON_FIELDS = ['blocks', 'attachments', 'view', 'metadata'];

/** The request's bytes: text for the Web API, binary for file uploads. */
export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The arguments of a request the way Slack reads them: query string, then a form or JSON
 * body. Undefined when the body cannot be read, which Slack answers with `invalid_json`
 * or `invalid_form_data`.
 */
export function parseArgs(contentType: string | undefined, raw: string, query: URLSearchParams): Args | undefined {
  const args: Args = Object.fromEntries(query);
  const type = (contentType ?? '').split(';')[0]?.trim();
  if (raw === '') return args;
  if (type === 'application/json') {
    try {
      const body: unknown = JSON.parse(raw);
      return typeof body === 'object' && body !== null ? { ...args, ...body } : undefined;
    } catch {
      return undefined;
    }
  }
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  const form: Args = Object.fromEntries(new URLSearchParams(raw));
  for (const field of JSON_FIELDS) {
    const value = form[field];
    if (typeof value !== 'string') continue;
    try {
      form[field] = JSON.parse(value);
    } catch {
      // Left as the string it was: the method then rejects it as Slack would.
    }
  }
  return { ...args, ...form };
}

/** The token of `Authorization: Bearer <token>`, or null. */
export function bearerToken(request: IncomingMessage): string | null {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  return match?.[1] ?? null;
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  response.end(JSON.stringify(body));
}
