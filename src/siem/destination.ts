import type { SiemEvent } from './siem-event.ts';

/** Where audit events are streamed: an OTLP endpoint or a syslog server. */
export interface SiemDestination {
  /** The cursor row's key: `otlp` or `syslog`. */
  readonly name: 'otlp' | 'syslog';
  /** Resolves once the receiver has accepted every event of the batch; rejects otherwise (the batch is sent again). */
  send(events: SiemEvent[]): Promise<void>;
  close(): Promise<void>;
}
