import type { HrTime } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { SiemEvent, SiemSeverity } from './siem-event.ts';
import type { SiemDestination } from './destination.ts';

export interface OtlpOptions {
  /** The OTLP/HTTP logs endpoint, e.g. https://collector:4318/v1/logs. */
  url: string;
  /** Sent with each request (an API key, an authorization header): secrets, never logged. */
  headers: Record<string, string>;
  /** The log's id (gatehouse_meta.log_id): a resource attribute, so records of two logs never mix. */
  logId: string;
  /** How long one batch may take, the exporter's own retries of 429 and 503 included. */
  timeoutMs?: number;
}

const SEVERITY: Record<SiemSeverity, { number: SeverityNumber; text: string }> = {
  info: { number: SeverityNumber.INFO, text: 'INFO' },
  notice: { number: SeverityNumber.INFO2, text: 'NOTICE' },
  warning: { number: SeverityNumber.WARN, text: 'WARN' },
  error: { number: SeverityNumber.ERROR, text: 'ERROR' },
  critical: { number: SeverityNumber.FATAL, text: 'CRITICAL' },
};

const SCOPE = { name: 'gatehouse.audit', version: '1' };

/** `2026-12-04T05:00:00.123456Z` (the chain's time, microseconds) as OpenTelemetry's [seconds, nanoseconds]. */
export function hrTimeOf(time: string): HrTime {
  const seconds = Math.floor(Date.parse(time.slice(0, 19) + 'Z') / 1000);
  const fraction = /\.(\d{1,9})Z$/.exec(time)?.[1] ?? '';
  return [seconds, Number(fraction.padEnd(9, '0'))];
}

/** One audit event as an OpenTelemetry log record: the canonical text as its body, the rest as attributes. */
export function otlpRecord(event: SiemEvent, resource: Resource, observed: HrTime): ReadableLogRecord {
  const severity = SEVERITY[event.severity];
  return {
    hrTime: hrTimeOf(event.time),
    hrTimeObserved: observed,
    severityNumber: severity.number,
    severityText: severity.text,
    body: event.canonical,
    eventName: event.action,
    resource,
    instrumentationScope: SCOPE,
    attributes: {
      'gatehouse.seq': event.seq,
      'gatehouse.hash': event.hash,
      'gatehouse.prev_hash': event.prevHash,
      'gatehouse.action': event.action,
      'gatehouse.actor': event.actor,
      ...(event.subject === null ? {} : { 'gatehouse.subject': event.subject }),
    },
    droppedAttributesCount: 0,
  };
}

/**
 * Audit events to an OTLP/HTTP logs endpoint (JSON), through OpenTelemetry's exporter,
 * called directly: each batch's outcome comes back to the streamer, which moves its cursor
 * only on success (a BatchLogRecordProcessor would drop a failed batch).
 */
export class OtlpDestination implements SiemDestination {
  readonly name = 'otlp';
  private readonly exporter: OTLPLogExporter;
  private readonly resource: Resource;

  constructor(options: OtlpOptions) {
    this.exporter = new OTLPLogExporter({
      url: options.url,
      headers: options.headers,
      timeoutMillis: options.timeoutMs ?? 10_000,
      concurrencyLimit: 1,
    });
    this.resource = resourceFromAttributes({ 'service.name': 'gatehouse', 'gatehouse.log_id': options.logId });
  }

  send(events: SiemEvent[]): Promise<void> {
    const now = Date.now();
    const observed: HrTime = [Math.floor(now / 1000), (now % 1000) * 1e6];
    const records = events.map((event) => otlpRecord(event, this.resource, observed));
    return new Promise((resolve, reject) => {
      this.exporter.export(records, (result) => {
        if (result.code === ExportResultCode.SUCCESS) resolve();
        else reject(result.error ?? new Error('the OTLP endpoint did not accept the batch'));
      });
    });
  }

  close(): Promise<void> {
    return this.exporter.shutdown();
  }
}
