import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One log record as the receiver decoded it from OTLP/HTTP JSON. */
export interface ReceivedRecord {
  seq: number;
  hash: string;
  prevHash: string;
  action: string;
  actor: string;
  subject: string | null;
  body: string;
  severityNumber: number;
  severityText: string;
  timeUnixNano: string;
  eventName: string | undefined;
  resource: Record<string, string>;
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type KeyValue = { key: string; value: AnyValue };
interface ExportLogsRequest {
  resourceLogs: {
    resource: { attributes: KeyValue[] };
    scopeLogs: {
      logRecords: {
        timeUnixNano: string;
        severityNumber: number;
        severityText: string;
        body: AnyValue;
        eventName?: string;
        attributes: KeyValue[];
      }[];
    }[];
  }[];
}

function plain(attributes: KeyValue[]): Record<string, string> {
  return Object.fromEntries(
    attributes.map(({ key, value }) => [key, String(value.stringValue ?? value.intValue ?? value.boolValue ?? '')]),
  );
}

/** The records of one OTLP/HTTP JSON logs request. */
export function decodeOtlpJson(text: string): ReceivedRecord[] {
  const request = JSON.parse(text) as ExportLogsRequest;
  return request.resourceLogs.flatMap(({ resource, scopeLogs }) =>
    scopeLogs.flatMap(({ logRecords }) =>
      logRecords.map((r) => {
        const a = plain(r.attributes);
        return {
          seq: Number(a['gatehouse.seq']),
          hash: a['gatehouse.hash']!,
          prevHash: a['gatehouse.prev_hash']!,
          action: a['gatehouse.action']!,
          actor: a['gatehouse.actor']!,
          subject: a['gatehouse.subject'] ?? null,
          body: r.body.stringValue!,
          severityNumber: r.severityNumber,
          severityText: r.severityText,
          timeUnixNano: String(r.timeUnixNano),
          eventName: r.eventName,
          resource: plain(resource.attributes),
        };
      }),
    ),
  );
}

/**
 * A local OTLP/HTTP logs endpoint (POST /v1/logs, JSON), as a collector answers: 200 and
 * `{}` for an accepted batch. It can be told to answer the next requests with other
 * statuses (500, 429 with Retry-After), or be stopped and started again on the same port
 * (connection refused in between). Every accepted record is kept, repeats included.
 */
export class OtlpReceiver {
  readonly records: ReceivedRecord[] = [];
  /** Headers of each request, accepted or not. */
  readonly headers: http.IncomingHttpHeaders[] = [];
  /** Statuses to answer the next requests with, in order, before accepting again. */
  readonly refusals: number[] = [];
  refused = 0;
  private server: http.Server | null = null;
  private listeners: (() => void)[] = [];
  port = 0;

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.headers.push(req.headers);
        const status = this.refusals.shift();
        if (status !== undefined) {
          this.refused += 1;
          res.writeHead(status, {
            'content-type': 'application/json',
            ...(status === 429 ? { 'retry-after': '0' } : {}),
          });
          res.end('{"code":14,"message":"try again"}');
          this.notify();
          return;
        }
        if (req.method !== 'POST' || req.url !== '/v1/logs' || req.headers['content-type'] !== 'application/json') {
          res.writeHead(400).end();
          return;
        }
        this.records.push(...decodeOtlpJson(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
        this.notify();
      });
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening: connections are refused until start() again (same port). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/v1/logs`;
  }

  /** Resolves once `done()` holds, checked at each request. */
  until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!done()) return;
        this.listeners = this.listeners.filter((l) => l !== check);
        resolve();
      };
      this.listeners.push(check);
    });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
