import type { SiemEvent, SiemSeverity } from './siem-event.ts';

/**
 * RFC 5424 messages, written here rather than by a library: the npm formatters either
 * frame for UDP or newline-delimited TCP only, leave structured data out, or are
 * unmaintained (docs/siem.md says which), and the format is a few lines.
 */

/** Facility 13, "log audit". */
const FACILITY = 13;
const SEVERITY: Record<SiemSeverity, number> = { critical: 2, error: 3, warning: 4, notice: 5, info: 6 };
/**
 * The structured data's id: a private name under an enterprise number. 32473 is the number
 * RFC 5612 sets aside for documentation; a deployment that needs its own can rename it in
 * its SIEM's parser.
 */
export const SD_ID = 'gatehouse@32473';
const BOM = '\uFEFF';

export interface SyslogHeader {
  hostname: string;
  appName: string;
  logId: string;
}

/** A PARAM-VALUE: `"`, `\` and `]` escaped with a backslash (RFC 5424 §6.3.3). */
function paramValue(text: string): string {
  return text.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** One event as an RFC 5424 message: seq, hashes and fields as structured data, the canonical text as MSG (UTF-8, with BOM). */
export function syslogMessage(event: SiemEvent, header: SyslogHeader): string {
  const pri = FACILITY * 8 + SEVERITY[event.severity];
  const params: [string, string | null][] = [
    ['seq', String(event.seq)],
    ['hash', event.hash],
    ['prev_hash', event.prevHash],
    ['actor', event.actor],
    ['subject', event.subject],
    ['log_id', header.logId],
  ];
  const sd = params
    .filter((p): p is [string, string] => p[1] !== null)
    .map(([name, value]) => `${name}="${paramValue(value)}"`)
    .join(' ');
  // MSGID is at most 32 printable ASCII characters; actions are lower-case words and dots.
  const msgId = event.action.slice(0, 32);
  return `<${pri}>1 ${event.time} ${header.hostname} ${header.appName} - ${msgId} [${SD_ID} ${sd}] ${BOM}${event.canonical}`;
}

/** Octet-counting framing (RFC 5425 §4.3, RFC 6587 §3.4.1): the message's length in bytes, a space, the message. */
export function octetCounted(message: string): Buffer {
  const bytes = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${bytes.length} `, 'ascii'), bytes]);
}
